//! [`Window`]: the recent values of one signal, kept for a fixed span of time.
//!
//! The policy averages concurrency over the stable and panic windows, averages each other
//! trigger over the stable window, and holds the largest recent desire over the scale-down
//! delay. All of those are this one type.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Values of one signal at the times they were observed, for the last `span`.
///
/// The average is the plain mean of the values inside the span, not a time-weighted one:
/// samples arrive once per `tick`, so every value stands for the same length of time and
/// the two agree. A time-weighted mean would only matter for irregular samples, which the
/// scaler does not produce.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    span: Duration,
    /// Oldest first; `at` never decreases (later pushes with an earlier time are clamped).
    points: VecDeque<(Instant, f64)>,
}

impl Window {
    /// An empty window over `span`.
    pub(crate) fn new(span: Duration) -> Self {
        Self {
            span,
            points: VecDeque::new(),
        }
    }

    /// Records `value` as observed at `at`.
    pub(crate) fn push(&mut self, at: Instant, value: f64) {
        // Samples come in order; clamping keeps the deque sorted even if one does not, so
        // pruning from the front stays correct.
        let at = match self.points.back() {
            Some(&(last, _)) if at < last => last,
            _ => at,
        };
        self.points.push_back((at, value));
    }

    /// Forgets values that fell out of the span ending at `now`: a value at `at` is inside
    /// while `now - at < span`, so a 6 s window at a 1 s tick holds six values.
    pub(crate) fn prune(&mut self, now: Instant) {
        while let Some(&(at, _)) = self.points.front() {
            if now.saturating_duration_since(at) < self.span {
                break;
            }
            self.points.pop_front();
        }
    }

    /// Mean of the values inside the span ending at `now`, or `None` when there are none.
    pub(crate) fn mean(&mut self, now: Instant) -> Option<f64> {
        self.prune(now);
        if self.points.is_empty() {
            return None;
        }
        let sum: f64 = self.points.iter().map(|&(_, v)| v).sum();
        Some(sum / self.points.len() as f64)
    }

    /// Largest value inside the span ending at `now`, or `None` when there are none.
    pub(crate) fn max(&mut self, now: Instant) -> Option<f64> {
        self.prune(now);
        self.points.iter().map(|&(_, v)| v).reduce(f64::max)
    }

    /// Forgets every value.
    pub(crate) fn clear(&mut self) {
        self.points.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn mean_and_max_cover_only_the_span() {
        let t0 = Instant::now();
        let mut window = Window::new(Duration::from_secs(3));
        for (s, v) in [(0, 9.0), (1, 1.0), (2, 2.0), (3, 3.0)] {
            window.push(t0 + Duration::from_secs(s), v);
        }

        // At t=3 the value from t=0 is exactly one span old, so it is out.
        let now = t0 + Duration::from_secs(3);
        assert_eq!(window.mean(now), Some(2.0));
        assert_eq!(window.max(now), Some(3.0));

        let later = t0 + Duration::from_secs(10);
        assert_eq!(window.mean(later), None);
        assert_eq!(window.max(later), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_span_holds_nothing() {
        let t0 = Instant::now();
        let mut window = Window::new(Duration::ZERO);
        window.push(t0, 5.0);
        assert_eq!(window.max(t0), None);
    }
}
