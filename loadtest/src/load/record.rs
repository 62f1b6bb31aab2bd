//! What the run measured: HDR histograms of latency, overall, per status code and per
//! priority class, plus counts of requests sent, answered and failed.
//!
//! Workers record into shards, one lock each, chosen by worker index: two workers on one
//! shard never wait for each other long (no lock is held across an await), and the sampler
//! that swaps out the per-interval figures every quarter second touches each lock once.
//! One global lock would have every worker of a busy run queueing on it; per-worker
//! histograms would cost a histogram per connection, which is megabytes at 10,000.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::latency::Timing;

/// The largest latency recorded as itself; longer ones count as this. An hour is far past
/// any request timeout.
const MAX_MICROS: u64 = 3_600_000_000;

/// Why a request got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The connection could not be opened.
    Connect,
    /// No complete answer within the request timeout.
    Timeout,
    /// The HTTP exchange failed (reset, protocol error) before the response head.
    Http,
    /// The response head came but its body was cut off.
    Body,
}

impl ErrorKind {
    /// The name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Http => "http",
            Self::Body => "body",
        }
    }
}

/// A latency histogram in microseconds, 3 significant digits, growing as needed.
pub fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is a valid precision")
}

/// Records a duration in microseconds.
pub fn record(histogram: &mut Histogram<u64>, duration: Duration) {
    let micros = u64::try_from(duration.as_micros()).unwrap_or(MAX_MICROS);
    // An auto-resizing histogram accepts any value, so this cannot fail; the clamp keeps
    // one absurd value from growing it without need.
    let _ = histogram.record(micros.min(MAX_MICROS));
}

/// Microseconds as milliseconds, for reports: `1234` → `1.234`.
pub fn millis(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// Rounds to `decimals` places, so reports say `99.773` rather than `99.77299150108716`.
pub fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10_f64.powi(decimals);
    (value * scale).round() / scale
}

/// Figures for one priority class.
#[derive(Debug, Clone)]
pub struct ClassTally {
    /// Requests sent in this class.
    pub sent: u64,
    /// Requests without an answer.
    pub errors: u64,
    /// Corrected latency of answered requests, µs.
    pub latency: Histogram<u64>,
}

/// Everything counted over a whole run (or, merged, over all shards).
#[derive(Debug, Clone)]
pub struct Tally {
    /// Requests sent.
    pub sent: u64,
    /// Requests answered, whatever the status.
    pub answered: u64,
    /// Requests without an answer.
    pub errors: u64,
    /// Corrected latency of answered requests (from when each was due), µs.
    pub latency: Histogram<u64>,
    /// Uncorrected latency, from the actual send, µs.
    pub service: Histogram<u64>,
    /// Time spent waiting in the generator for a free connection, µs.
    pub wait: Histogram<u64>,
    /// Corrected latency per response status.
    pub by_status: BTreeMap<u16, Histogram<u64>>,
    /// Per priority class, in the mix's order.
    pub by_class: Vec<ClassTally>,
    /// Requests without an answer, by cause.
    pub error_kinds: BTreeMap<ErrorKind, u64>,
}

/// What happened within one sample interval.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Requests sent.
    pub sent: u64,
    /// Requests answered.
    pub answered: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Corrected latency of the requests answered, µs.
    pub latency: Histogram<u64>,
}

impl Tally {
    fn new(classes: usize) -> Self {
        Self {
            sent: 0,
            answered: 0,
            errors: 0,
            latency: histogram(),
            service: histogram(),
            wait: histogram(),
            by_status: BTreeMap::new(),
            by_class: (0..classes)
                .map(|_| ClassTally {
                    sent: 0,
                    errors: 0,
                    latency: histogram(),
                })
                .collect(),
            error_kinds: BTreeMap::new(),
        }
    }

    fn merge(&mut self, other: &Self) {
        self.sent += other.sent;
        self.answered += other.answered;
        self.errors += other.errors;
        add(&mut self.latency, &other.latency);
        add(&mut self.service, &other.service);
        add(&mut self.wait, &other.wait);
        for (status, histogram) in &other.by_status {
            add(
                self.by_status
                    .entry(*status)
                    .or_insert_with(self::histogram),
                histogram,
            );
        }
        for (mine, theirs) in self.by_class.iter_mut().zip(&other.by_class) {
            mine.sent += theirs.sent;
            mine.errors += theirs.errors;
            add(&mut mine.latency, &theirs.latency);
        }
        for (kind, count) in &other.error_kinds {
            *self.error_kinds.entry(*kind).or_default() += count;
        }
    }
}

impl Interval {
    fn new() -> Self {
        Self {
            sent: 0,
            answered: 0,
            errors: 0,
            latency: histogram(),
        }
    }
}

fn add(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    // Both auto-resize, so adding cannot run out of range.
    let _ = into.add(from);
}

#[derive(Debug)]
struct Shard {
    total: Tally,
    interval: Interval,
}

/// The shared recorder of a run.
#[derive(Debug)]
pub struct Recorder {
    shards: Box<[Mutex<Shard>]>,
    classes: usize,
}

impl Recorder {
    /// A recorder with `shards` locks for a mix of `classes` priority classes.
    pub fn new(shards: usize, classes: usize) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| {
                Mutex::new(Shard {
                    total: Tally::new(classes),
                    interval: Interval::new(),
                })
            })
            .collect();
        Self { shards, classes }
    }

    /// The shard for worker `index`.
    pub fn shard_of(&self, index: usize) -> usize {
        index % self.shards.len()
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panicking worker leaves counts that are still counts.
        self.shards[shard]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A request of `class` goes out.
    pub fn sent(&self, shard: usize, class: Option<usize>) {
        let mut shard = self.lock(shard);
        shard.total.sent += 1;
        shard.interval.sent += 1;
        if let Some(class) = class {
            shard.total.by_class[class].sent += 1;
        }
    }

    /// A request was answered with `status`.
    pub fn answered(&self, shard: usize, class: Option<usize>, status: u16, timing: &Timing) {
        let latency = timing.latency();
        let mut guard = self.lock(shard);
        let shard = &mut *guard;
        let total = &mut shard.total;
        total.answered += 1;
        record(&mut total.latency, latency);
        record(&mut total.service, timing.service_time());
        record(&mut total.wait, timing.wait());
        record(
            total.by_status.entry(status).or_insert_with(histogram),
            latency,
        );
        if let Some(class) = class {
            record(&mut total.by_class[class].latency, latency);
        }
        shard.interval.answered += 1;
        record(&mut shard.interval.latency, latency);
    }

    /// A request got no answer.
    pub fn failed(&self, shard: usize, class: Option<usize>, kind: ErrorKind) {
        let mut shard = self.lock(shard);
        shard.total.errors += 1;
        *shard.total.error_kinds.entry(kind).or_default() += 1;
        if let Some(class) = class {
            shard.total.by_class[class].errors += 1;
        }
        shard.interval.errors += 1;
    }

    /// The interval figures since the last call, merged over shards, and a fresh interval.
    pub fn take_interval(&self) -> Interval {
        let mut merged = Interval::new();
        for index in 0..self.shards.len() {
            let mut shard = self.lock(index);
            let interval = &mut shard.interval;
            merged.sent += interval.sent;
            merged.answered += interval.answered;
            merged.errors += interval.errors;
            add(&mut merged.latency, &interval.latency);
            interval.sent = 0;
            interval.answered = 0;
            interval.errors = 0;
            interval.latency.reset();
        }
        merged
    }

    /// Sent, answered and failed so far, for the progress line.
    pub fn counts(&self) -> (u64, u64, u64) {
        (0..self.shards.len()).fold((0, 0, 0), |(s, a, e), index| {
            let shard = self.lock(index);
            let total = &shard.total;
            (s + total.sent, a + total.answered, e + total.errors)
        })
    }

    /// Everything so far, merged over shards.
    pub fn total(&self) -> Tally {
        let mut merged = Tally::new(self.classes);
        for index in 0..self.shards.len() {
            merged.merge(&self.lock(index).total);
        }
        merged
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;

    fn timing(wait_ms: u64, service_ms: u64) -> Timing {
        let intended = Instant::now();
        let sent = intended + Duration::from_millis(wait_ms);
        Timing {
            intended,
            sent,
            done: sent + Duration::from_millis(service_ms),
        }
    }

    #[test]
    fn shards_merge_into_one_tally() {
        let recorder = Recorder::new(3, 2);
        for worker in 0..6 {
            let shard = recorder.shard_of(worker);
            let class = Some(worker % 2);
            recorder.sent(shard, class);
            if worker == 5 {
                recorder.failed(shard, class, ErrorKind::Timeout);
            } else {
                let status = if worker == 4 { 503 } else { 200 };
                recorder.answered(shard, class, status, &timing(worker as u64, 10));
            }
        }

        let total = recorder.total();
        assert_eq!((total.sent, total.answered, total.errors), (6, 5, 1));
        assert_eq!(total.by_status[&200].len(), 4);
        assert_eq!(total.by_status[&503].len(), 1);
        assert_eq!(total.by_class[0].latency.len(), 3);
        assert_eq!(total.by_class[1].errors, 1);
        assert_eq!(total.error_kinds[&ErrorKind::Timeout], 1);
        // The corrected latency includes the wait; the service time does not.
        assert!(total.latency.max() >= 14_000);
        assert!(total.service.max() < 10_100);
        assert_eq!(recorder.counts(), (6, 5, 1));
    }

    #[test]
    fn intervals_start_afresh_after_each_take() {
        let recorder = Recorder::new(2, 0);
        recorder.sent(0, None);
        recorder.answered(1, None, 200, &timing(0, 3));
        let first = recorder.take_interval();
        assert_eq!((first.sent, first.answered, first.latency.len()), (1, 1, 1));
        let second = recorder.take_interval();
        assert_eq!(
            (second.sent, second.answered, second.latency.len()),
            (0, 0, 0)
        );
        assert_eq!(recorder.total().answered, 1);
    }
}
