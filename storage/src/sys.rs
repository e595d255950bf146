//! Small platform calls that have no safe crate in the workspace.

/// `time.ctime(t)` (format `None`) or `time.strftime(format,
/// time.localtime(t))`, in the process's time zone and the C locale, as the
/// classic whisper tools print times.
pub fn local_time(t: i64, format: Option<&str>) -> String {
    let fmt = format.unwrap_or("%a %b %e %H:%M:%S %Y");
    let Ok(cfmt) = std::ffi::CString::new(fmt) else {
        return t.to_string();
    };
    let time = t as libc::time_t;
    // SAFETY: `tm` is plain old data (integers and a pointer that
    // localtime_r sets), so all-zero is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; glibc's localtime_r
    // reads TZ itself on first use.
    let ok = unsafe { !libc::localtime_r(&time, &mut tm).is_null() };
    if !ok {
        return t.to_string();
    }
    let mut buf = vec![0u8; 512];
    // SAFETY: strftime writes at most `buf.len()` bytes into `buf` and
    // returns the count; `cfmt` is NUL-terminated and `tm` initialised.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cfmt.as_ptr(), &tm) };
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Asks the CPU to start loading the cache line at `address` into its
/// caches, so a later read does not wait for memory. A hint only: any
/// address will do, and other architectures ignore it.
#[inline]
pub fn prefetch<T>(address: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 neither faults nor reads into the program,
    // whatever the address (SSE, which it needs, is part of x86-64).
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}
