//! graphite-web's HTTP API for ferrograph, reading through storage's
//! [`storage::Read`] handle.
#![deny(missing_docs)]
