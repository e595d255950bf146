//! The only values the listeners hand inward: one parsed sample of one key.

/// One valid sample of a StatsD line, borrowed from the datagram.
///
/// The key is carried next to it (one line can hold several samples of the
/// same key, Etsy style: `a:1|ms:2|ms`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sample<'a> {
    /// `c` and every type the reference does not know (`h`, `d`, `x`, ...):
    /// the counter grows by `value * (1 / rate)`.
    Counter {
        /// The number sent.
        value: f64,
        /// The sample rate (`@0.1`), 1 when absent; never 0.
        rate: f64,
    },
    /// `ms`: the value joins the interval's samples, the count grows by
    /// `1 / rate`.
    Timer {
        /// The duration sent.
        value: f64,
        /// The sample rate, 1 when absent; never 0.
        rate: f64,
    },
    /// `g`: set, or changed by a signed delta when the gauge holds a non-zero
    /// value.
    Gauge {
        /// The number sent.
        value: f64,
        /// The text started with `+` or `-`.
        delta: bool,
    },
    /// `s`: a member of the set (text, exactly as sent; `""` becomes `"0"`).
    Set {
        /// The member.
        member: &'a str,
    },
}
