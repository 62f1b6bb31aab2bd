//! How fast a queue drains, and the `Retry-After` it gives the requests it turns away.
//!
//! The rate is an exponentially decayed count of dispatches: each dispatch adds `1/τ`,
//! and the sum decays by `e^(−Δt/τ)`, which makes it an estimate of dispatches per second
//! over roughly the last τ ([`TAU`]). It needs no buckets or timer, one float per queue,
//! and is updated under the queue's lock, where dispatches happen anyway.
//!
//! The rule (also in `docs/queueing.md`): `Retry-After` = ceil(depth ÷ rate) seconds — the
//! time the queue needs to serve everyone ahead — clamped to at least 1 s and at most the
//! queue timeout (rounded up to whole seconds). With no dispatch seen recently (the rate
//! is near zero) it is the queue timeout: retrying sooner would find the same queue.

use std::time::Duration;

use tokio::time::Instant;

/// The window the drain rate averages over (its decay constant).
pub const TAU: Duration = Duration::from_secs(5);

/// A queue's recent dispatch rate.
#[derive(Debug, Clone)]
pub struct DrainRate {
    // Dispatches per second as of `at`.
    rate: f64,
    at: Instant,
}

impl DrainRate {
    /// A rate of zero, as of `now`.
    pub fn new(now: Instant) -> Self {
        DrainRate { rate: 0.0, at: now }
    }

    /// Counts one dispatch at `now`.
    pub fn record(&mut self, now: Instant) {
        self.rate = self.at_time(now) + 1.0 / TAU.as_secs_f64();
        self.at = now;
    }

    /// Dispatches per second at `now`.
    pub fn per_second(&self, now: Instant) -> f64 {
        self.at_time(now)
    }

    fn at_time(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.rate * (-elapsed / TAU.as_secs_f64()).exp()
    }
}

/// `Retry-After` for a request turned away from a queue `depth` deep that drains at
/// `rate` per second and makes requests wait at most `timeout`.
pub fn retry_after(depth: usize, rate: f64, timeout: Duration) -> Duration {
    let most = Duration::from_secs(timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0))
        .max(Duration::from_secs(1));
    // Below one dispatch a minute the estimate means nothing.
    if rate < 1.0 / 60.0 {
        return most;
    }
    let secs = (depth as f64 / rate).ceil();
    if secs >= most.as_secs_f64() {
        return most;
    }
    Duration::from_secs(secs as u64).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_rate_follows_a_steady_dispatch_rate() {
        let mut rate = DrainRate::new(Instant::now());
        // 20 dispatches a second for a minute.
        for _ in 0..1200 {
            tokio::time::advance(Duration::from_millis(50)).await;
            rate.record(Instant::now());
        }
        let measured = rate.per_second(Instant::now());
        assert!((measured - 20.0).abs() < 1.0, "measured {measured}/s");

        // It decays when dispatches stop.
        tokio::time::advance(TAU * 3).await;
        assert!(rate.per_second(Instant::now()) < 1.1);
    }

    #[test]
    fn retry_after_is_depth_over_rate_clamped() {
        let timeout = Duration::from_secs(10);
        assert_eq!(retry_after(50, 20.0, timeout), Duration::from_secs(3));
        assert_eq!(retry_after(1, 100.0, timeout), Duration::from_secs(1));
        assert_eq!(retry_after(1000, 2.0, timeout), timeout);
        assert_eq!(retry_after(5, 0.0, timeout), timeout, "no drain seen");
        assert_eq!(
            retry_after(5, 0.0, Duration::from_millis(300)),
            Duration::from_secs(1)
        );
    }
}
