//! The aggregation maps: [`Key`] to value, in a hashbrown `HashTable`
//! under one hasher for the whole process.
//!
//! Why not std's `HashMap`: at one metric per datagram nearly every lookup
//! misses the cache (a key comes back only after megabytes of socket
//! buffers went through the cache), and std's map cannot say where a key's
//! slot is before looking it up. The table can ([`KeyMap::prefetch`]), so a
//! receive batch starts the loads of all its keys' slots first and applies
//! its samples after: the misses overlap instead of each stalling the next.
//! And one hash, computed once per sample ([`key_hash`]), chooses both the
//! shard and the slot.

use std::hash::BuildHasher;
use std::sync::OnceLock;

use hashbrown::HashTable;

use crate::key::Key;

/// The hash of `key` in every [`KeyMap`] and for the choice of its shard:
/// foldhash with a seed drawn once per process (SipHash was about a tenth
/// of the per-metric cost).
pub fn key_hash(key: &str) -> u64 {
    static HASHER: OnceLock<foldhash::fast::RandomState> = OnceLock::new();
    HASHER
        .get_or_init(foldhash::fast::RandomState::default)
        .hash_one(key)
}

/// A map from keys (short ones inline, see [`Key`]) to `V`.
pub struct KeyMap<V> {
    table: HashTable<(Key, V)>,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap {
            table: HashTable::new(),
        }
    }
}

impl<V: std::fmt::Debug> std::fmt::Debug for KeyMap<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

fn rehash<V>(entry: &(Key, V)) -> u64 {
    key_hash(entry.0.as_str())
}

impl<V> KeyMap<V> {
    /// Keys held.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// No key held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Room for `additional` more keys without growing.
    pub fn reserve(&mut self, additional: usize) {
        self.table.reserve(additional, rehash);
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.get_hashed(key_hash(key), key)
    }

    /// [`KeyMap::get`] with `key`'s [`key_hash`] already known.
    pub fn get_hashed(&self, hash: u64, key: &str) -> Option<&V> {
        self.table
            .find(hash, |(k, _)| k.eq_str(key))
            .map(|(_, v)| v)
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.get_mut_hashed(key_hash(key), key)
    }

    /// [`KeyMap::get_mut`] with `key`'s [`key_hash`] already known.
    pub fn get_mut_hashed(&mut self, hash: u64, key: &str) -> Option<&mut V> {
        self.table
            .find_mut(hash, |(k, _)| k.eq_str(key))
            .map(|(_, v)| v)
    }

    /// Holds `value` for `key`; returns the value it replaced.
    pub fn insert(&mut self, key: Key, value: V) -> Option<V> {
        self.insert_hashed(key_hash(key.as_str()), key, value)
    }

    /// [`KeyMap::insert`] with `key`'s [`key_hash`] already known.
    pub fn insert_hashed(&mut self, hash: u64, key: Key, value: V) -> Option<V> {
        if let Some((_, held)) = self.table.find_mut(hash, |(k, _)| *k == key) {
            return Some(std::mem::replace(held, value));
        }
        self.table.insert_unique(hash, (key, value), rehash);
        None
    }

    /// The value of `key`, inserted as `V::default()` if absent.
    pub fn get_or_insert_default(&mut self, key: &str) -> &mut V
    where
        V: Default,
    {
        let hash = key_hash(key);
        let entry = self
            .table
            .entry(hash, |(k, _)| k.eq_str(key), rehash)
            .or_insert_with(|| (Key::from(key), V::default()));
        &mut entry.into_mut().1
    }

    /// Takes `key` out; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<V> {
        match self.table.find_entry(key_hash(key), |(k, _)| k.eq_str(key)) {
            Ok(entry) => Some(entry.remove().0 .1),
            Err(_) => None,
        }
    }

    /// Keeps the keys for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&Key, &mut V) -> bool) {
        self.table.retain(|(k, v)| keep(k, v));
    }

    /// Keys and values, in no particular order.
    pub fn iter(&self) -> Iter<'_, V> {
        self.table.iter().map(entry_parts)
    }

    /// Keys and values to change, in no particular order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&Key, &mut V)> {
        self.table.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.table.iter().map(|(k, _)| k)
    }

    /// The values.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.table.iter().map(|(_, v)| v)
    }

    /// Starts loading the slot where a key of this [`key_hash`] most likely
    /// is (the first slot of its probe whose tag matches), without waiting
    /// for it and without changing anything. Reads only the table's control
    /// bytes, which stay in the cache.
    pub fn prefetch(&self, hash: u64) {
        if let Some(slot) = self.table.iter_hash(hash).next() {
            prefetch_line(slot as *const (Key, V) as *const u8);
        }
    }
}

/// [`KeyMap::iter`]'s iterator.
pub type Iter<'a, V> =
    std::iter::Map<hashbrown::hash_table::Iter<'a, (Key, V)>, fn(&(Key, V)) -> (&Key, &V)>;

fn entry_parts<V>(entry: &(Key, V)) -> (&Key, &V) {
    (&entry.0, &entry.1)
}

impl<'a, V> IntoIterator for &'a KeyMap<V> {
    type Item = (&'a Key, &'a V);
    type IntoIter = Iter<'a, V>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<V> std::ops::Index<&str> for KeyMap<V> {
    type Output = V;

    /// The value of `key`; panics if it is absent (tests only).
    fn index(&self, key: &str) -> &V {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no key {key:?}"),
        }
    }
}

/// A hint to the CPU to bring the cache line at `at` closer; no effect on
/// memory or on the program's result.
#[inline(always)]
fn prefetch_line(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults and writes nothing,
    // whatever the address; `at` is a live slot of the table anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map_keyed_by_str() {
        let mut m: KeyMap<u32> = KeyMap::default();
        let long = "app.service42.requests.k123456";
        assert_eq!(m.insert("short.key".into(), 1), None);
        assert_eq!(m.insert(long.into(), 2), None);
        assert_eq!(m.insert(long.into(), 3), Some(2));
        assert_eq!((m.get("short.key"), m.get(long)), (Some(&1), Some(&3)));
        assert_eq!(m.get("short.kez"), None);
        assert_eq!(m.get(&long[..15]), None);
        *m.get_or_insert_default("new") += 5;
        *m.get_or_insert_default("new") += 5;
        assert_eq!(m["new"], 10);
        let h = key_hash(long);
        assert_eq!(m.get_hashed(h, long), Some(&3));
        m.prefetch(h);
        m.prefetch(key_hash("absent"));
        assert_eq!(m.remove(long), Some(3));
        assert_eq!(m.remove(long), None);
        m.retain(|k, _| k.as_str() != "new");
        let mut keys: Vec<String> = m.keys().map(|k| k.to_string()).collect();
        keys.sort();
        assert_eq!(keys, ["short.key"]);
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn many_keys_survive_growth() {
        let mut m: KeyMap<usize> = KeyMap::default();
        for i in 0..20_000 {
            m.insert(format!("k.{i}").into(), i);
        }
        assert_eq!(m.len(), 20_000);
        assert!((0..20_000).all(|i| m.get(&format!("k.{i}")) == Some(&i)));
        for (k, v) in m.iter_mut() {
            assert_eq!(k.as_str(), format!("k.{v}"));
            *v += 1;
        }
        assert_eq!(m.values().sum::<usize>(), (1..=20_000).sum::<usize>());
    }
}
