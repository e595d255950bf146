//! Shared by the Whisper fuzz targets: the fetch or update a run performs
//! on the file under test, taken from the input's first bytes.

/// Bytes of the input that choose the [`Window`].
pub const WINDOW_BYTES: usize = 13;

/// A fetch or update window, as a render request or a writer would give.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// The "now" of the request (epoch seconds).
    pub now: i64,
    /// Start of the window (may lie before the file's retention).
    pub from: i64,
    /// End of the window, never before `from`.
    pub until: i64,
    /// Which archive to ask for by its step: 0 means none (whisper's own
    /// choice), k means the k-th archive's step when it exists.
    pub archive_pick: u8,
}

impl Window {
    /// Splits `data` into a window and the file's bytes. Short inputs get a
    /// window at a fixed time and are all file.
    pub fn split(data: &[u8]) -> (Window, &[u8]) {
        let Some((head, file)) = data.split_first_chunk::<WINDOW_BYTES>() else {
            let now = 1_700_000_000;
            let window = Window {
                now,
                from: now - 86_400,
                until: now,
                archive_pick: 0,
            };
            return (window, data);
        };
        let word = |i: usize| {
            i64::from(u32::from_be_bytes([
                head[i],
                head[i + 1],
                head[i + 2],
                head[i + 3],
            ]))
        };
        let now = word(0);
        let from = now - word(4);
        let window = Window {
            now,
            from,
            until: from + word(8),
            archive_pick: head[12],
        };
        (window, file)
    }

    /// The step to ask for among `steps` (the archives' seconds per point),
    /// or `None` for whisper's own choice. A pick past the last archive asks
    /// for the step `k` itself, which no archive has unless by chance: such
    /// a request must be refused cleanly.
    pub fn granularity(&self, mut steps: impl Iterator<Item = u32>) -> Option<u32> {
        match self.archive_pick {
            0 => None,
            k => Some(steps.nth(usize::from(k - 1)).unwrap_or(u32::from(k))),
        }
    }
}
