//! What a request's latency is, corrected for coordinated omission.
//!
//! A load generator that waits for a slow answer before sending the next request quietly
//! stops offering load exactly when the server struggles, and the requests it never sent
//! never show up as slow: the histogram looks fine while users would have waited. The
//! correction is to measure each request from when it was *due* (its intended send time on
//! the schedule), not from when a connection was free to send it. Waiting in the
//! generator's own queue then counts, as a user's wait would.

use std::time::Duration;

use tokio::time::Instant;

/// The three moments of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// When the schedule said to send it. In a closed loop, the same as `sent`.
    pub intended: Instant,
    /// When it actually went out.
    pub sent: Instant,
    /// When its response ended (or it failed).
    pub done: Instant,
}

impl Timing {
    /// The latency a user would have seen: from the earlier of due and sent, to done.
    ///
    /// Usually a request goes out on time or late, and the latency runs from when it was
    /// due. It can also go out slightly early, because the generator wakes a little before
    /// the due time rather than risk the timer's lateness; then the latency runs from the
    /// real send, since nobody waited before that.
    pub fn latency(&self) -> Duration {
        self.done
            .saturating_duration_since(self.intended.min(self.sent))
    }

    /// The uncorrected latency, from the actual send: what the server alone took.
    pub fn service_time(&self) -> Duration {
        self.done.saturating_duration_since(self.sent)
    }

    /// How long the request waited in the generator for a free connection.
    pub fn wait(&self) -> Duration {
        self.sent.saturating_duration_since(self.intended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_request_sent_on_time_has_no_correction() {
        let t0 = Instant::now();
        let timing = Timing {
            intended: t0,
            sent: t0,
            done: t0 + ms(5),
        };
        assert_eq!(timing.latency(), ms(5));
        assert_eq!(timing.service_time(), ms(5));
        assert_eq!(timing.wait(), Duration::ZERO);
    }

    #[test]
    fn a_queued_request_counts_its_wait() {
        // Due at 0, sent at 40 ms when a connection came free, answered 10 ms later: the
        // user waited 50 ms although the server took 10.
        let t0 = Instant::now();
        let timing = Timing {
            intended: t0,
            sent: t0 + ms(40),
            done: t0 + ms(50),
        };
        assert_eq!(timing.latency(), ms(50));
        assert_eq!(timing.service_time(), ms(10));
        assert_eq!(timing.wait(), ms(40));
        assert_eq!(timing.latency(), timing.wait() + timing.service_time());
    }

    #[test]
    fn a_request_sent_early_counts_from_its_send() {
        let t0 = Instant::now();
        let timing = Timing {
            intended: t0 + ms(1),
            sent: t0,
            done: t0 + ms(3),
        };
        assert_eq!(timing.latency(), ms(3));
        assert_eq!(timing.wait(), Duration::ZERO);
    }

    #[test]
    fn a_backlog_grows_latency_linearly() {
        // One connection, a server taking 50 ms, requests due every 10 ms: request k goes
        // out at 50k ms, so its latency is 50k + 50 − 10k = 40k + 50 ms.
        let t0 = Instant::now();
        for k in 0..20_u64 {
            let timing = Timing {
                intended: t0 + ms(10 * k),
                sent: t0 + ms(50 * k),
                done: t0 + ms(50 * k + 50),
            };
            assert_eq!(timing.latency(), ms(40 * k + 50));
            assert_eq!(timing.service_time(), ms(50));
        }
    }
}
