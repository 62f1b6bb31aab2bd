//! Fixtures and naive peers for tidegate's criterion micro-benchmarks.
//!
//! The bench targets live in `benches/benches/`, one per hot path, each opening with the
//! question it answers:
//!
//! - `route`: [`Router::lookup`](tidegate_proxy::route::Router::lookup) by exact host,
//!   wildcard host, path prefix and no match, over 10 and 1,000 routes, against a linear
//!   scan ([`routes::LinearRoutes`]) and a bare `std` `HashMap` lookup.
//! - `headers`: the request head rewrite (request id, hop-by-hop removal, `x-forwarded-*`)
//!   on a browser's and on wrk's headers, against cloning the same map.
//! - `fleet`: [`Fleet::try_acquire`](tidegate_scaler::Fleet::try_acquire) and dropping the
//!   lease at 1, 4, 32 and 256 instances, alone and with a second thread contending,
//!   against a mutex around a vector of counts ([`fleets::MutexFleet`]).
//! - `queue`: queueing a request and dispatching the most urgent at depths of 10, 10,000
//!   and 100,000, against one vector scanned at each dispatch ([`queues::VecQueue`]); and
//!   the whole handoff of a freed slot through `Queue` and a real fleet.
//! - `config`: parsing `examples/full.toml` and a 1,000-route file, against bare TOML
//!   parsing; and building the routing table. Cold paths, measured as a reference.
//!
//! This library holds what the targets share, so that each target is only its
//! measurements and the fixtures are unit-tested: a bench that silently measured a no-match
//! where it meant a match would be worse than none. Run them with
//! `cargo bench -p tidegate-benches`; `docs/performance.md` has the method and the last
//! measured medians.
//!
//! Not yet: the autoscaling policy's decision (observed concurrency over the stable and
//! panic windows to desired instances) is a hot path of the control plane, run per function
//! every tick. Its bench comes with the policy (`scaler/src/policy/`), which does not exist
//! yet.
//!
//! What this crate does not own: the code under measurement. It only calls the public API
//! of `tidegate-proxy`, `tidegate-scaler` and `tidegate-config`, and never asserts on speed.

pub mod fleets;
pub mod queues;
pub mod requests;
pub mod routes;

// The allocator the `tidegate` binary runs with (`proxy/src/main.rs`). Every bench target
// links this library, so each allocates as the proxy does: the header rewrite allocates on
// every request, and the system allocator would price that differently.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
