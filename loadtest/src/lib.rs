//! tidegate's instruments: what the benchmarks and end-to-end tests put behind the proxy.
//!
//! - [`function`]: `tidegate-fn`, a synthetic function instance whose latency, CPU, memory,
//!   response size, status and caching headers are chosen per request. Tests of the proxy
//!   drive it through query parameters and `x-fn-*` headers; benchmarks use its default
//!   answer, which costs next to nothing.
//! - [`load`]: `tidegate-loadtest`, the load generator: open- or closed-loop HTTP/1.1 and
//!   h2c load with latencies corrected for coordinated omission, per-status and per-priority
//!   histograms, a timeline of tidegate's scaling from its admin API, a JSON report and
//!   charts. Scenarios in `loadtest/scenarios/` drive it.
//! - [`units`]: durations (`"50ms"`) and sizes (`"10MiB"`) in the spelling tidegate's config
//!   uses, for flags and knobs alike.
//!
//! Not here: the side-by-side comparison with nginx and HAProxy, which is the `compare`
//! script beside this crate (it drives wrk and h2load, not Rust code), and the proxy itself.

pub mod function;
pub mod load;
pub mod units;
