//! Python's number formatting, as graphite-web prints it: series names use
//! `%g` (`scale(a.b,0.5)`), tags and names use `str()` of floats
//! (`movingAverage(a.b,5)` vs `...,5.0)`), and the JSON, raw and CSV formats
//! print values with `repr()` (`1.0`, `1e-05`). The implementation is the
//! workspace's one, in `storage::pyfmt` (the whisper tools print with it
//! too).

pub use storage::pyfmt::{float_repr, format_f, format_g, format_g_precision, push_float_repr};
