//! Prometheus metrics: the recorder, the names of DESIGN.md, and per-request recording.
//!
//! The scaler records its own events (`tidegate_scale_events_total`,
//! `tidegate_cold_starts_total`, `tidegate_cold_start_seconds`; see
//! `tidegate_scaler::controller`) through the same global recorder.
//!
//! Request counters are looked up once per (function, status) per worker thread and then
//! kept, so recording a request costs an atomic add and a histogram insert, not a label
//! lookup. Gauges that describe state (in flight, instances) are set when `/metrics` is
//! scraped rather than on every change.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use metrics::{Counter, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::cache::Outcome;
use crate::idhash::IdBuildHasher;
use crate::state::Shared;

/// `tidegate_requests_total{function,status}`.
pub const REQUESTS_TOTAL: &str = "tidegate_requests_total";
/// `tidegate_request_duration_seconds{function}`.
pub const REQUEST_DURATION: &str = "tidegate_request_duration_seconds";
/// `tidegate_in_flight{function}`.
pub const IN_FLIGHT: &str = "tidegate_in_flight";
/// `tidegate_instances{function,state}`.
pub const INSTANCES: &str = "tidegate_instances";
/// `tidegate_desired_instances{function}`.
pub const DESIRED_INSTANCES: &str = "tidegate_desired_instances";
/// `tidegate_queue_depth{function,priority}`.
pub const QUEUE_DEPTH: &str = "tidegate_queue_depth";
/// `tidegate_queue_wait_seconds{function,priority}`: time from queueing to a slot.
pub const QUEUE_WAIT: &str = "tidegate_queue_wait_seconds";
/// `tidegate_queue_rejected_total{function,reason}`: requests that left the queue without
/// a slot (`full`, `displaced`, `timeout`, `scale_failed`, `shutting_down`).
pub const QUEUE_REJECTED: &str = "tidegate_queue_rejected_total";
/// `tidegate_queue_unknown_priority_total{function}`: priority header values that named no
/// configured class (the request fell back to the route's or the default class).
pub const QUEUE_UNKNOWN_PRIORITY: &str = "tidegate_queue_unknown_priority_total";
/// `tidegate_panic_mode{function}`: 1 while the policy is in panic mode.
pub const PANIC_MODE: &str = "tidegate_panic_mode";

/// `tidegate_cache_requests_total{function,result}`.
pub const CACHE_REQUESTS_TOTAL: &str = "tidegate_cache_requests_total";
/// `tidegate_cache_bytes{function}`.
pub const CACHE_BYTES: &str = "tidegate_cache_bytes";

/// Label value for requests that matched no function.
const NO_FUNCTION: &str = "";

/// Installs the global recorder and returns the handle `/metrics` renders from.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        60.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)?
        .install_recorder()?;
    Ok(handle)
}

/// Sets the state gauges from the fleets, just before a scrape renders them.
pub fn update_gauges(shared: &Shared) {
    for function in &shared.functions {
        let name = function.name.to_string();
        let fleet = &function.fleet;
        let counts = fleet.counts();
        gauge!(IN_FLIGHT, "function" => name.clone()).set(fleet.in_flight() as f64);
        for (state, n) in [
            ("starting", counts.starting),
            ("ready", counts.ready),
            ("draining", counts.draining),
        ] {
            gauge!(INSTANCES, "function" => name.clone(), "state" => state).set(n as f64);
        }
        let (desired, panic) = match &function.scale {
            Some(handle) => (handle.desired() as usize, handle.panic()),
            None => (counts.ready, false),
        };
        gauge!(DESIRED_INSTANCES, "function" => name.clone()).set(desired as f64);
        gauge!(PANIC_MODE, "function" => name.clone()).set(if panic { 1.0 } else { 0.0 });
        for (class, depth) in function.queue.snapshot().depths {
            gauge!(QUEUE_DEPTH, "function" => name.clone(), "priority" => class.to_string())
                .set(depth as f64);
        }
        // The cache counts in atomics on the request path; the counters are brought up to
        // date here, at scrape time.
        if let Some(cache) = &function.cache {
            for outcome in Outcome::ALL {
                let result = outcome.label();
                counter!(CACHE_REQUESTS_TOTAL, "function" => name.clone(), "result" => result)
                    .absolute(cache.counted(outcome));
            }
            gauge!(CACHE_BYTES, "function" => name).set(cache.bytes() as f64);
        }
    }
}

/// One worker thread's cached metric handles.
#[derive(Debug)]
pub struct RequestMetrics {
    names: Vec<Arc<str>>,
    durations: Vec<Histogram>,
    counters: RefCell<HashMap<(usize, u16), Counter, IdBuildHasher>>,
}

impl RequestMetrics {
    /// Handles for the functions of `shared`, in their order.
    pub fn new(shared: &Shared) -> Self {
        let names: Vec<Arc<str>> = shared.functions.iter().map(|f| f.name.clone()).collect();
        let durations = names
            .iter()
            .map(|n| histogram!(REQUEST_DURATION, "function" => n.to_string()))
            .collect();
        RequestMetrics {
            names,
            durations,
            counters: RefCell::new(HashMap::default()),
        }
    }

    /// Records a finished request of `function` (`None`: no route matched).
    pub fn record(&self, function: Option<usize>, status: StatusCode, elapsed: Duration) {
        let index = function.unwrap_or(usize::MAX);
        let key = (index, status.as_u16());
        let mut counters = self.counters.borrow_mut();
        let counter = counters.entry(key).or_insert_with(|| {
            let name = function.map_or(NO_FUNCTION.to_string(), |i| self.names[i].to_string());
            counter!(REQUESTS_TOTAL, "function" => name, "status" => status.as_str().to_owned())
        });
        counter.increment(1);
        if let Some(i) = function {
            self.durations[i].record(elapsed.as_secs_f64());
        }
    }
}
