//! Each function's priority queue: where requests wait while no instance has a free slot.
//!
//! The parts, one concept per file:
//!
//! - [`class`]: which class a request waits in, and how long it may wait.
//! - [`lines`]: the ordered structure — a FIFO line per class, aging, lazy cancellation.
//! - [`drain`]: the recent drain rate, and the `Retry-After` derived from it.
//! - [`stats`]: the queue's metrics.
//!
//! This file joins them to the fleet. A request that finds no free slot becomes a
//! [`Waiter`]: its entry in the [`Lines`] is the sending half of a one-shot channel, and the
//! request awaits the receiving half. The fleet calls [`Queue::offer`] (through
//! [`SlotHandoff`]) after every release and whenever capacity appears; `offer` leases the
//! free slot itself and sends the [`Lease`] to the most urgent live waiter. So one freed
//! slot wakes exactly one request, the one that gets it, and dispatch costs O(classes)
//! however deep the queue is.
//!
//! Invariants, all kept under the one lock (`inner`):
//!
//! - every send to a waiter happens under the lock, and so does every withdrawal (the
//!   waiter closing its receiver), so an entry is either answered or withdrawn, never
//!   both, and the depth count is exact;
//! - a lease is never dropped under the lock: dropping one releases its slot, which calls
//!   `offer`, which takes the lock.
//!
//! The lost wake-up between "no free slot" and "queued" is closed by re-offering after
//! queueing, with a `SeqCst` fence on both sides (here and in `Fleet`'s release): either
//! the release sees the new waiter, or the waiter's re-offer sees the released slot.

mod class;
mod drain;
pub mod lines;
mod stats;

pub use class::{Classes, QUEUE_TIMEOUT_HEADER, Resolved, wait_limit};
pub use drain::{DrainRate, retry_after};
pub use lines::{Entry, Lines, Live};
pub use stats::Reason;

use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http::HeaderMap;
use tidegate_config::Queue as QueueConfig;
use tidegate_scaler::{Fleet, Lease, SlotHandoff};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::error::ProxyError;
use stats::Stats;

/// What a waiter is answered with: a slot, or the reason it gets none.
type Grant = Result<Lease, Refusal>;

/// Why a waiter leaves the queue without a slot, when the queue decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A more urgent request took its place in a full queue.
    Displaced {
        /// The `Retry-After` it is answered with.
        retry_after: Duration,
    },
    /// The function's instances fail to start.
    ScaleFailed,
    /// The shutdown grace period ran out.
    ShuttingDown,
}

impl From<Refusal> for ProxyError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Displaced { retry_after } => ProxyError::QueueFull { retry_after },
            Refusal::ScaleFailed => ProxyError::ScaleFailed,
            Refusal::ShuttingDown => ProxyError::ShuttingDown,
        }
    }
}

impl Live for oneshot::Sender<Grant> {
    fn is_live(&self) -> bool {
        // The waiter closes its receiver (under the queue's lock) when it gives up.
        !self.is_closed()
    }
}

/// A function's queue of requests waiting for an instance slot.
#[derive(Debug)]
pub struct Queue {
    function: Arc<str>,
    classes: Classes,
    max_depth: usize,
    timeout: Duration,
    // Live waiters, mirrored from `inner` on every change: read without the lock by the
    // fast path, by every release, and by the controller.
    depth: AtomicUsize,
    inner: Mutex<Inner>,
    stats: Stats,
}

#[derive(Debug)]
struct Inner {
    lines: Lines<oneshot::Sender<Grant>>,
    drain: DrainRate,
}

/// What the admin API shows of a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Waiters per class, in class order, by the class they were queued in.
    pub depths: Vec<(Box<str>, usize)>,
    /// How long the longest waiter has waited.
    pub oldest_wait: Option<Duration>,
    /// Recent dispatches from the queue per second.
    pub drain_per_second: f64,
}

impl Queue {
    /// The queue of `function`, configured by its `[functions.NAME.queue]` table.
    pub fn new(function: Arc<str>, config: &QueueConfig) -> Self {
        let classes = Classes::new(config);
        let stats = Stats::new(&function, classes.names());
        Queue {
            function,
            max_depth: config.max_depth,
            timeout: config.timeout,
            depth: AtomicUsize::new(0),
            inner: Mutex::new(Inner {
                lines: Lines::new(classes.names().len(), config.aging),
                drain: DrainRate::new(Instant::now()),
            }),
            classes,
            stats,
        }
    }

    /// Requests waiting now.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::SeqCst)
    }

    /// The configured longest wait.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The class of a request (see [`class`]); an unknown header value is counted.
    pub fn class_of(&self, headers: &HeaderMap, route_priority: Option<&str>) -> usize {
        let resolved = self.classes.resolve(headers, route_priority);
        if resolved.unknown {
            self.stats.unknown_priority();
            tracing::debug!(
                function = %self.function,
                "unknown priority class; using the fallback",
            );
        }
        resolved.class
    }

    /// The class names, most urgent first.
    pub fn class_names(&self) -> &[Box<str>] {
        self.classes.names()
    }

    /// A slot at once, when nobody waits and one is free. Takes no lock: this is every
    /// request's path when the function keeps up. When others wait, a newcomer queues
    /// behind them rather than take a slot they are owed.
    pub fn try_now(&self, fleet: &Arc<Fleet>) -> Option<Lease> {
        if self.depth.load(Ordering::SeqCst) != 0 {
            return None;
        }
        fleet.try_acquire()
    }

    /// Queues a request of `class` that may wait `wait`. A full queue refuses it with
    /// `QUEUE_FULL`, unless it is more urgent than the least urgent waiter, which it then
    /// displaces (the newest of that class, answered `QUEUE_FULL`). A request that may
    /// not wait at all gets `QUEUE_TIMEOUT` at once.
    pub fn enqueue(
        &self,
        fleet: &Arc<Fleet>,
        class: usize,
        wait: Duration,
    ) -> Result<Waiter<'_>, ProxyError> {
        if wait.is_zero() {
            // A client that will not wait at all (`x-tidegate-queue-timeout: 0`) is not
            // queued, so it cannot displace anyone.
            self.stats.rejected(Reason::Timeout);
            return Err(ProxyError::QueueTimeout);
        }
        let now = Instant::now();
        let (sender, receiver) = oneshot::channel();
        {
            let mut inner = self.lock();
            if inner.lines.len() >= self.max_depth {
                let retry_after = self.retry_after(&inner, now);
                match inner.lines.least_urgent(now) {
                    Some((victim_class, effective)) if class < effective => {
                        let victim = inner
                            .lines
                            .pop_newest(victim_class)
                            .expect("least_urgent found a live entry in this class");
                        // Live under this lock, so the send reaches it; no lease to lose.
                        let _ = victim.item.send(Err(Refusal::Displaced { retry_after }));
                        self.stats.rejected(Reason::Displaced);
                    }
                    _ => {
                        drop(inner);
                        self.stats.rejected(Reason::Full);
                        return Err(ProxyError::QueueFull { retry_after });
                    }
                }
            }
            inner.lines.push(class, now, sender);
            self.depth.store(inner.lines.len(), Ordering::SeqCst);
        }

        // Re-check the fleet now that releases can see us (see the module's notes).
        fence(Ordering::SeqCst);
        self.offer(fleet);
        Ok(Waiter {
            queue: self,
            receiver,
            class,
            since: now,
            deadline: now + wait,
            done: false,
        })
    }

    /// Hands free slots to the most urgent waiters, one slot per waiter, until either runs
    /// out. Answers everyone `SCALE_FAILED` when the fleet is failing with nothing ready.
    pub fn offer(&self, fleet: &Arc<Fleet>) {
        while self.depth.load(Ordering::SeqCst) != 0 {
            let Some(lease) = fleet.try_acquire() else {
                if fleet.is_failing() && fleet.counts().ready == 0 {
                    self.refuse_all(Refusal::ScaleFailed);
                }
                return;
            };
            let unused = {
                let mut inner = self.lock();
                let now = Instant::now();
                let mut lease = Some(lease);
                while let Some(grant) = lease.take() {
                    let Some((_, entry)) = inner.lines.pop_most_urgent(now) else {
                        lease = Some(grant);
                        break;
                    };
                    match entry.item.send(Ok(grant)) {
                        Ok(()) => inner.drain.record(now),
                        // Withdrawn entries are skipped by `pop_most_urgent`, so this is
                        // only defence: keep the lease for the next waiter.
                        Err(returned) => lease = returned.ok(),
                    }
                }
                self.depth.store(inner.lines.len(), Ordering::SeqCst);
                lease
            };
            if unused.is_some() {
                // Everyone left meanwhile. Dropping it (outside the lock) frees the slot.
                return;
            }
        }
    }

    /// Answers every waiter with `refusal` and empties the queue.
    pub fn refuse_all(&self, refusal: Refusal) {
        let reason = match refusal {
            Refusal::Displaced { .. } => Reason::Displaced,
            Refusal::ScaleFailed => Reason::ScaleFailed,
            Refusal::ShuttingDown => Reason::ShuttingDown,
        };
        let mut inner = self.lock();
        let all = inner.lines.take_all();
        self.depth.store(0, Ordering::SeqCst);
        for entry in all {
            if entry.item.send(Err(refusal)).is_ok() {
                self.stats.rejected(reason);
            }
        }
    }

    /// Depth per class, the oldest wait, and the drain rate.
    pub fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let mut inner = self.lock();
        let oldest = inner.lines.oldest();
        Snapshot {
            depths: self
                .classes
                .names()
                .iter()
                .cloned()
                .zip(inner.lines.depths().iter().copied())
                .collect(),
            oldest_wait: oldest.map(|since| now.saturating_duration_since(since)),
            drain_per_second: inner.drain.per_second(now),
        }
    }

    fn retry_after(&self, inner: &Inner, now: Instant) -> Duration {
        retry_after(inner.lines.len(), inner.drain.per_second(now), self.timeout)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic under the lock cannot leave `Inner` half-changed in a way that matters
        // more than stopping every request of the function would.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SlotHandoff for Queue {
    fn offer(&self, fleet: &Arc<Fleet>) {
        Queue::offer(self, fleet);
    }

    fn queued(&self) -> usize {
        self.depth()
    }
}

/// A request waiting in a queue. Dropping it withdraws the request; a slot granted in
/// the same instant is released, not lost.
#[derive(Debug)]
pub struct Waiter<'q> {
    queue: &'q Queue,
    receiver: oneshot::Receiver<Grant>,
    class: usize,
    since: Instant,
    deadline: Instant,
    // An answer was received: nothing left to withdraw.
    done: bool,
}

impl Waiter<'_> {
    /// When it was queued.
    pub fn since(&self) -> Instant {
        self.since
    }

    /// The class it waits in.
    pub fn class(&self) -> usize {
        self.class
    }

    /// Waits for a slot: `QUEUE_TIMEOUT` past the deadline, `QUEUE_FULL` if displaced,
    /// `SCALE_FAILED` or `SHUTTING_DOWN` when the queue is emptied for those reasons.
    pub async fn granted(&mut self) -> Result<Lease, ProxyError> {
        let answer = tokio::time::timeout_at(self.deadline, &mut self.receiver).await;
        let Ok(answer) = answer else {
            self.queue.stats.rejected(Reason::Timeout);
            return Err(ProxyError::QueueTimeout);
        };
        self.done = true;
        match answer {
            Ok(Ok(lease)) => {
                self.queue.stats.waited(self.class, self.since.elapsed());
                Ok(lease)
            }
            Ok(Err(refusal)) => Err(refusal.into()),
            // Senders are dropped unanswered only with the queue itself.
            Err(_) => Err(ProxyError::ShuttingDown),
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let late = {
            let mut inner = self.queue.lock();
            match self.receiver.try_recv() {
                // Answered as it gave up (a lease, most likely): handled below.
                Ok(grant) => Some(grant),
                Err(oneshot::error::TryRecvError::Empty) => {
                    // Still queued: becomes a tombstone, skipped by dispatch.
                    self.receiver.close();
                    inner.lines.cancelled(self.class);
                    self.queue.depth.store(inner.lines.len(), Ordering::SeqCst);
                    None
                }
                Err(oneshot::error::TryRecvError::Closed) => None,
            }
        };
        // Outside the lock: dropping a lease releases its slot to the next waiter.
        drop(late);
    }
}

#[cfg(test)]
mod tests;
