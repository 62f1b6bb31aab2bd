//! The results of a run as a document: the JSON report (`--report FILE`) and, in
//! [`summary`], the plain-text summary printed at the end.
//!
//! Latencies are milliseconds (fractions allowed); rates are per second. The fields are
//! documented in `loadtest/README.md`; scripts rely on them, so add fields freely but
//! rename none.

pub mod summary;

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::plan::{Mode, Plan};
use super::record::{millis, round};
use super::run::Outcome;
use super::sampler::Point;

/// The report's `tool` field.
pub const TOOL: &str = "tidegate-loadtest";

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always `tidegate-loadtest`.
    pub tool: String,
    /// This crate's version.
    pub version: String,
    /// The scenario's name, if run from one.
    pub scenario: Option<String>,
    /// The scenario's description.
    pub description: Option<String>,
    /// When the run started, seconds since the Unix epoch.
    pub started_at: f64,
    /// What was loaded.
    pub target: TargetReport,
    /// `open` or `closed`.
    pub mode: String,
    /// The open loop's segments; empty for a closed loop.
    pub schedule: Vec<SegmentReport>,
    /// TCP connections.
    pub connections: usize,
    /// Streams per HTTP/2 connection.
    pub streams: usize,
    /// The priority mix as given, or empty.
    pub priorities: String,
    /// From the start until the last answer (or the schedule's end), seconds.
    pub duration_s: f64,
    /// Request counts.
    pub requests: Requests,
    /// Requests sent per second over the run.
    pub offered_rps: f64,
    /// Requests answered per second over the run.
    pub throughput_rps: f64,
    /// Latency of answered requests from when each was due: corrected for coordinated
    /// omission.
    pub latency: Summary,
    /// Latency from the actual send: what the target alone took.
    pub service_time: Summary,
    /// Time requests waited in the generator for a free connection.
    pub generator_wait: Summary,
    /// Corrected latency per response status, keyed by the status code.
    pub by_status: BTreeMap<String, Summary>,
    /// Per priority class, keyed by class name.
    pub by_class: BTreeMap<String, ClassReport>,
    /// Requests without an answer, by cause: `connect`, `timeout`, `http`, `body`.
    pub errors: BTreeMap<String, u64>,
    /// Admin sampling, if any.
    pub admin: Option<AdminReport>,
    /// Seconds between samples of the timeline.
    pub sample_interval_s: f64,
    /// The samples.
    pub timeline: Vec<Point>,
}

/// `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The URL.
    pub url: String,
    /// The Host header or `:authority` sent.
    pub host: String,
    /// `http1` or `http2`.
    pub protocol: String,
    /// The method.
    pub method: String,
}

/// One segment of `schedule`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentReport {
    /// How long, seconds.
    pub duration_s: f64,
    /// Rate at its start, req/s.
    pub from: f64,
    /// Rate at its end, req/s.
    pub to: f64,
}

/// `requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requests {
    /// Sent.
    pub sent: u64,
    /// Answered, whatever the status.
    pub answered: u64,
    /// Answered with a status of 400 or more.
    pub failed_status: u64,
    /// Without an answer (see `errors`).
    pub errors: u64,
    /// Due on the schedule but never sent before it ended: the generator's queue at the end.
    pub missed: u64,
}

/// Percentiles of one histogram; `null` when it is empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// Smallest, ms.
    pub min_ms: Option<f64>,
    /// Mean, ms.
    pub mean_ms: Option<f64>,
    /// Median, ms.
    pub p50_ms: Option<f64>,
    /// 90th percentile, ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// 99.9th percentile, ms.
    pub p999_ms: Option<f64>,
    /// Largest, ms.
    pub max_ms: Option<f64>,
}

/// One entry of `by_class`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    /// Its weight in the mix.
    pub weight: u32,
    /// Requests sent in this class.
    pub sent: u64,
    /// Of those, without an answer.
    pub errors: u64,
    /// Corrected latency of the answered ones.
    pub latency: Summary,
}

/// `admin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminReport {
    /// The admin address sampled.
    pub address: String,
    /// The function sampled.
    pub function: String,
    /// Samples answered.
    pub samples: u64,
    /// Samples that failed.
    pub failures: u64,
    /// What the first failure said.
    pub first_error: Option<String>,
}

impl Summary {
    /// Percentiles of a histogram of microseconds.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        let some = |value: f64| (!histogram.is_empty()).then_some(value);
        Self {
            count: histogram.len(),
            min_ms: some(millis(histogram.min())),
            // The mean is a fraction of a microsecond; nobody needs more than a microsecond.
            mean_ms: some(millis(histogram.mean().round() as u64)),
            p50_ms: some(millis(histogram.value_at_quantile(0.5))),
            p90_ms: some(millis(histogram.value_at_quantile(0.9))),
            p99_ms: some(millis(histogram.value_at_quantile(0.99))),
            p999_ms: some(millis(histogram.value_at_quantile(0.999))),
            max_ms: some(millis(histogram.max())),
        }
    }
}

impl Report {
    /// The report of `outcome`, a run of `plan`.
    pub fn new(plan: &Plan, outcome: &Outcome) -> Self {
        let tally = &outcome.tally;
        let seconds = outcome.elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let (mode, schedule) = match &plan.mode {
            Mode::Open(schedule) => (
                "open",
                schedule
                    .segments()
                    .iter()
                    .map(|s| SegmentReport {
                        duration_s: s.duration.as_secs_f64(),
                        from: s.from,
                        to: s.to,
                    })
                    .collect(),
            ),
            Mode::Closed(_) => ("closed", Vec::new()),
        };
        let failed_status = tally
            .by_status
            .iter()
            .filter(|(status, _)| **status >= 400)
            .map(|(_, histogram)| histogram.len())
            .sum();
        let by_class = plan
            .priorities
            .classes()
            .iter()
            .zip(&tally.by_class)
            .map(|(class, figures)| {
                let report = ClassReport {
                    weight: class.weight,
                    sent: figures.sent,
                    errors: figures.errors,
                    latency: Summary::of(&figures.latency),
                };
                (class.name.clone(), report)
            })
            .collect();
        let timeline = &outcome.timeline;
        let admin = plan.admin.as_ref().map(|admin| AdminReport {
            address: admin.address.clone(),
            function: admin.function.clone(),
            samples: timeline
                .points
                .iter()
                .filter(|p| p.function.is_some())
                .count() as u64,
            failures: timeline.admin_failures,
            first_error: timeline.first_admin_error.clone(),
        });

        Self {
            tool: TOOL.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            scenario: plan.name.clone(),
            description: plan.description.clone(),
            started_at: outcome
                .started_at
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| round(d.as_secs_f64(), 3)),
            target: TargetReport {
                url: plan.target.url.to_string(),
                host: plan.target.host.to_string(),
                protocol: plan.target.protocol.name().to_owned(),
                method: plan.target.method().to_string(),
            },
            mode: mode.to_owned(),
            schedule,
            connections: plan.connections,
            streams: plan.streams,
            priorities: plan.priorities.to_string(),
            duration_s: round(seconds, 6),
            requests: Requests {
                sent: tally.sent,
                answered: tally.answered,
                failed_status,
                errors: tally.errors,
                missed: outcome.missed,
            },
            offered_rps: round(tally.sent as f64 / seconds, 3),
            throughput_rps: round(tally.answered as f64 / seconds, 3),
            latency: Summary::of(&tally.latency),
            service_time: Summary::of(&tally.service),
            generator_wait: Summary::of(&tally.wait),
            by_status: tally
                .by_status
                .iter()
                .map(|(status, histogram)| (status.to_string(), Summary::of(histogram)))
                .collect(),
            by_class,
            errors: tally
                .error_kinds
                .iter()
                .map(|(kind, count)| (kind.name().to_owned(), *count))
                .collect(),
            admin,
            sample_interval_s: plan.sample_interval.as_secs_f64(),
            timeline: timeline.points.clone(),
        }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report has only JSON-representable values")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::record::{histogram, record};

    #[test]
    fn a_summary_gives_percentiles_in_milliseconds() {
        let mut h = histogram();
        for ms in 1..=1000 {
            record(&mut h, std::time::Duration::from_millis(ms));
        }
        let summary = Summary::of(&h);
        assert_eq!(summary.count, 1000);
        let near = |got: Option<f64>, want: f64| (got.unwrap() - want).abs() <= want * 0.002;
        assert!(near(summary.p50_ms, 500.0), "{summary:?}");
        assert!(near(summary.p99_ms, 990.0), "{summary:?}");
        assert!(near(summary.max_ms, 1000.0), "{summary:?}");
        assert!(near(summary.min_ms, 1.0), "{summary:?}");

        let empty = Summary::of(&histogram());
        assert_eq!(empty.count, 0);
        assert_eq!(empty.p99_ms, None);
    }
}
