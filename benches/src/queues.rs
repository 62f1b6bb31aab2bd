//! Fixtures for the queue bench: the class mix, and the naive peer the queue's per-class
//! lines are measured against.
//!
//! The peer is the obvious design: one vector of waiters, scanned whole at each dispatch
//! for the most urgent (lowest effective class after aging, oldest on a tie). It is
//! correct, and its dispatch costs O(depth); the lines compare the class heads only.

use std::time::Duration;

use tidegate_proxy::queue::{Lines, Live};
use tokio::time::Instant;

/// The depths the bench measures at.
pub const DEPTHS: [usize; 3] = [10, 10_000, 100_000];

/// Classes: high, normal, low.
pub const CLASSES: usize = 3;

/// The aging interval of the fixtures (the config default).
pub const AGING: Duration = Duration::from_secs(5);

/// The class of the `i`-th request in a 10/30/60 % high/normal/low mix.
pub fn class_of(i: u64) -> usize {
    match i % 10 {
        0 => 0,
        1..=3 => 1,
        _ => 2,
    }
}

/// A waiter that never gives up: the bench measures ordering, not cancellation.
#[derive(Debug, Clone, Copy)]
pub struct Waiting;

impl Live for Waiting {
    fn is_live(&self) -> bool {
        true
    }
}

/// Lines holding `depth` waiters of the mix, queued a microsecond apart before `now`.
pub fn filled_lines(depth: usize, now: Instant) -> Lines<Waiting> {
    let mut lines = Lines::new(CLASSES, AGING);
    for i in 0..depth as u64 {
        let since = now - Duration::from_micros(depth as u64 - i);
        lines.push(class_of(i), since, Waiting);
    }
    lines
}

/// The naive peer: one vector, scanned at each dispatch.
#[derive(Debug, Default)]
pub struct VecQueue {
    waiters: Vec<(usize, Instant, u64)>,
    next_seq: u64,
}

impl VecQueue {
    /// A peer holding the same waiters as [`filled_lines`].
    pub fn filled(depth: usize, now: Instant) -> Self {
        let mut queue = VecQueue::default();
        for i in 0..depth as u64 {
            queue.push(class_of(i), now - Duration::from_micros(depth as u64 - i));
        }
        queue
    }

    /// Queues a waiter of `class`.
    pub fn push(&mut self, class: usize, since: Instant) {
        self.waiters.push((class, since, self.next_seq));
        self.next_seq += 1;
    }

    /// Removes the most urgent waiter at `now`, returning its class and arrival number.
    pub fn pop_most_urgent(&mut self, now: Instant) -> Option<(usize, u64)> {
        let steps = |since: Instant| {
            (now.saturating_duration_since(since).as_nanos() / AGING.as_nanos()) as usize
        };
        let at = (0..self.waiters.len()).min_by_key(|&i| {
            let (class, since, seq) = self.waiters[i];
            (class.saturating_sub(steps(since)), seq)
        })?;
        let (class, _, seq) = self.waiters.swap_remove(at);
        Some((class, seq))
    }

    /// Waiters queued.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_dispatches_in_the_same_order_as_the_lines() {
        let now = Instant::now();
        let mut lines = filled_lines(1000, now);
        let mut peer = VecQueue::filled(1000, now);
        for _ in 0..1000 {
            let (class, entry) = lines.pop_most_urgent(now).expect("same depth");
            let (peer_class, peer_seq) = peer.pop_most_urgent(now).expect("same depth");
            assert_eq!((class, entry.seq), (peer_class, peer_seq));
        }
        assert!(peer.is_empty() && lines.is_empty());
    }
}
