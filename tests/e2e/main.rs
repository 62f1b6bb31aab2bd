//! End-to-end tests: the real `tidegate` binary, real upstream servers, real sockets.
//!
//! Every test binds `127.0.0.1:0`; tidegate announces its bound ports on its first line of
//! standard output, which the harness reads. Nothing here sleeps to wait for readiness.

mod admin;
mod cache;
mod config;
mod early_answers;
mod errors;
mod harness;
mod http1;
mod instances;
mod lifecycle;
mod logs;
mod proxying;
mod queue;
mod scaling;
mod tls;
mod upstream;
