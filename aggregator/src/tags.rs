//! Optional tag canonicalisation of StatsD keys (`canonicalize_tags`).
//!
//! The reference appends DogStatsD tags in the order sent, so `x;b=2;a=1`
//! and `x;a=1;b=2` are two keys. Graphite (carbon, and our storage) sorts
//! tags, so both keys become one series and their two points, flushed with
//! the same timestamp, overwrite each other. With the option on, a key's
//! tags are put in Graphite's canonical form before aggregation, so both
//! lines aggregate into one key:
//!
//! * tags sorted as carbon's `TaggedSeries.format` sorts them (as the
//!   strings `;tag=value`, so `a.b=2` sorts before `a=1`);
//! * a repeated tag name keeps its last value (carbon's `parse` fills a
//!   dict); a tag called `name` is dropped (carbon replaces it with the
//!   metric name);
//! * a bare DogStatsD tag (`#bare`, no `:`), which the reference turns into
//!   the invalid Graphite tag `;bare`, becomes `;unnamed=bare` (gostatsd's
//!   Graphite backend does the same); several bare tags on one line are
//!   several `unnamed` tags, so the last wins, as above;
//! * empty tags (`|#a:1,,b:2`, a trailing `;`) are dropped.
//!
//! A tag list that Graphite still refuses after that (an empty value
//! `k:`, a name with `!` or `^`, a value starting with `~`) is left exactly
//! as the reference builds it: storage keeps such names as they are, so
//! differently ordered forms stay separate series and nothing collides.
//!
//! The rules are storage's own ([`storage::api::TaggedSeries`]), so the
//! key aggregated here is the series the flushed points land in.

use storage::api::TaggedSeries;

/// The tag name a bare DogStatsD tag gets in canonical mode.
pub const BARE_TAG_NAME: &str = "unnamed";

/// `key` (`name;tag=value;...`) with its tags in canonical form, or `None`
/// when the key is already canonical, has no tags, or has tags Graphite
/// refuses (see the module notes).
pub fn canonical_key(key: &str) -> Option<String> {
    let (metric, tags) = key.split_once(';')?;
    if is_canonical(tags) {
        return None;
    }
    // Only the tags are canonicalised: the metric name gets its prefixes at
    // flush, so carbon's parser is handed the tags behind a one-character
    // metric name ("_"), stripped again below.
    let mut repaired = String::with_capacity(tags.len() + 16);
    repaired.push('_');
    for segment in tags.split(';').filter(|s| !s.is_empty()) {
        repaired.push(';');
        if !segment.contains('=') {
            repaired.push_str(BARE_TAG_NAME);
            repaired.push('=');
        }
        repaired.push_str(segment);
    }
    let canonical = TaggedSeries::parse_carbon(&repaired).ok()?.canonical();
    let sorted = canonical.strip_prefix('_')?;
    let mut out = String::with_capacity(metric.len() + sorted.len());
    out.push_str(metric);
    out.push_str(sorted);
    (out != key).then_some(out)
}

/// True when `tags` (the text after the key's first `;`) is already in
/// canonical order with nothing to repair: every segment `tag=value` with
/// a non-empty tag other than `name`, segments strictly ascending, no tag
/// name twice. (Tags sharing a name are adjacent once sorted, because they
/// share the prefix `tag=`.) Such a list is its own canonical form when
/// Graphite accepts it, and left alone when it does not, so this fast path
/// needs no validation.
fn is_canonical(tags: &str) -> bool {
    let mut previous: Option<(&str, &str)> = None;
    for segment in tags.split(';') {
        let Some((name, _)) = segment.split_once('=') else {
            return false;
        };
        if name.is_empty() || name == "name" {
            return false;
        }
        if let Some((prev_segment, prev_name)) = previous {
            if segment <= prev_segment || name == prev_name {
                return false;
            }
        }
        previous = Some((segment, name));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canon(key: &str) -> String {
        canonical_key(key).unwrap_or_else(|| key.to_string())
    }

    #[test]
    fn sorts_tags() {
        assert_eq!(canon("x;b=2;a=1"), "x;a=1;b=2");
        assert_eq!(canonical_key("x;a=1;b=2"), None);
        assert_eq!(canonical_key("plain.name"), None);
    }

    #[test]
    fn sorts_as_carbon_sorts_tag_strings() {
        // ';a.b=2' < ';a=1' because '.' < '='
        assert_eq!(canon("m;a=1;a.b=2"), "m;a.b=2;a=1");
        assert_eq!(canonical_key("m;a.b=2;a=1"), None);
    }

    #[test]
    fn repeated_tag_keeps_the_last_value() {
        assert_eq!(canon("x;k=v;k=w"), "x;k=w");
        assert_eq!(canon("x;k=w;a=1;k=v"), "x;a=1;k=v");
    }

    #[test]
    fn name_tag_is_dropped_as_carbon_does() {
        assert_eq!(canon("x;name=other;a=1"), "x;a=1");
    }

    #[test]
    fn bare_tags_are_named() {
        assert_eq!(canon("x;bare"), "x;unnamed=bare");
        assert_eq!(canon("x;z=1;bare"), "x;unnamed=bare;z=1");
        // several bare tags: the last wins, as for any repeated tag
        assert_eq!(canon("x;one;two"), "x;unnamed=two");
    }

    #[test]
    fn empty_tags_are_dropped() {
        assert_eq!(canon("x;b=1;;a=2"), "x;a=2;b=1");
        assert_eq!(canon("x;"), "x");
        assert_eq!(canon("x;a=1;"), "x;a=1");
    }

    #[test]
    fn tags_graphite_refuses_are_left_alone() {
        for key in ["x;b=;a=1", "x;b!c=1;a=1", "x;b=~v;a=1", "x;=1;a=2"] {
            assert_eq!(canonical_key(key), None, "{key}");
        }
    }

    #[test]
    fn empty_metric_name_keeps_its_tags_sorted() {
        assert_eq!(canon(";b=1;a=2"), ";a=2;b=1");
    }

    fn tag() -> impl Strategy<Value = String> {
        prop_oneof![
            ("[a-c.]{1,3}", "[0-9a-b]{1,2}").prop_map(|(t, v)| format!("{t}={v}")),
            "[a-c]{1,3}".prop_map(|t| t.to_string()),
            Just(String::new()),
            Just("name=n".to_string()),
        ]
    }

    proptest! {
        #[test]
        fn order_never_matters_and_the_result_is_a_fixpoint(
            tags in proptest::collection::vec(tag(), 0..6),
            seed in any::<u64>(),
        ) {
            // Tags with distinct names: any order gives the same key.
            let mut seen = std::collections::HashSet::new();
            let distinct: Vec<&String> = tags
                .iter()
                .filter(|t| {
                    let name = t.split_once('=').map(|(n, _)| n).unwrap_or(BARE_TAG_NAME);
                    t.is_empty() || seen.insert(name.to_string())
                })
                .collect();
            let mut shuffled = distinct.clone();
            let n = shuffled.len();
            for i in 0..n {
                let j = (seed.rotate_left(i as u32) as usize) % n;
                shuffled.swap(i, j);
            }
            let key = |ts: &[&String]| {
                let mut k = "m".to_string();
                for t in ts {
                    k.push(';');
                    k.push_str(t);
                }
                k
            };
            let a = canon(&key(&distinct));
            let b = canon(&key(&shuffled));
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(canonical_key(&a), None);
            // Storage, given the flushed name, keeps our key as it is.
            let flushed = format!("stats.{a}");
            prop_assert_eq!(storage::api::canonicalize(&flushed), flushed);
        }

        #[test]
        fn agrees_with_storage_on_valid_tags(
            tags in proptest::collection::vec(("[a-c.]{1,3}", "[0-9a-b]{1,2}"), 1..6),
        ) {
            let mut key = "m".to_string();
            for (t, v) in &tags {
                key.push_str(&format!(";{t}={v}"));
            }
            let ours = format!("stats.{}", canon(&key));
            prop_assert_eq!(storage::api::canonicalize(&format!("stats.{key}")), ours);
        }

        #[test]
        fn arbitrary_keys_never_panic(key in "[a-z;=~!.]{0,24}") {
            if let Some(c) = canonical_key(&key) {
                prop_assert_eq!(canonical_key(&c), None);
            }
        }
    }
}
