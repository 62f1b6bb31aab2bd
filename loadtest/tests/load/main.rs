//! Tests of `tidegate-loadtest`: the load generator run in-process and as a binary against
//! a real `tidegate-fn` on a free port, plus its scenarios, report and charts.
//!
//! One test binary with modules rather than one per file: each test binary costs a link,
//! and links are the slow part of a build here.

mod charts;
mod cli;
mod omission;
mod rate;
mod report;
mod scenarios;
mod support;
