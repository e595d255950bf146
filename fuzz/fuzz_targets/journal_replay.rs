//! Journal replay (`storage::journal::decode_segment`) over segments built
//! from arbitrary bytes. A random segment rarely gets past a record's
//! CRC-32, so most inputs are framed here: the input is a run of
//! `[length byte][payload]` pieces, each framed as a record with its true
//! length and checksum, so the payload decoder sees arbitrary payloads;
//! the first byte picks raw bytes instead, a cut of the framed segment (a
//! torn tail) or a flipped byte (damage).
//!
//! Checks: no panic; a damaged offset lies inside the segment and only
//! whole records before it are replayed; the points read re-encode to a
//! segment that reads back to the same points, undamaged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use storage::journal::{decode_segment, encode};

fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let segment = if mode & 3 == 0 {
        rest.to_vec()
    } else {
        let mut segment = Vec::new();
        let mut input = rest;
        while let Some((&len, tail)) = input.split_first() {
            let take = usize::from(len).min(tail.len());
            frame(&tail[..take], &mut segment);
            input = &tail[take..];
        }
        match mode & 3 {
            // a torn tail: cut at a point chosen by the mode's high bits
            2 if !segment.is_empty() => {
                let cut = usize::from(mode >> 2) * segment.len() / 64;
                segment.truncate(cut);
            }
            // damage: flip one byte
            3 if !segment.is_empty() => {
                let last = segment.len() - 1;
                let at = (usize::from(mode >> 2) * segment.len() / 64).min(last);
                segment[at] ^= 0x5a;
            }
            _ => {}
        }
        segment
    };
    let read = decode_segment(&segment);
    if let Some(at) = read.damaged_at {
        assert!((at as usize) < segment.len().max(1), "damage at {at} past {}", segment.len());
    }
    let mut again = Vec::new();
    if !read.points.is_empty() {
        encode(&read.points, &mut again);
    }
    let reread = decode_segment(&again);
    assert!(reread.damaged_at.is_none(), "our own record is damaged");
    assert_eq!(reread.points.len(), read.points.len());
    for (a, b) in reread.points.iter().zip(&read.points) {
        assert_eq!(
            (&a.name, a.timestamp, a.value.to_bits()),
            (&b.name, b.timestamp, b.value.to_bits())
        );
    }
});
