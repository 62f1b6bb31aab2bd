//! Hands out send slots: when each request is due.
//!
//! Open loop: the schedule fixes when request `k` is due, whoever sends it. Every worker
//! (one per HTTP/1.1 connection, or per HTTP/2 stream) takes the next unclaimed `k` from one
//! shared counter, waits until it is due, and sends. A worker that comes free late takes a
//! slot that is already overdue and sends at once; the overdue time is the generator's
//! queue, and it counts in the request's latency (see [`super::latency`]). No dispatcher
//! task and no channel sit between the schedule and the connections: claiming a slot is
//! one atomic add.
//!
//! Closed loop: each worker sends again as soon as its previous answer ends, until the
//! deadline; a request is due when it is sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::schedule::Schedule;

/// Where send slots come from.
#[derive(Debug)]
pub enum Pacer {
    /// Slots at the schedule's times.
    Open(OpenPacer),
    /// Back to back until the end.
    Closed {
        /// No request starts at or after this.
        end: Instant,
    },
}

/// The open-loop slot counter.
#[derive(Debug)]
pub struct OpenPacer {
    start: Instant,
    end: Instant,
    schedule: Schedule,
    total: u64,
    /// The next unclaimed request index; may run past `total`, one step per worker that
    /// found nothing left.
    next: AtomicU64,
}

impl Pacer {
    /// An open-loop pacer following `schedule` from `start`.
    pub fn open(schedule: Schedule, start: Instant) -> Self {
        Self::Open(OpenPacer {
            start,
            end: start + schedule.duration(),
            total: schedule.total(),
            schedule,
            next: AtomicU64::new(0),
        })
    }

    /// A closed-loop pacer running from `start` for `duration`.
    pub fn closed(start: Instant, duration: Duration) -> Self {
        Self::Closed {
            end: start + duration,
        }
    }

    /// When the run stops starting requests.
    pub fn end(&self) -> Instant {
        match self {
            Self::Open(open) => open.end,
            Self::Closed { end } => *end,
        }
    }

    /// The next slot's due time, or `None` once the run is over.
    ///
    /// Once the schedule has ended, slots still unclaimed are not sent any more: a backlog
    /// that the target could not absorb would otherwise stretch the run without bound.
    /// They are reported as missed instead.
    pub fn next_slot(&self, now: Instant) -> Option<Instant> {
        match self {
            Self::Open(open) => {
                if now >= open.end {
                    return None;
                }
                let k = open.next.fetch_add(1, Ordering::Relaxed);
                let offset = open.schedule.arrival_time(k)?;
                Some(open.start + Duration::from_secs_f64(offset))
            }
            Self::Closed { end } => (now < *end).then_some(now),
        }
    }

    /// Requests due by `now` that no worker has taken yet: the generator's queue.
    pub fn backlog(&self, now: Instant) -> u64 {
        match self {
            Self::Open(open) => {
                let elapsed = now.saturating_duration_since(open.start).as_secs_f64();
                let due = (open.schedule.arrivals_by(elapsed).ceil() as u64).min(open.total);
                due.saturating_sub(open.claimed())
            }
            Self::Closed { .. } => 0,
        }
    }

    /// Requests the schedule asked for that were never sent; meaningful once the run ends.
    pub fn missed(&self) -> u64 {
        match self {
            Self::Open(open) => open.total.saturating_sub(open.claimed()),
            Self::Closed { .. } => 0,
        }
    }

    /// The schedule, for an open loop.
    pub fn schedule(&self) -> Option<&Schedule> {
        match self {
            Self::Open(open) => Some(&open.schedule),
            Self::Closed { .. } => None,
        }
    }
}

impl OpenPacer {
    fn claimed(&self) -> u64 {
        self.next.load(Ordering::Relaxed).min(self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_slots_follow_the_schedule_then_stop() {
        let start = Instant::now();
        let pacer = Pacer::open(Schedule::parse("1s@4").unwrap(), start);
        let slots: Vec<_> = std::iter::from_fn(|| pacer.next_slot(start)).collect();
        let offsets: Vec<u128> = slots.iter().map(|s| (*s - start).as_millis()).collect();
        assert_eq!(offsets, [0, 250, 500, 750]);
        assert_eq!(pacer.missed(), 0);
    }

    #[test]
    fn overdue_slots_are_the_backlog_and_unsent_ones_are_missed() {
        let start = Instant::now();
        let pacer = Pacer::open(Schedule::parse("1s@100").unwrap(), start);
        let half = start + Duration::from_millis(500);
        assert_eq!(pacer.backlog(half), 50);
        for _ in 0..10 {
            pacer
                .next_slot(half)
                .expect("the schedule is still running");
        }
        assert_eq!(pacer.backlog(half), 40);

        // After the end nothing more is handed out, and what was left is missed.
        assert_eq!(pacer.next_slot(start + Duration::from_secs(1)), None);
        assert_eq!(pacer.missed(), 90);
    }

    #[test]
    fn closed_slots_are_due_at_once_until_the_deadline() {
        let start = Instant::now();
        let pacer = Pacer::closed(start, Duration::from_secs(1));
        let now = start + Duration::from_millis(300);
        assert_eq!(pacer.next_slot(now), Some(now));
        assert_eq!(pacer.next_slot(start + Duration::from_secs(1)), None);
        assert_eq!(pacer.backlog(now), 0);
    }
}
