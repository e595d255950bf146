//! A Whisper file on disk: atomic creation, and an mmap'd view for fetch and
//! update. Every `unsafe` block of the crate's file access lives here.
//!
//! # Safety contract of the mappings
//!
//! A mapping is only sound while nobody truncates or replaces the file's
//! bytes underneath it. ferrograph never truncates a Whisper file in place
//! (resize writes a new file and renames it over the old one, which leaves
//! existing mappings on the old inode intact). Another process could: the
//! classic `whisper-*` tools rewrite files in place only with the same size
//! (`set-aggregation`, `update`, `merge`), which is safe; truncating a file
//! that ferrograph has mapped is not supported and may kill the process with
//! SIGBUS. Before mapping, the file's length is checked against its header,
//! so a file that is already short is reported as corrupt, never mapped past
//! its end. Writes through a mapping into a sparse region would need new disk
//! blocks and could fail with SIGBUS on a full disk, so a file opened for
//! writing is fully allocated first (`posix_fallocate`, which reports ENOSPC
//! as an ordinary error).

use std::fs::{self, File, OpenOptions};
use std::io::{Read as _, Seek, SeekFrom, Write as _};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{Mmap, MmapMut};

use super::format::{
    decode_header, encode_metadata, header_size, AggregationMethod, ArchiveInfo, FormatError,
    Header, METADATA_SIZE, POINT_SIZE,
};
use super::ops::{self, FetchResult, Fetched};
use super::retention::validate_archive_list;
use super::WhisperError;

/// How the data region of a new file is allocated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Allocation {
    /// Write zeros over the whole data region (whisper's default).
    #[default]
    Zeroed,
    /// Only set the length; blocks are allocated on first write.
    Sparse,
    /// `posix_fallocate` the data region: fast and contiguous.
    Fallocate,
}

enum Mapping {
    Read(Mmap),
    Write(MmapMut),
}

/// An open, mapped Whisper file with its decoded header.
pub struct WhisperFile {
    path: PathBuf,
    map: Mapping,
    header: Header,
    /// Offset of the finest archive, kept here so a prefetch of it costs no
    /// trip to the header's heap block.
    first_archive: u32,
}

fn corrupt(path: &Path, e: FormatError) -> WhisperError {
    WhisperError::Corrupt {
        path: path.to_path_buf(),
        offset: e.offset,
        expected: e.expected,
        found: e.found,
    }
}

/// Reads and validates only the header of `path` (whisper's `info`), with
/// the file length checked against the archives.
pub fn info(path: &Path) -> Result<Header, WhisperError> {
    let mut file = File::open(path).map_err(|e| WhisperError::io(path, "open", e))?;
    let len = file
        .metadata()
        .map_err(|e| WhisperError::io(path, "stat", e))?
        .len();
    read_header(path, &mut file, len)
}

fn read_header(path: &Path, file: &mut File, len: u64) -> Result<Header, WhisperError> {
    let mut meta = vec![0u8; METADATA_SIZE.min(len as usize)];
    file.read_exact(&mut meta)
        .map_err(|e| WhisperError::io(path, "read", e))?;
    if meta.len() < METADATA_SIZE {
        return decode_header(&meta, len).map_err(|e| corrupt(path, e));
    }
    let count = u32::from_be_bytes([meta[12], meta[13], meta[14], meta[15]]) as u64;
    let want = (header_size(0) as u64 + count * 12).min(len) as usize;
    let mut buf = meta;
    buf.resize(want, 0);
    file.read_exact(&mut buf[METADATA_SIZE..])
        .map_err(|e| WhisperError::io(path, "read", e))?;
    decode_header(&buf, len).map_err(|e| corrupt(path, e))
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A hidden temporary name next to `path` (finders skip dot files).
pub fn temp_path_for(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Creates a Whisper file (whisper's `create`): validates the archive list,
/// refuses to overwrite, writes the header and allocates the data region.
/// The file is built under a hidden temporary name and linked into place only
/// when complete, so no reader ever sees a half-written header; on any error
/// the temporary file is removed.
pub fn create(
    path: &Path,
    archives: &[(u32, u32)],
    x_files_factor: f64,
    aggregation: AggregationMethod,
    allocation: Allocation,
) -> Result<Header, WhisperError> {
    let header = build_header_for(archives, x_files_factor, aggregation)?;
    if path.exists() {
        return Err(WhisperError::AlreadyExists {
            path: path.to_path_buf(),
        });
    }
    let tmp = temp_path_for(path);
    let result = write_new_file(&tmp, &header, allocation).and_then(|()| {
        // link() fails if `path` appeared meanwhile: never overwrite.
        fs::hard_link(&tmp, path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                WhisperError::AlreadyExists {
                    path: path.to_path_buf(),
                }
            } else {
                WhisperError::io(path, "link", e)
            }
        })
    });
    let _ = fs::remove_file(&tmp);
    result.map(|()| header)
}

/// The header whisper writes for an archive list (sorted, validated).
pub fn build_header_for(
    archives: &[(u32, u32)],
    x_files_factor: f64,
    aggregation: AggregationMethod,
) -> Result<Header, WhisperError> {
    let mut list = archives.to_vec();
    validate_archive_list(&mut list)?;
    if !(0.0..=1.0).contains(&x_files_factor) {
        return Err(WhisperError::InvalidXFilesFactor(x_files_factor));
    }
    let mut offset = header_size(list.len()) as u32;
    let mut infos = Vec::with_capacity(list.len());
    for &(spp, points) in &list {
        infos.push(ArchiveInfo {
            offset,
            seconds_per_point: spp,
            points,
        });
        offset += points * POINT_SIZE as u32;
    }
    let max_retention = infos.iter().map(|a| a.retention()).max().unwrap_or(0) as u32;
    Ok(Header {
        aggregation,
        max_retention,
        // Python's struct.pack('!f') rounds to the nearest single.
        x_files_factor: x_files_factor as f32,
        archives: infos,
    })
}

/// Writes `header` and allocates the data region into a new file at `path`
/// (which must not exist). Used for creation and for resize's new file.
pub fn write_new_file(
    path: &Path,
    header: &Header,
    allocation: Allocation,
) -> Result<(), WhisperError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| WhisperError::io(path, "create", e))?;
    let total = header.expected_file_size();
    let head = header.encode();
    file.write_all(&head)
        .map_err(|e| WhisperError::io(path, "write", e))?;
    let data = total - head.len() as u64;
    match allocation {
        Allocation::Zeroed => {
            let zeros = vec![0u8; 16 * 1024];
            let mut remaining = data;
            while remaining > 0 {
                let n = remaining.min(zeros.len() as u64) as usize;
                file.write_all(&zeros[..n])
                    .map_err(|e| WhisperError::io(path, "write", e))?;
                remaining -= n as u64;
            }
        }
        Allocation::Sparse => file
            .set_len(total)
            .map_err(|e| WhisperError::io(path, "truncate", e))?,
        Allocation::Fallocate => fallocate(&file, head.len() as u64, data)
            .map_err(|e| WhisperError::io(path, "fallocate", e))?,
    }
    file.sync_data()
        .map_err(|e| WhisperError::io(path, "fsync", e))?;
    Ok(())
}

fn fallocate(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: posix_fallocate only reads its integer arguments; the fd is
    // valid for the lifetime of `file`.
    let rc = unsafe {
        libc::posix_fallocate(file.as_raw_fd(), offset as libc::off_t, len as libc::off_t)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

impl WhisperFile {
    /// Opens and maps `path` for reading.
    pub fn open(path: &Path) -> Result<WhisperFile, WhisperError> {
        let mut file = File::open(path).map_err(|e| WhisperError::io(path, "open", e))?;
        let len = file
            .metadata()
            .map_err(|e| WhisperError::io(path, "stat", e))?
            .len();
        let header = read_header(path, &mut file, len)?;
        // SAFETY: the length was checked against the header above, so every
        // access stays inside the mapping as long as nobody truncates the
        // file; see the module's safety contract.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| WhisperError::io(path, "mmap", e))?;
        let header = recheck(path, &map, header)?;
        Ok(WhisperFile {
            path: path.to_path_buf(),
            map: Mapping::Read(map),
            first_archive: header.archives.first().map_or(0, |a| a.offset),
            header,
        })
    }

    /// Opens and maps `path` for reading and writing. A sparse file is fully
    /// allocated first, so writes through the mapping never need new blocks.
    pub fn open_rw(path: &Path) -> Result<WhisperFile, WhisperError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| WhisperError::io(path, "open", e))?;
        let meta = file
            .metadata()
            .map_err(|e| WhisperError::io(path, "stat", e))?;
        let len = meta.len();
        let header = read_header(path, &mut file, len)?;
        if meta.blocks().saturating_mul(512) < len {
            fallocate(&file, 0, len).map_err(|e| WhisperError::io(path, "fallocate", e))?;
        }
        // SAFETY: as in `open`; in addition the whole file is allocated, so a
        // store into the mapping cannot fault for lack of disk space.
        let map =
            unsafe { MmapMut::map_mut(&file) }.map_err(|e| WhisperError::io(path, "mmap", e))?;
        let header = recheck(path, &map, header)?;
        Ok(WhisperFile {
            path: path.to_path_buf(),
            map: Mapping::Write(map),
            first_archive: header.archives.first().map_or(0, |a| a.offset),
            header,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The whole file's bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.map {
            Mapping::Read(m) => m,
            Mapping::Write(m) => m,
        }
    }

    /// The mapping for writing plus the header, borrowed separately.
    fn split_mut(&mut self) -> Result<(&mut [u8], &Header), WhisperError> {
        match &mut self.map {
            Mapping::Write(m) => Ok((&mut m[..], &self.header)),
            Mapping::Read(_) => Err(WhisperError::io(
                &self.path,
                "write",
                std::io::Error::new(std::io::ErrorKind::PermissionDenied, "opened read-only"),
            )),
        }
    }

    /// whisper's `fetch`.
    pub fn fetch(&self, from: i64, until: i64, now: i64, granularity: Option<u32>) -> FetchResult {
        ops::fetch(self.bytes(), &self.header, from, until, now, granularity)
    }

    /// whisper's `update` (one point).
    pub fn update(&mut self, value: f64, timestamp: i64, now: i64) -> Result<(), WhisperError> {
        let (buf, header) = self.split_mut()?;
        ops::update(buf, header, value, timestamp, now)
    }

    /// whisper's `update_many` (a batch).
    pub fn update_many(&mut self, points: &[(i64, f64)], now: i64) -> Result<(), WhisperError> {
        let (buf, header) = self.split_mut()?;
        ops::update_many(buf, header, points, now)
    }

    /// Starts loading the line an update reads first (the finest archive's
    /// base point) into the CPU's caches: writers call it for the next file
    /// while they write the current one.
    pub fn prefetch_for_update(&self) {
        let base = match &self.map {
            Mapping::Write(m) => m.as_ptr(),
            Mapping::Read(m) => m.as_ptr(),
        };
        crate::sys::prefetch(base.wrapping_add(self.first_archive as usize));
    }

    /// Rewrites the metadata's method and/or xFilesFactor (whisper's
    /// `setAggregationMethod`/`setXFilesFactor`); returns the old values.
    pub fn set_aggregation(
        &mut self,
        method: Option<AggregationMethod>,
        x_files_factor: Option<f64>,
    ) -> Result<(AggregationMethod, f32), WhisperError> {
        let old = (self.header.aggregation, self.header.x_files_factor);
        let xff = match x_files_factor {
            Some(x) if !(0.0..=1.0).contains(&x) => {
                return Err(WhisperError::InvalidXFilesFactor(x))
            }
            Some(x) => x as f32,
            None => old.1,
        };
        let method = method.unwrap_or(old.0);
        let meta = encode_metadata(
            method,
            self.header.max_retention,
            xff,
            self.header.archives.len() as u32,
        );
        self.split_mut()?.0[..METADATA_SIZE].copy_from_slice(&meta);
        self.header.aggregation = method;
        self.header.x_files_factor = xff;
        Ok(old)
    }

    /// whisper's `merge`: writes `src`'s points into this file (same archive
    /// layout), archive by archive, with propagation.
    pub fn merge_from(
        &mut self,
        src: &WhisperFile,
        header: &Header,
        time_from: Option<i64>,
        time_to: Option<i64>,
        now: i64,
    ) -> Result<(), WhisperError> {
        let src_header = src.header().clone();
        let src_bytes = src.bytes();
        let (buf, _) = self.split_mut()?;
        ops::merge(src_bytes, &src_header, buf, header, time_from, time_to, now)
    }

    /// Writes dirty pages back to the file (msync) and waits.
    pub fn flush(&self) -> Result<(), WhisperError> {
        match &self.map {
            Mapping::Write(m) => m
                .flush()
                .map_err(|e| WhisperError::io(&self.path, "msync", e)),
            Mapping::Read(_) => Ok(()),
        }
    }
}

/// A Whisper file opened for reading with positioned reads (`pread`)
/// instead of a mapping: what the read path (`/render`) uses.
///
/// Why not mmap: a fetch reads each file once per request, and mapping it
/// costs a page fault per touched page plus a TLB shootdown across threads
/// at unmap; one `pread` of just the slots needed into a reused per-thread
/// buffer is several times cheaper. The file is opened by path on every
/// request, so a file replaced by `whisper resize` (renamed over) is never
/// read through a stale handle, and a file truncated underneath gives an
/// error naming it instead of SIGBUS.
pub struct WhisperReader {
    path: PathBuf,
    file: File,
    header: Header,
}

thread_local! {
    /// Per-thread scratch for the raw bytes of one read: it grows to the
    /// largest span read on the thread and is then reused, so a fetch
    /// allocates only its result.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Bytes read at open: the header of files with up to 340 archives and, for
/// ordinary files, the first archive's base point.
const HEAD_READ: usize = 4096;

impl WhisperReader {
    /// Opens `path` and reads its header (checked against the file length).
    pub fn open(path: &Path) -> Result<WhisperReader, WhisperError> {
        use std::os::unix::fs::FileExt;
        let file = File::open(path).map_err(|e| WhisperError::io(path, "open", e))?;
        let len = file
            .metadata()
            .map_err(|e| WhisperError::io(path, "stat", e))?
            .len();
        let mut head = [0u8; HEAD_READ];
        let got = (len as usize).min(HEAD_READ);
        file.read_exact_at(&mut head[..got], 0)
            .map_err(|e| WhisperError::io(path, "read", e))?;
        let header = if got >= METADATA_SIZE {
            let count = u32::from_be_bytes([head[12], head[13], head[14], head[15]]) as u64;
            let want = (header_size(0) as u64 + count * 12).min(len) as usize;
            if want > got {
                let mut buf = head.to_vec();
                buf.resize(want, 0);
                file.read_exact_at(&mut buf[got..], got as u64)
                    .map_err(|e| WhisperError::io(path, "read", e))?;
                decode_header(&buf, len)
            } else {
                decode_header(&head[..got], len)
            }
        } else {
            decode_header(&head[..got], len)
        }
        .map_err(|e| corrupt(path, e))?;
        Ok(WhisperReader {
            path: path.to_path_buf(),
            file,
            header,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The decoded header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<(), WhisperError> {
        use std::os::unix::fs::FileExt;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| WhisperError::io(&self.path, "read", e))
    }

    /// whisper's `fetch`, reading only the slots it returns.
    pub fn fetch(&self, from: i64, until: i64, now: i64, granularity: Option<u32>) -> FetchResult {
        self.fetch_into(from, until, now, granularity, Vec::new())
    }

    /// [`WhisperReader::fetch`] decoding into `values` (cleared first), so
    /// a caller can hand back the buffer of an earlier answer.
    pub fn fetch_into(
        &self,
        from: i64,
        until: i64,
        now: i64,
        granularity: Option<u32>,
        values: Vec<Option<f64>>,
    ) -> FetchResult {
        match ops::plan_fetch(&self.header, from, until, now, granularity)? {
            None => Ok(None),
            Some((archive, from, until)) => {
                let archive = *archive;
                self.archive_fetch_into(&archive, from, until, values)
                    .map(Some)
            }
        }
    }

    /// whisper's fetch with archives stitched ([`crate::FetchOptions`]):
    /// the archive whisper picks gives the step and the timestamps; every
    /// bucket of it that a finer archive covers is rolled up from the
    /// finest such archive ([`ops::stitch_into`]). Equal to
    /// [`WhisperReader::fetch`] when whisper picks the finest archive.
    pub fn fetch_stitched_into(
        &self,
        from: i64,
        until: i64,
        now: i64,
        values: Vec<Option<f64>>,
    ) -> FetchResult {
        let Some((archive, from, until)) = ops::plan_fetch(&self.header, from, until, now, None)?
        else {
            return Ok(None);
        };
        let archive = *archive;
        let mut out = self.archive_fetch_into(&archive, from, until, values)?;
        let chosen = self
            .header
            .archives
            .iter()
            .position(|a| *a == archive)
            .unwrap_or(0);
        // Coarsest first, so that finer archives overwrite what they cover.
        for fine in self.header.archives[..chosen].iter().rev() {
            let fine_from = from.max(now - fine.retention() as i64);
            if fine_from >= until {
                continue;
            }
            let f = self.archive_fetch(fine, fine_from, until)?;
            ops::stitch_into(&mut out, &f, self.header.aggregation, self.header.xff());
        }
        Ok(Some(out))
    }

    /// Reads one archive over `(from, until]` with whisper's rounding (what
    /// [`ops::archive_fetch`] does over a mapping).
    pub fn archive_fetch(
        &self,
        archive: &ArchiveInfo,
        from: i64,
        until: i64,
    ) -> Result<Fetched, WhisperError> {
        self.archive_fetch_into(archive, from, until, Vec::new())
    }

    /// [`WhisperReader::archive_fetch`] decoding into `values` (cleared
    /// first).
    pub fn archive_fetch_into(
        &self,
        archive: &ArchiveInfo,
        from: i64,
        until: i64,
        mut values: Vec<Option<f64>>,
    ) -> Result<Fetched, WhisperError> {
        values.clear();
        let mut base = [0u8; POINT_SIZE];
        self.read_at(&mut base, u64::from(archive.offset))?;
        let base = i64::from(u32::from_be_bytes([base[0], base[1], base[2], base[3]]));
        if base == 0 {
            return Ok(ops::empty_fetch(archive, from, until));
        }
        let span = ops::slot_span(archive, base, from, until);
        values.reserve(span.count);
        SCRATCH.with(|scratch| -> Result<(), WhisperError> {
            let mut scratch = scratch.borrow_mut();
            let mut expected = span.start;
            for (first, n) in span.runs(archive) {
                if n == 0 {
                    continue;
                }
                let bytes = n * POINT_SIZE;
                if scratch.len() < bytes {
                    scratch.resize(bytes, 0);
                }
                let offset = u64::from(archive.offset) + (first * POINT_SIZE) as u64;
                self.read_at(&mut scratch[..bytes], offset)?;
                expected = ops::decode_points(&scratch[..bytes], expected, span.step, &mut values);
            }
            Ok(())
        })?;
        Ok(Fetched {
            start: span.start,
            end: span.end,
            step: span.step,
            values,
        })
    }
}

/// The file may have changed between reading the header and mapping it:
/// decode again from the mapping itself.
fn recheck(path: &Path, map: &[u8], header: Header) -> Result<Header, WhisperError> {
    let fresh = decode_header(map, map.len() as u64).map_err(|e| corrupt(path, e))?;
    if fresh != header {
        return Ok(fresh);
    }
    Ok(header)
}

/// Buffers [`update_many_unmapped`] reuses from call to call.
#[derive(Default)]
pub struct FileBuffers {
    bytes: Vec<u8>,
    before: Vec<u8>,
}

/// whisper's `update_many` on a file that is not mapped: reads the whole
/// file, updates it in memory with the code that updates mapped files, and
/// writes back the span of bytes that changed. For small files a writer
/// cannot keep mapped: mapping one for a single write (and unmapping
/// another, with a TLB shootdown) costs more than this I/O.
pub fn update_many_unmapped(
    path: &Path,
    points: &[(i64, f64)],
    now: i64,
    buffers: &mut FileBuffers,
) -> Result<(), WhisperError> {
    use std::os::unix::fs::FileExt;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| WhisperError::io(path, "open", e))?;
    let len = file
        .metadata()
        .map_err(|e| WhisperError::io(path, "stat", e))?
        .len();
    let FileBuffers { bytes, before } = buffers;
    bytes.clear();
    bytes.resize(len as usize, 0);
    file.read_exact_at(bytes, 0)
        .map_err(|e| WhisperError::io(path, "read", e))?;
    let header = decode_header(bytes, len).map_err(|e| corrupt(path, e))?;
    before.clear();
    before.extend_from_slice(bytes);
    ops::update_many(bytes, &header, points, now)?;
    let differs = |(a, b): (&u8, &u8)| a != b;
    if let Some(first) = bytes.iter().zip(before.iter()).position(differs) {
        let tail = bytes
            .iter()
            .rev()
            .zip(before.iter().rev())
            .position(differs);
        let end = bytes.len() - tail.unwrap_or(0);
        file.write_all_at(&bytes[first..end], first as u64)
            .map_err(|e| WhisperError::io(path, "write", e))?;
    }
    Ok(())
}

/// Reads a whole file into memory (for tools that rewrite files).
pub fn read_all(path: &Path) -> Result<Vec<u8>, WhisperError> {
    let mut file = File::open(path).map_err(|e| WhisperError::io(path, "open", e))?;
    let mut buf = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut buf))
        .map_err(|e| WhisperError::io(path, "read", e))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmapped_updates_write_the_bytes_mapped_ones_do() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_700_000_000;
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let layouts: [&[(u32, u32)]; 2] = [&[(10, 60)], &[(10, 60), (60, 30), (300, 20)]];
        for (l, archives) in layouts.iter().enumerate() {
            for method in [AggregationMethod::Average, AggregationMethod::Max] {
                let mapped = dir.path().join(format!("mapped-{l}-{method:?}.wsp"));
                let unmapped = dir.path().join(format!("unmapped-{l}-{method:?}.wsp"));
                for path in [&mapped, &unmapped] {
                    create(path, archives, 0.5, method, Allocation::Sparse).unwrap();
                }
                let mut file = WhisperFile::open_rw(&mapped).unwrap();
                let mut buffers = FileBuffers::default();
                for _ in 0..40 {
                    // in order, out of order, repeated and too old timestamps
                    let points: Vec<(i64, f64)> = (0..next(12))
                        .map(|_| (now - next(7_000) as i64, next(1_000) as f64 / 8.0))
                        .collect();
                    file.update_many(&points, now).unwrap();
                    update_many_unmapped(&unmapped, &points, now, &mut buffers).unwrap();
                }
                file.flush().unwrap();
                assert_eq!(
                    std::fs::read(&mapped).unwrap(),
                    std::fs::read(&unmapped).unwrap(),
                    "layout {l}, {method:?}"
                );
            }
        }
    }

    #[test]
    fn unmapped_updates_name_the_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.wsp");
        std::fs::write(&path, b"short").unwrap();
        let err =
            update_many_unmapped(&path, &[(1, 1.0)], 2, &mut FileBuffers::default()).unwrap_err();
        assert!(err.to_string().contains("bad.wsp"), "{err}");
    }
}
