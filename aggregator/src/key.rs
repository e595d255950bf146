//! [`Key`]: a metric key (or set member) as the aggregation maps hold it.
//!
//! At 1 metric per datagram the map lookup was about a tenth of the CPU:
//! with `Box<str>` keys every hit chased a pointer to compare the key bytes,
//! a cache miss with 10,000 keys. A `Key` of up to 15 bytes lives inside the
//! map's slot, so the comparison reads the slot it already loaded, and
//! cloning it at a flush (kept keys go back into the fresh maps) costs no
//! allocation. Longer keys are on the heap as before.
//!
//! Why not a crate: the well-kept small-string crates (`compact_str`,
//! `smartstring`, `smol_str`) are 24 bytes; a `Key` is 16, the size of the
//! `Box<str>` it replaces, so memory per key does not grow for long keys
//! (the 62 B per counter key bound) and shrinks for short ones.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Longest key held inline.
const INLINE_MAX: usize = 15;

/// The last byte of an inline key is its length with this bit set; the
/// same byte of a heap key is the top byte of its little-endian length,
/// which is 0 since no key is 2^56 bytes long.
const INLINE_TAG: u8 = 0x80;

#[derive(Clone, Copy)]
#[repr(C)]
struct Heap {
    /// From `Box::<str>::into_raw`, owned by the `Key`.
    ptr: *mut u8,
    /// The length, little-endian so its top byte is always byte 15.
    len_le: u64,
}

#[repr(C)]
union Repr {
    heap: Heap,
    inline: [u8; 16],
}

/// A string key, inline up to 15 bytes, else a heap copy (16 bytes either
/// way). Hashes, compares and borrows as the `str` it holds, so maps of
/// `Key` are looked up by `&str` without allocating.
pub struct Key(Repr);

const _: () = assert!(std::mem::size_of::<Key>() == 16);
// The heap form's length must fill bytes 8..16, so that byte 15 is always
// initialized (a 32-bit target would place it at offset 4).
const _: () = assert!(std::mem::offset_of!(Heap, len_le) == 8);
const _: () = assert!(std::mem::size_of::<Heap>() == 16);

// SAFETY: a `Key` owns its heap bytes exclusively (like `Box<str>`) and
// never mutates them through `&self`.
unsafe impl Send for Key {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for Key {}

impl Key {
    fn is_inline(&self) -> bool {
        // SAFETY: byte 15 is initialized in both forms: the inline length
        // byte, or the top byte of the heap form's `len_le` (offset 8..16
        // on every pointer width, see `Heap`'s repr(C) layout).
        unsafe { self.0.inline[15] & INLINE_TAG != 0 }
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        let bytes = if self.is_inline() {
            // SAFETY: inline form: all 16 bytes were written by `From`.
            let inline = unsafe { &self.0.inline };
            &inline[..usize::from(inline[15] & !INLINE_TAG)]
        } else {
            // SAFETY: heap form: `ptr` and `len` came from a live
            // `Box<str>` this `Key` owns until `drop`.
            unsafe {
                let heap = self.0.heap;
                std::slice::from_raw_parts(heap.ptr, u64::from_le(heap.len_le) as usize)
            }
        };
        // SAFETY: the bytes were copied from a `str` and never changed.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }
}

impl Key {
    /// `self.as_str() == text`, without a `memcmp` call for an inline key:
    /// the lengths, then the text as two overlapping words. A lookup
    /// compares the key of every candidate slot this way.
    #[inline]
    pub fn eq_str(&self, text: &str) -> bool {
        let b = text.as_bytes();
        let n = b.len();
        if n > INLINE_MAX {
            return !self.is_inline() && self.as_str() == text;
        }
        if !self.is_inline() {
            return false;
        }
        // SAFETY: inline form: all 16 bytes were written by `From`.
        let inline = unsafe { &self.0.inline };
        if usize::from(inline[15] & !INLINE_TAG) != n {
            return false;
        }
        if n >= 8 {
            word::<8>(b, 0) == word::<8>(inline, 0)
                && word::<8>(b, n - 8) == word::<8>(inline, n - 8)
        } else if n >= 4 {
            word::<4>(b, 0) == word::<4>(inline, 0)
                && word::<4>(b, n - 4) == word::<4>(inline, n - 4)
        } else {
            b == &inline[..n]
        }
    }
}

/// The `N` bytes of `b` at `at`, as one value to compare.
#[inline(always)]
fn word<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut w = [0u8; N];
    w.copy_from_slice(&b[at..at + N]);
    w
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        if s.len() <= INLINE_MAX {
            let mut inline = [0u8; 16];
            inline[..s.len()].copy_from_slice(s.as_bytes());
            inline[15] = s.len() as u8 | INLINE_TAG;
            Key(Repr { inline })
        } else {
            Key::from(Box::<str>::from(s))
        }
    }
}

impl From<Box<str>> for Key {
    fn from(s: Box<str>) -> Self {
        if s.len() <= INLINE_MAX {
            return Key::from(&*s);
        }
        let len_le = (s.len() as u64).to_le();
        let ptr = Box::into_raw(s) as *mut u8;
        Key(Repr {
            heap: Heap { ptr, len_le },
        })
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Key::from(s.into_boxed_str())
    }
}

impl Drop for Key {
    fn drop(&mut self) {
        if !self.is_inline() {
            // SAFETY: heap form: rebuilds the `Box<str>` taken apart in
            // `From<Box<str>>`, exactly once (this is the owner's drop).
            unsafe {
                let heap = self.0.heap;
                let len = u64::from_le(heap.len_le) as usize;
                let raw = std::ptr::slice_from_raw_parts_mut(heap.ptr, len) as *mut str;
                drop(Box::from_raw(raw));
            }
        }
    }
}

impl Clone for Key {
    fn clone(&self) -> Self {
        if self.is_inline() {
            // SAFETY: inline form: plain bytes, all initialized.
            Key(Repr {
                inline: unsafe { self.0.inline },
            })
        } else {
            Key::from(Box::<str>::from(self.as_str()))
        }
    }
}

impl Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Hash for Key {
    /// As the `str` hashes: required by `Borrow<str>` lookups.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_length_round_trips_and_clones() {
        let text = "é.abcdefghijklmnopqrstuvwxyz0123456789";
        for end in (0..=text.len()).filter(|e| text.is_char_boundary(*e)) {
            let s = &text[..end];
            let k = Key::from(s);
            assert_eq!(k.as_str(), s);
            assert_eq!(k.is_inline(), s.len() <= INLINE_MAX, "{s}");
            let c = k.clone();
            drop(k);
            assert_eq!(c.as_str(), s);
            assert_eq!(Key::from(s.to_string()), c);
        }
    }

    #[test]
    fn eq_str_is_str_equality() {
        let text = "é.abcdefghijklmnopqrstuvwxyz0123456789";
        let ends: Vec<usize> = (0..=text.len())
            .filter(|e| text.is_char_boundary(*e))
            .collect();
        for &a in &ends {
            let key = Key::from(&text[..a]);
            for &b in &ends {
                assert_eq!(key.eq_str(&text[..b]), a == b, "{a} {b}");
            }
            // Same length, one byte changed at each end in turn.
            for at in [0, a.saturating_sub(1)] {
                let mut other = text.as_bytes()[..a].to_vec();
                if let Some(c) = other.get_mut(at) {
                    *c = if *c == b'x' { b'y' } else { b'x' };
                    if let Ok(other) = std::str::from_utf8(&other) {
                        assert!(!key.eq_str(other), "{a} {at}");
                    }
                }
            }
        }
    }

    #[test]
    fn maps_are_looked_up_by_str() {
        let mut m: HashMap<Key, u32> = HashMap::new();
        let long = "app.service42.requests.k123456";
        m.insert("short.key".into(), 1);
        m.insert(long.into(), 2);
        assert_eq!(m.get("short.key"), Some(&1));
        assert_eq!(m.get(long), Some(&2));
        assert_eq!(m.get("short.kez"), None);
        assert_eq!(m.get(&long[..15]), None);
    }
}
