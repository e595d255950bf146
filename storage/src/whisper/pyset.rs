//! The iteration order of a CPython 3 `set` built from a list of small
//! non-negative integers.
//!
//! whisper's `update_many` propagates the coarse windows a batch touched by
//! iterating `set(list_of_window_starts)`. When the coarser archive was never
//! written, the first window that propagates becomes its base (slot 0), so
//! the byte layout of the file depends on that order. To produce files that
//! are byte-identical to the reference we replay CPython's open-addressing
//! table (`Objects/setobject.c`: linear probes of 9, perturbation shift 5,
//! resize at 3/5 fill to the smallest power of two above 4× the used count,
//! 2× above 50 000). For integers below 2^61 − 1 Python's hash is the value.
//! The order is checked against the real interpreter in the interop tests.

const MIN_SIZE: usize = 8;
const LINEAR_PROBES: usize = 9;
const PERTURB_SHIFT: u32 = 5;

/// Distinct values of `items` in the order `for x in set(items)` yields them.
pub fn set_iteration_order(items: &[u32]) -> Vec<u32> {
    let mut table: Vec<Option<u32>> = vec![None; MIN_SIZE];
    let mut used = 0usize;
    for &key in items {
        if insert(&mut table, key) {
            used += 1;
            let mask = table.len() - 1;
            // fill == used here: sets built this way never delete.
            if used * 5 >= mask * 3 {
                let min_used = if used > 50_000 { used * 2 } else { used * 4 };
                let mut new_size = MIN_SIZE;
                while new_size <= min_used {
                    new_size <<= 1;
                }
                let old = std::mem::replace(&mut table, vec![None; new_size]);
                for key in old.into_iter().flatten() {
                    insert_clean(&mut table, key);
                }
            }
        }
    }
    table.into_iter().flatten().collect()
}

/// `set_add_entry`: returns true if the key was new.
fn insert(table: &mut [Option<u32>], key: u32) -> bool {
    let mask = table.len() - 1;
    let hash = key as usize;
    let mut perturb = hash;
    let mut i = hash & mask;
    loop {
        let probes = if i + LINEAR_PROBES <= mask {
            LINEAR_PROBES
        } else {
            0
        };
        for entry in &mut table[i..=i + probes] {
            match *entry {
                None => {
                    *entry = Some(key);
                    return true;
                }
                Some(k) if k == key => return false,
                Some(_) => {}
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (i.wrapping_mul(5).wrapping_add(1).wrapping_add(perturb)) & mask;
    }
}

/// `set_insert_clean`: insertion into a fresh table during a resize. The
/// keys moved are distinct, so this probes exactly as [`insert`] does and
/// stops at the first free entry.
fn insert_clean(table: &mut [Option<u32>], key: u32) {
    let inserted = insert(table, key);
    debug_assert!(inserted, "keys moved by a resize are distinct");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sets_follow_hash_modulo_table_size() {
        // 8-slot table: positions are value & 7.
        assert_eq!(set_iteration_order(&[7, 1, 3]), vec![1, 3, 7]);
        // 1700000060 & 7 == 4, 1700000000 & 7 == 0
        assert_eq!(
            set_iteration_order(&[1_700_000_060, 1_700_000_000]),
            vec![1_700_000_000, 1_700_000_060]
        );
        assert_eq!(set_iteration_order(&[5, 5, 5]), vec![5]);
    }

    #[test]
    fn keeps_every_distinct_value() {
        let items: Vec<u32> = (0..5000).map(|i| 1_700_000_000 + (i * 60) % 7919).collect();
        let mut order = set_iteration_order(&items);
        order.sort_unstable();
        let mut expected = items.clone();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(order, expected);
    }
}
