//! Tests of `tidegate-fn` as a process: each spawns the real binary on a free port, reads
//! the port from its first line of stdout, and talks HTTP to it.
//!
//! One test binary with modules rather than one per file: each test binary costs a link,
//! and links are the slow part of a build here.

mod knobs;
mod process;
mod support;
