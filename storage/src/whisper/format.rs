//! The Whisper 1.x byte layout: constants named as in
//! `storage/docs/format/whisper.md`, a bounds-checked big-endian cursor with a
//! sticky error, and the header codec.
//!
//! Nothing here does I/O: everything works on byte slices, so the same code
//! decodes an mmap'd file, a file read into memory, or a test buffer.

use std::fmt;

/// Size of the metadata block at offset 0.
pub const METADATA_SIZE: usize = 16;
/// Size of one archive-info entry.
pub const ARCHIVE_INFO_SIZE: usize = 12;
/// Size of one point (slot): u32 timestamp + f64 value.
pub const POINT_SIZE: usize = 12;

/// `average` aggregation code.
pub const AGGREGATION_AVERAGE: u32 = 1;
/// `sum` aggregation code.
pub const AGGREGATION_SUM: u32 = 2;
/// `last` aggregation code.
pub const AGGREGATION_LAST: u32 = 3;
/// `max` aggregation code.
pub const AGGREGATION_MAX: u32 = 4;
/// `min` aggregation code.
pub const AGGREGATION_MIN: u32 = 5;
/// `avg_zero` aggregation code.
pub const AGGREGATION_AVG_ZERO: u32 = 6;
/// `absmax` aggregation code.
pub const AGGREGATION_ABSMAX: u32 = 7;
/// `absmin` aggregation code.
pub const AGGREGATION_ABSMIN: u32 = 8;

/// Whisper's default xFilesFactor for new files.
pub const DEFAULT_X_FILES_FACTOR: f64 = 0.5;

/// Bytes before the first archive for `archive_count` archives.
pub const fn header_size(archive_count: usize) -> usize {
    METADATA_SIZE + ARCHIVE_INFO_SIZE * archive_count
}

/// How finer archives are rolled into coarser ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregationMethod {
    /// Mean of the known values.
    Average,
    /// Sum of the known values.
    Sum,
    /// Last known value in time order.
    Last,
    /// Largest known value.
    Max,
    /// Smallest known value.
    Min,
    /// Mean over the whole window, missing slots counted as zero.
    AvgZero,
    /// Value with the largest magnitude, sign kept.
    AbsMax,
    /// Value with the smallest magnitude, sign kept.
    AbsMin,
}

impl AggregationMethod {
    /// Every method, in code order.
    pub const ALL: [AggregationMethod; 8] = [
        AggregationMethod::Average,
        AggregationMethod::Sum,
        AggregationMethod::Last,
        AggregationMethod::Max,
        AggregationMethod::Min,
        AggregationMethod::AvgZero,
        AggregationMethod::AbsMax,
        AggregationMethod::AbsMin,
    ];

    /// The on-disk code.
    pub fn code(self) -> u32 {
        match self {
            AggregationMethod::Average => AGGREGATION_AVERAGE,
            AggregationMethod::Sum => AGGREGATION_SUM,
            AggregationMethod::Last => AGGREGATION_LAST,
            AggregationMethod::Max => AGGREGATION_MAX,
            AggregationMethod::Min => AGGREGATION_MIN,
            AggregationMethod::AvgZero => AGGREGATION_AVG_ZERO,
            AggregationMethod::AbsMax => AGGREGATION_ABSMAX,
            AggregationMethod::AbsMin => AGGREGATION_ABSMIN,
        }
    }

    /// The method for an on-disk code, if it is one.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.code() == code)
    }

    /// Whisper's spelling (`average`, `sum`, ..., `avg_zero`, `absmax`).
    pub fn name(self) -> &'static str {
        match self {
            AggregationMethod::Average => "average",
            AggregationMethod::Sum => "sum",
            AggregationMethod::Last => "last",
            AggregationMethod::Max => "max",
            AggregationMethod::Min => "min",
            AggregationMethod::AvgZero => "avg_zero",
            AggregationMethod::AbsMax => "absmax",
            AggregationMethod::AbsMin => "absmin",
        }
    }

    /// Parses whisper's spelling, exactly (whisper is case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl fmt::Display for AggregationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One archive-info entry plus the fields whisper derives from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchiveInfo {
    /// Absolute byte offset of the archive's first point.
    pub offset: u32,
    /// The archive's step.
    pub seconds_per_point: u32,
    /// Number of slots.
    pub points: u32,
}

impl ArchiveInfo {
    /// Seconds covered: `seconds_per_point × points`.
    pub fn retention(&self) -> u64 {
        u64::from(self.seconds_per_point) * u64::from(self.points)
    }

    /// Bytes taken by the archive's slots.
    pub fn size(&self) -> u64 {
        u64::from(self.points) * POINT_SIZE as u64
    }

    /// One past the archive's last byte.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + self.size()
    }
}

/// A decoded Whisper header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Roll-up method.
    pub aggregation: AggregationMethod,
    /// Largest retention of any archive, as stored.
    pub max_retention: u32,
    /// xFilesFactor exactly as stored (compare it widened to f64).
    pub x_files_factor: f32,
    /// Archives, finest first, as stored.
    pub archives: Vec<ArchiveInfo>,
}

impl Header {
    /// Header bytes for this header's archive count.
    pub fn size(&self) -> usize {
        header_size(self.archives.len())
    }

    /// File size the archives imply.
    pub fn expected_file_size(&self) -> u64 {
        self.size() as u64 + self.archives.iter().map(ArchiveInfo::size).sum::<u64>()
    }

    /// The stored xFilesFactor widened to f64, as whisper compares it.
    pub fn xff(&self) -> f64 {
        f64::from(self.x_files_factor)
    }

    /// Encodes the 16-byte metadata block.
    pub fn encode_metadata(&self) -> [u8; METADATA_SIZE] {
        encode_metadata(
            self.aggregation,
            self.max_retention,
            self.x_files_factor,
            self.archives.len() as u32,
        )
    }

    /// Encodes the whole header (metadata and archive infos).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.size());
        out.extend_from_slice(&self.encode_metadata());
        for a in &self.archives {
            out.extend_from_slice(&a.offset.to_be_bytes());
            out.extend_from_slice(&a.seconds_per_point.to_be_bytes());
            out.extend_from_slice(&a.points.to_be_bytes());
        }
        out
    }
}

/// Encodes a metadata block from its four fields.
pub fn encode_metadata(
    aggregation: AggregationMethod,
    max_retention: u32,
    x_files_factor: f32,
    archive_count: u32,
) -> [u8; METADATA_SIZE] {
    let mut out = [0u8; METADATA_SIZE];
    out[0..4].copy_from_slice(&aggregation.code().to_be_bytes());
    out[4..8].copy_from_slice(&max_retention.to_be_bytes());
    out[8..12].copy_from_slice(&x_files_factor.to_be_bytes());
    out[12..16].copy_from_slice(&archive_count.to_be_bytes());
    out
}

/// Why a header or point did not decode: the byte offset, what was expected
/// there and what was found. The caller adds the file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// Byte offset of the offending field.
    pub offset: u64,
    /// What a valid file has there.
    pub expected: String,
    /// What this file has there.
    pub found: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at byte offset {}: expected {}, found {}",
            self.offset, self.expected, self.found
        )
    }
}

/// A big-endian reader over a byte slice that checks bounds before every read
/// and remembers the first failure, so decoding is a straight run of reads
/// followed by one check of [`Cursor::finish`].
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    err: Option<FormatError>,
}

impl<'a> Cursor<'a> {
    /// A cursor at `pos` in `buf`.
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Cursor {
            buf,
            pos,
            err: None,
        }
    }

    /// Current position.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn take<const N: usize>(&mut self, what: &str) -> [u8; N] {
        if self.err.is_some() {
            return [0; N];
        }
        match self
            .pos
            .checked_add(N)
            .and_then(|end| self.buf.get(self.pos..end))
        {
            Some(bytes) => {
                let mut out = [0u8; N];
                out.copy_from_slice(bytes);
                self.pos += N;
                out
            }
            None => {
                let available = self.buf.len().saturating_sub(self.pos);
                self.fail(
                    format!("{N} bytes of {what}"),
                    format!(
                        "end of file after {available} bytes (file is {} bytes)",
                        self.buf.len()
                    ),
                );
                [0; N]
            }
        }
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self, what: &str) -> u32 {
        u32::from_be_bytes(self.take::<4>(what))
    }

    /// Reads a big-endian f32.
    pub fn f32(&mut self, what: &str) -> f32 {
        f32::from_be_bytes(self.take::<4>(what))
    }

    /// Reads a big-endian f64.
    pub fn f64(&mut self, what: &str) -> f64 {
        f64::from_be_bytes(self.take::<8>(what))
    }

    /// Records a failure at the current position unless one is already recorded.
    pub fn fail(&mut self, expected: String, found: String) {
        self.fail_at(self.pos as u64, expected, found);
    }

    /// Records a failure at `offset` unless one is already recorded.
    pub fn fail_at(&mut self, offset: u64, expected: String, found: String) {
        if self.err.is_none() {
            self.err = Some(FormatError {
                offset,
                expected,
                found,
            });
        }
    }

    /// True once any read or check failed.
    pub fn failed(&self) -> bool {
        self.err.is_some()
    }

    /// The first failure, if any.
    pub fn finish(self) -> Result<(), FormatError> {
        match self.err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Decodes and validates a header the way whisper's reader does (unknown
/// aggregation code, xFilesFactor outside [0, 1] or a short read are errors),
/// and additionally checks that every archive lies inside a file of
/// `file_len` bytes, so later slot arithmetic can never index out of bounds,
/// and that maxRetention is no longer than the longest archive, so the
/// window of a fetch is bounded by what the archives cover, as in every file
/// whisper writes.
/// `buf` holds the file's first bytes (at least the header, or all of a
/// shorter file).
pub fn decode_header(buf: &[u8], file_len: u64) -> Result<Header, FormatError> {
    let mut c = Cursor::new(buf, 0);
    let code = c.u32("aggregationType");
    let max_retention = c.u32("maxRetention");
    let xff_at = c.pos() as u64;
    let x_files_factor = c.f32("xFilesFactor");
    let count_at = c.pos() as u64;
    let archive_count = c.u32("archiveCount");
    c.finish()?;
    let mut c = Cursor::new(buf, METADATA_SIZE);
    let aggregation = match AggregationMethod::from_code(code) {
        Some(m) => m,
        None => {
            c.fail_at(
                0,
                "an aggregation type code 1..=8".into(),
                format!("{code}"),
            );
            AggregationMethod::Average
        }
    };
    if !(0.0..=1.0).contains(&x_files_factor) {
        c.fail_at(
            xff_at,
            "an xFilesFactor in [0, 1]".into(),
            format!("{x_files_factor}"),
        );
    }
    // Cheap sanity bound before allocating: every archive-info needs 12 bytes.
    if (archive_count as u64) * ARCHIVE_INFO_SIZE as u64 + METADATA_SIZE as u64 > file_len {
        c.fail_at(
            count_at,
            format!(
                "an archive count whose {ARCHIVE_INFO_SIZE}-byte entries fit in the file ({file_len} bytes)"
            ),
            format!("{archive_count}"),
        );
    }
    if archive_count == 0 {
        c.fail_at(count_at, "at least one archive".into(), "0".into());
    }
    c.finish()?;
    let mut c = Cursor::new(buf, METADATA_SIZE);
    let mut archives = Vec::with_capacity(archive_count as usize);
    for i in 0..archive_count as usize {
        let at = c.pos() as u64;
        let offset = c.u32("archive offset");
        let seconds_per_point = c.u32("archive secondsPerPoint");
        let points = c.u32("archive points");
        if c.failed() {
            break;
        }
        let a = ArchiveInfo {
            offset,
            seconds_per_point,
            points,
        };
        if seconds_per_point == 0 || points == 0 {
            c.fail_at(
                at + 4,
                format!("archive {i} with a non-zero secondsPerPoint and points"),
                format!("secondsPerPoint {seconds_per_point}, points {points}"),
            );
        } else if (offset as usize) < header_size(archive_count as usize) || a.end() > file_len {
            c.fail_at(
                at,
                format!(
                    "archive {i} inside the file (bytes {}..{file_len})",
                    header_size(archive_count as usize),
                ),
                format!(
                    "offset {offset}, {points} points ending at byte {}",
                    a.end()
                ),
            );
        }
        archives.push(a);
    }
    // whisper writes the longest archive retention here; a larger value
    // would make a fetch far back allocate one slot per second of it.
    let longest = archives.iter().map(ArchiveInfo::retention).max();
    if let Some(longest) = longest.filter(|&l| u64::from(max_retention) > l) {
        c.fail_at(
            4,
            format!("a maxRetention no longer than the longest archive ({longest} s)"),
            format!("{max_retention}"),
        );
    }
    c.finish()?;
    Ok(Header {
        aggregation,
        max_retention,
        x_files_factor,
        archives,
    })
}

/// Reads the point at `pos` (no bounds check beyond slice indexing: callers
/// only pass positions inside a validated archive).
#[inline]
pub fn read_point(buf: &[u8], pos: usize) -> (u32, f64) {
    let ts = u32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]);
    let mut v = [0u8; 8];
    v.copy_from_slice(&buf[pos + 4..pos + 12]);
    (ts, f64::from_be_bytes(v))
}

/// Writes a point at `pos`.
#[inline]
pub fn write_point(buf: &mut [u8], pos: usize, timestamp: u32, value: f64) {
    buf[pos..pos + 4].copy_from_slice(&timestamp.to_be_bytes());
    buf[pos + 4..pos + 12].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_header() -> Header {
        Header {
            aggregation: AggregationMethod::Sum,
            max_retention: 600,
            x_files_factor: 0.1,
            archives: vec![
                ArchiveInfo {
                    offset: 40,
                    seconds_per_point: 10,
                    points: 6,
                },
                ArchiveInfo {
                    offset: 112,
                    seconds_per_point: 60,
                    points: 10,
                },
            ],
        }
    }

    #[test]
    fn header_round_trips() {
        let h = sample_header();
        let mut buf = h.encode();
        buf.resize(h.expected_file_size() as usize, 0);
        assert_eq!(decode_header(&buf, buf.len() as u64).unwrap(), h);
        assert_eq!(h.size(), 40);
        assert_eq!(h.expected_file_size(), 40 + 16 * 12);
    }

    #[test]
    fn truncated_header_names_offset() {
        let h = sample_header();
        let buf = h.encode();
        let err = decode_header(&buf[..30], 30).unwrap_err();
        assert!(err.expected.contains("archive count"), "{err}");
        let err = decode_header(&buf[..10], 10).unwrap_err();
        assert_eq!(err.offset, 8);
        assert!(err.found.contains("end of file"), "{err}");
    }

    #[test]
    fn bad_fields_are_reported() {
        let h = sample_header();
        let mut buf = h.encode();
        buf.resize(h.expected_file_size() as usize, 0);
        let mut bad = buf.clone();
        bad[3] = 9;
        let err = decode_header(&bad, bad.len() as u64).unwrap_err();
        assert_eq!((err.offset, err.found.as_str()), (0, "9"));
        let mut bad = buf.clone();
        bad[8..12].copy_from_slice(&2.0f32.to_be_bytes());
        assert_eq!(decode_header(&bad, bad.len() as u64).unwrap_err().offset, 8);
        let short = &buf[..buf.len() - 1];
        let err = decode_header(short, short.len() as u64).unwrap_err();
        assert_eq!(err.offset, 28, "{err}");
    }

    /// Found with the whisper_header fuzz target (an out-of-memory abort on
    /// its input): a corrupt maxRetention made a fetch from far back
    /// allocate 64 GB for an archive of one point.
    #[test]
    fn fuzz_max_retention_past_the_archives_is_refused() {
        let mut h = sample_header();
        h.max_retention = u32::MAX;
        let mut buf = h.encode();
        buf.resize(h.expected_file_size() as usize, 0);
        let err = decode_header(&buf, buf.len() as u64).unwrap_err();
        assert_eq!((err.offset, err.found.as_str()), (4, "4294967295"), "{err}");
        assert!(err.expected.contains("(600 s)"), "{err}");
        // A shorter one only narrows what fetches return, as in whisper.
        h.max_retention = 60;
        let mut buf = h.encode();
        buf.resize(h.expected_file_size() as usize, 0);
        assert_eq!(decode_header(&buf, buf.len() as u64), Ok(h));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x1234_5678u32;
        for len in 0..200 {
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 24) as u8
                })
                .collect();
            let _ = decode_header(&buf, buf.len() as u64);
        }
    }

    #[test]
    fn method_names_and_codes() {
        for m in AggregationMethod::ALL {
            assert_eq!(AggregationMethod::from_code(m.code()), Some(m));
            assert_eq!(AggregationMethod::from_name(m.name()), Some(m));
        }
        assert_eq!(AggregationMethod::from_name("avgZero"), None);
        assert_eq!(AggregationMethod::from_code(0), None);
    }
}
