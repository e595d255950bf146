//! End-to-end tests through real sockets, processes and files. One test
//! binary; each module below holds one behaviour.

/// Harness: temp dirs, free ports, the ferrograph binary, the references.
mod util;

/// The binary's own commands (config printing and checking).
mod cli;
