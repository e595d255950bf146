//! What every accept loop does when `accept` fails (the carbon receivers
//! here, StatsD's TCP and admin listeners, the HTTP API): out of
//! descriptors (`EMFILE`, `ENFILE`) or kernel memory, the same call fails
//! again at once, so the loop pauses instead of spinning, and says so in
//! one log line per period with the count of failures held back. Other
//! errors (a peer that reset before it was accepted) are the peer's
//! business: no pause, debug level only.

use std::io;
use std::time::{Duration, Instant};

/// How long an accept loop waits after running out of descriptors.
pub const EXHAUSTED_PAUSE: Duration = Duration::from_millis(100);

/// At most one warning per this period per listener.
const LOG_PERIOD: Duration = Duration::from_secs(10);

/// One listener's accept failures: the pause to take and the rate-limited
/// log line.
#[derive(Debug)]
pub struct AcceptErrors {
    listener: &'static str,
    last_log: Option<Instant>,
    held_back: u64,
    total: u64,
}

impl AcceptErrors {
    /// For the listener named `listener` in the log line.
    pub fn new(listener: &'static str) -> AcceptErrors {
        AcceptErrors {
            listener,
            last_log: None,
            held_back: 0,
            total: 0,
        }
    }

    /// Failures seen so far, for the listener's counters.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Records `error` and returns how long to pause before the next
    /// `accept` (zero for errors that do not repeat by themselves).
    pub fn pause_after(&mut self, error: &io::Error) -> Duration {
        self.total += 1;
        if !is_exhaustion(error) {
            tracing::debug!(listener = self.listener, %error, "accept failed");
            return Duration::ZERO;
        }
        let now = Instant::now();
        if self
            .last_log
            .map_or(true, |last| now.duration_since(last) >= LOG_PERIOD)
        {
            tracing::warn!(
                listener = self.listener,
                %error,
                held_back = self.held_back,
                "cannot accept connections: out of file descriptors or memory; \
                 pausing accepts (raise `ulimit -n` / LimitNOFILE, or lower the connection caps)"
            );
            self.last_log = Some(now);
            self.held_back = 0;
        } else {
            self.held_back += 1;
        }
        EXHAUSTED_PAUSE
    }
}

/// Errors that repeat until something else frees resources.
fn is_exhaustion(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_exhaustion_pauses_and_a_reset_does_not() {
        let mut errors = AcceptErrors::new("test");
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(errors.pause_after(&emfile), EXHAUSTED_PAUSE);
        assert_eq!(errors.pause_after(&emfile), EXHAUSTED_PAUSE);
        // the second one within the period was held back, not logged
        assert_eq!(errors.held_back, 1);
        let reset = io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(errors.pause_after(&reset), Duration::ZERO);
        assert_eq!(errors.total(), 3);
    }
}
