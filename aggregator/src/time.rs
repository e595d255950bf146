//! Wall-clock helpers: the reference works in Unix milliseconds and rounds
//! to seconds with `Math.round`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

/// `Math.round(Date.now() / 1000)`.
pub fn unix_now_secs() -> i64 {
    ((unix_now_ms() + 500) / 1000) as i64
}
