//! The timeline: every sample interval, what the generator offered, what came back, how
//! fast, and (with an admin address) the function's instances and queue at that moment.
//!
//! This is what turns a scaling scenario into a picture: load steps up, the queue fills,
//! instances start, latency peaks and falls back.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::admin::{AdminClient, FunctionSample};
use super::pacer::Pacer;
use super::record::{Recorder, millis, round};

/// One sample of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Seconds from the start of the run to the end of this interval.
    pub t: f64,
    /// Seconds this interval covers.
    pub interval: f64,
    /// The schedule's mean rate over this interval, for an open loop: what `offered_rps`
    /// should be.
    pub target_rps: Option<f64>,
    /// Requests sent per second in this interval.
    pub offered_rps: f64,
    /// Requests answered per second in this interval.
    pub throughput_rps: f64,
    /// Requests that failed in this interval.
    pub errors: u64,
    /// Median corrected latency of the requests answered in this interval, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile of the same, ms.
    pub p99_ms: Option<f64>,
    /// Requests due but not yet sent at `t`: the generator's own queue.
    pub backlog: u64,
    /// The function's state from the admin API, when sampled and answered.
    pub function: Option<FunctionSample>,
}

/// The timeline of a run and how the admin sampling went.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    /// The samples, in time order.
    pub points: Vec<Point>,
    /// Admin samples that failed.
    pub admin_failures: u64,
    /// The first admin failure, which usually says what is wrong (address, token).
    pub first_admin_error: Option<String>,
}

/// Takes the samples.
#[derive(Debug)]
pub struct Sampler {
    /// Where the counts come from.
    pub recorder: std::sync::Arc<Recorder>,
    /// The slots, for the backlog and the target rate.
    pub pacer: std::sync::Arc<Pacer>,
    /// The start of the run.
    pub start: Instant,
    /// How often to sample.
    pub interval: Duration,
    /// The admin API, if sampled.
    pub admin: Option<AdminClient>,
    /// Each sample as it is taken, for the progress line.
    pub latest: watch::Sender<Option<Point>>,
}

impl Sampler {
    /// Samples every interval until `stop` fires, then once more to close the last
    /// (partial) interval.
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) -> Timeline {
        let mut timeline = Timeline::default();
        let mut ticker = tokio::time::interval_at(self.start + self.interval, self.interval);
        // A late tick (a busy machine) is taken late, not made up for with a burst: each
        // point divides by the time it really covers.
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last = self.start;
        loop {
            let stopping = tokio::select! {
                _ = ticker.tick() => false,
                _ = &mut stop => true,
            };
            let now = Instant::now();
            if now.duration_since(last) >= Duration::from_millis(1) {
                let point = self.sample(now, last, &mut timeline).await;
                let _ = self.latest.send(Some(point.clone()));
                timeline.points.push(point);
                last = now;
            }
            if stopping {
                return timeline;
            }
        }
    }

    async fn sample(&mut self, now: Instant, last: Instant, timeline: &mut Timeline) -> Point {
        let interval = self.recorder.take_interval();
        let seconds = now.duration_since(last).as_secs_f64();
        let t = now.duration_since(self.start).as_secs_f64();
        let t_last = last.duration_since(self.start).as_secs_f64();
        let quantile = |q| {
            (!interval.latency.is_empty()).then(|| millis(interval.latency.value_at_quantile(q)))
        };

        let function = match self.admin.as_mut() {
            // Never longer than an interval, so a hung admin API cannot stall the timeline.
            Some(admin) => match admin
                .sample(self.interval.max(Duration::from_millis(100)))
                .await
            {
                Ok(sample) => Some(sample),
                Err(error) => {
                    timeline.admin_failures += 1;
                    timeline
                        .first_admin_error
                        .get_or_insert_with(|| with_causes(&error));
                    None
                }
            },
            None => None,
        };

        // Times to the microsecond and rates to a thousandth: more digits are noise.
        Point {
            t: round(t, 6),
            interval: round(seconds, 6),
            target_rps: self
                .pacer
                .schedule()
                .map(|s| round((s.arrivals_by(t) - s.arrivals_by(t_last)) / seconds, 3)),
            offered_rps: round(interval.sent as f64 / seconds, 3),
            throughput_rps: round(interval.answered as f64 / seconds, 3),
            errors: interval.errors,
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
            backlog: self.pacer.backlog(now),
            function,
        }
    }
}

/// An error and its causes on one line: `a: b: c`.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
