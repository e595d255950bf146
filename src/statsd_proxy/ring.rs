//! The consistent-hash ring, point for point the one Etsy's proxy.js builds
//! with hashring 3.2.0 (`new HashRing(nodes, 'md5', {replicas: 0})`, every
//! node weight 100): libketama points, so the same node list sends each key
//! to the same node under either proxy.
//!
//! Each member `host:port` gets `floor((100 / (100·n)) · 40 · n)` points (40,
//! except where the float product falls just short, e.g. 39 for n = 7), the
//! point `i` being the first four bytes of `md5("host:port-i")` read
//! little-endian. A key goes to the first point at or after the
//! little-endian u32 of `md5(key)`, wrapping to the first point. Removing a
//! member removes only its points: only its keys move.

use md5::{Digest, Md5};

/// Points per member before the weight share (hashring's `vnode count`).
const VNODES: f64 = 40.0;
/// Every member's weight in proxy.js.
const WEIGHT: f64 = 100.0;

/// A ring over some of the configured nodes (by index).
#[derive(Clone, Debug, Default)]
pub struct Ring {
    /// (point, node index), sorted by point then member order.
    points: Vec<(u32, u16)>,
    members: Vec<u16>,
}

/// The ring's hash of a key or point name.
pub fn hash32(bytes: &[u8]) -> u32 {
    let d = Md5::digest(bytes);
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

impl Ring {
    /// Builds the ring of `members`: (node index, `host:port`), in
    /// configured order (which breaks ties between equal points, as
    /// JavaScript's stable sort does with the configured order).
    pub fn new(members: &[(u16, &str)]) -> Ring {
        let n = members.len() as f64;
        if members.is_empty() {
            return Ring::default();
        }
        // The same float expression, in the same order, as hashring's
        // `percentage * vnodes * servers.length`.
        let per_member = ((WEIGHT / (WEIGHT * n)) * VNODES * n).floor() as usize;
        let mut points = Vec::with_capacity(per_member * members.len());
        for (index, id) in members {
            for i in 0..per_member {
                points.push((hash32(format!("{id}-{i}").as_bytes()), *index));
            }
        }
        // Stable: equal points keep member order.
        points.sort_by_key(|p| p.0);
        Ring {
            points,
            members: members.iter().map(|m| m.0).collect(),
        }
    }

    /// The node index for `key`, None when the ring is empty.
    pub fn get(&self, key: &[u8]) -> Option<u16> {
        self.node_for_hash(hash32(key))
    }

    fn node_for_hash(&self, h: u32) -> Option<u16> {
        let at = self.points.partition_point(|p| p.0 < h);
        self.points
            .get(at)
            .or_else(|| self.points.first())
            .map(|p| p.1)
    }

    /// The node indexes on the ring, in configured order.
    pub fn members(&self) -> &[u16] {
        &self.members
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `127.0.0.1:8127`, `:8129`, ... as in Etsy's exampleProxyConfig.js.
    fn ids(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| format!("127.0.0.1:{}", 8127 + 2 * i))
            .collect()
    }

    fn ring_of(ids: &[String], skip: Option<usize>) -> Ring {
        let members: Vec<(u16, &str)> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != skip)
            .map(|(i, s)| (i as u16, s.as_str()))
            .collect();
        Ring::new(&members)
    }

    const KEYS: [&str; 16] = [
        "foo",
        "bar",
        "a.b.c",
        "stats.api.requests",
        "x;a=1;b=2",
        "caf\u{e9}.hits",
        "k0",
        "k1",
        "k2",
        "k3",
        "k4",
        "k5",
        "k6",
        "k7",
        "k8",
        "k9",
    ];

    fn ports(ring: &Ring, ids: &[String]) -> Vec<u16> {
        KEYS.iter()
            .map(|k| {
                let node = ring.get(k.as_bytes()).expect("a node") as usize;
                ids[node].rsplit(':').next().unwrap().parse().unwrap()
            })
            .collect()
    }

    /// Expected values printed by hashring 3.2.0 under node 20, built as
    /// proxy.js builds it (md5, weight 100, replicas 0).
    #[test]
    fn places_keys_as_etsy_proxy_js() {
        let two = ids(2);
        assert_eq!(ring_of(&two, None).points.len(), 80);
        assert_eq!(
            ports(&ring_of(&two, None), &two),
            [
                8127, 8129, 8129, 8127, 8129, 8129, 8127, 8127, 8129, 8129, 8129, 8129, 8129, 8129,
                8127, 8127
            ]
        );
        let three = ids(3);
        assert_eq!(
            ports(&ring_of(&three, None), &three),
            [
                8127, 8129, 8131, 8127, 8131, 8129, 8131, 8127, 8129, 8129, 8129, 8129, 8131, 8129,
                8127, 8127
            ]
        );
        // proxy.js after ring.remove('127.0.0.1:8129').
        assert_eq!(
            ports(&ring_of(&three, Some(1)), &three),
            [
                8127, 8131, 8131, 8127, 8131, 8127, 8131, 8127, 8131, 8131, 8131, 8127, 8131, 8131,
                8127, 8127
            ]
        );
        // Seven members get 39 points each, as in hashring.
        let seven = ids(7);
        assert_eq!(ring_of(&seven, None).points.len(), 273);
        assert_eq!(
            ports(&ring_of(&seven, None), &seven),
            [
                8139, 8139, 8139, 8127, 8131, 8129, 8131, 8127, 8135, 8133, 8139, 8133, 8131, 8133,
                8127, 8137
            ]
        );
    }

    #[test]
    fn mapping_is_stable_across_builds() {
        let four = ids(4);
        let a = ring_of(&four, None);
        let b = ring_of(&four, None);
        for i in 0..1000 {
            let k = format!("stable.key.{i}");
            assert_eq!(a.get(k.as_bytes()), b.get(k.as_bytes()));
        }
    }

    #[test]
    fn removing_a_node_moves_only_its_keys() {
        let four = ids(4);
        let full = ring_of(&four, None);
        let without = ring_of(&four, Some(2));
        let mut moved = 0;
        for i in 0..10_000 {
            let k = format!("metric.{i}.count");
            let before = full.get(k.as_bytes()).unwrap();
            let after = without.get(k.as_bytes()).unwrap();
            assert_ne!(after, 2, "no key may go to the removed node");
            if before != 2 {
                assert_eq!(before, after, "{k} moved although its node stayed");
            } else {
                moved += 1;
            }
        }
        // Only the removed node's share moved: about a quarter.
        assert!((1500..3500).contains(&moved), "moved {moved}");
        // And it comes back to the same places when re-added.
        let again = ring_of(&four, None);
        for i in 0..1000 {
            let k = format!("metric.{i}.count");
            assert_eq!(full.get(k.as_bytes()), again.get(k.as_bytes()));
        }
    }

    #[test]
    fn distribution_is_roughly_even_over_10k_keys() {
        for n in [2usize, 3, 5] {
            let ids = ids(n);
            let ring = ring_of(&ids, None);
            let mut counts = vec![0usize; n];
            for i in 0..10_000 {
                let k = format!("app{}.host{}.requests", i % 97, i);
                counts[ring.get(k.as_bytes()).unwrap() as usize] += 1;
            }
            let fair = 10_000 / n;
            for (node, c) in counts.iter().enumerate() {
                // 40 points per node: shares within ±50% of fair.
                assert!(
                    *c > fair / 2 && *c < fair * 3 / 2,
                    "n={n}: node {node} got {c} of 10000 ({counts:?})"
                );
            }
        }
    }

    #[test]
    fn empty_ring_routes_nowhere() {
        assert_eq!(Ring::new(&[]).get(b"x"), None);
        let one = ids(1);
        assert_eq!(ring_of(&one, None).get(b"anything"), Some(0));
    }
}
