//! A function's fleet of instances, and leases on their request slots.
//!
//! The data plane calls [`Fleet::try_acquire`] on every request from every worker thread,
//! so the fleet is built for reads: the instance list is an immutable snapshot swapped
//! atomically (`arc_swap`) when the control plane adds or removes an instance, and each
//! instance's in-flight count is one atomic. Acquiring a lease takes no lock.
//!
//! A [`Lease`] is a claim on one request slot of one instance. It is released when dropped,
//! which is what makes "the request is finished" and "the slot is free again" the same
//! event: the proxy keeps the lease alive in the response body until the last byte is sent.
//!
//! Requests that find no free slot wait outside this crate, in the proxy's queue. The fleet
//! tells that queue when a slot may have become free (a release, a new or newly ready
//! instance) through the [`SlotHandoff`] it was given, and the queue hands the slot to one
//! waiter of its choosing: no waiter is woken only to find the slot taken.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use tokio::sync::Notify;

pub use crate::instance::{Instance, InstanceId, InstanceState};

/// How many instances a fleet has in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FleetCounts {
    /// Instances starting.
    pub starting: usize,
    /// Instances ready.
    pub ready: usize,
    /// Instances draining.
    pub draining: usize,
}

/// Where a fleet offers slots that may have become free: the requests waiting for one.
///
/// The proxy's queue implements it. The fleet calls [`SlotHandoff::offer`] after every
/// release and whenever an instance is added, becomes ready, or the fleet starts failing;
/// the implementation leases the free slots ([`Fleet::try_acquire`]) and gives each to the
/// waiter it chooses. A release with nobody waiting must cost next to nothing: `offer` is
/// on every request's path.
pub trait SlotHandoff: Send + Sync + std::fmt::Debug {
    /// A slot may be free, or the fleet changed (an instance added or ready, the fleet
    /// failing): serve waiters. Called without any lock of the fleet held.
    fn offer(&self, fleet: &Arc<Fleet>);

    /// Requests waiting for a slot now: the controller's "queued".
    fn queued(&self) -> usize;
}

/// All instances of one function, and where requests waiting for a slot are served.
#[derive(Debug)]
pub struct Fleet {
    function: Arc<str>,
    container_concurrency: u32,
    instances: ArcSwap<Vec<Arc<Instance>>>,
    // The requests waiting for a slot (the proxy's queue). Unset in fleets used without
    // a proxy (the controller's tests, benches): then nobody waits.
    handoff: OnceLock<Arc<dyn SlotHandoff>>,
    // Raised by requests that find no ready instance; the function's controller listens.
    capacity_wanted: Notify,
    // Set by the controller while instances keep failing to start.
    failing: AtomicBool,
}

impl Fleet {
    /// An empty fleet for `function`, with a per-instance limit of `container_concurrency`
    /// concurrent requests (0 = none).
    pub fn new(function: impl Into<Arc<str>>, container_concurrency: u32) -> Self {
        Fleet {
            function: function.into(),
            container_concurrency,
            instances: ArcSwap::from_pointee(Vec::new()),
            handoff: OnceLock::new(),
            capacity_wanted: Notify::new(),
            failing: AtomicBool::new(false),
        }
    }

    /// The function's name.
    pub fn function(&self) -> &Arc<str> {
        &self.function
    }

    /// The per-instance limit of concurrent requests (0 = none).
    pub fn container_concurrency(&self) -> u32 {
        self.container_concurrency
    }

    /// Sets where freed slots go (once; later calls are ignored and return false).
    pub fn set_handoff(&self, handoff: Arc<dyn SlotHandoff>) -> bool {
        self.handoff.set(handoff).is_ok()
    }

    /// A snapshot of the instances.
    pub fn instances(&self) -> Arc<Vec<Arc<Instance>>> {
        self.instances.load_full()
    }

    /// Adds an instance. A ready instance is offered to waiting requests at once.
    pub fn add(self: &Arc<Self>, instance: Arc<Instance>) {
        self.instances.rcu(|current| {
            let mut next = Vec::with_capacity(current.len() + 1);
            next.extend(current.iter().cloned());
            next.push(instance.clone());
            next
        });
        self.wake_waiters();
    }

    /// Removes an instance from the fleet; leases on it stay valid until dropped.
    pub fn remove(&self, id: InstanceId) -> Option<Arc<Instance>> {
        let mut removed = None;
        self.instances.rcu(|current| {
            removed = current.iter().find(|i| i.id() == id).cloned();
            current
                .iter()
                .filter(|i| i.id() != id)
                .cloned()
                .collect::<Vec<_>>()
        });
        removed
    }

    /// Moves an instance to Ready and offers its slots to waiting requests at once.
    pub fn mark_ready(self: &Arc<Self>, instance: &Instance) {
        instance.set_state(InstanceState::Ready);
        self.wake_waiters();
    }

    /// Asks the function's controller for capacity now, without waiting for its next tick.
    /// Requests call this when they find no ready instance; repeated calls before the
    /// controller runs cost one wake-up.
    pub fn want_capacity(&self) {
        self.capacity_wanted.notify_one();
    }

    /// Resolves after [`Fleet::want_capacity`] was called (once per call, or once for
    /// several calls made while nobody listened).
    pub async fn capacity_wanted(&self) {
        self.capacity_wanted.notified().await;
    }

    /// Records whether instances keep failing to start. Setting it tells the waiting
    /// requests, which then answer `SCALE_FAILED` rather than wait out their timeout.
    pub fn set_failing(self: &Arc<Self>, failing: bool) {
        let was = self.failing.swap(failing, Ordering::AcqRel);
        if failing && !was {
            self.wake_waiters();
        }
    }

    /// Whether instances keep failing to start (see [`Fleet::set_failing`]).
    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    /// Counts the instances by state.
    pub fn counts(&self) -> FleetCounts {
        let mut counts = FleetCounts::default();
        for instance in self.instances.load().iter() {
            match instance.state() {
                InstanceState::Starting => counts.starting += 1,
                InstanceState::Ready => counts.ready += 1,
                InstanceState::Draining => counts.draining += 1,
                InstanceState::Stopped => {}
            }
        }
        counts
    }

    /// Requests in flight across all instances.
    pub fn in_flight(&self) -> u64 {
        self.instances
            .load()
            .iter()
            .map(|i| u64::from(i.in_flight()))
            .sum()
    }

    /// Requests waiting for a slot (the queue's depth).
    pub fn waiting(&self) -> usize {
        self.handoff.get().map_or(0, |handoff| handoff.queued())
    }

    /// Leases a slot on the ready instance with the fewest requests in flight, or `None`
    /// when no ready instance has a free slot.
    ///
    /// Below [`POWER_OF_TWO_ABOVE`] instances this scans them all; above, it samples two
    /// at random and takes the less loaded ("power of two choices"), which keeps the cost
    /// flat as the fleet grows while staying close to the true least-loaded choice.
    pub fn try_acquire(self: &Arc<Self>) -> Option<Lease> {
        let instances = self.instances.load();
        let limit = self.container_concurrency;

        if instances.len() > POWER_OF_TWO_ABOVE {
            let n = instances.len();
            let seed = next_random();
            let a = &instances[(seed % n as u64) as usize];
            let b = &instances[((seed >> 32) % n as u64) as usize];
            let pick = if b.in_flight() < a.in_flight() { b } else { a };
            if pick.try_claim(limit) {
                return Some(Lease::new(self.clone(), pick.clone()));
            }
            // The sampled pair is full or not ready: fall back to the full scan.
        }

        self.claim_least_loaded(&instances, None)
    }

    /// Leases a slot on the least-loaded ready instance other than `avoid`, or `None`
    /// when no other ready instance has a free slot: where a request goes when its
    /// instance could not even be connected to.
    pub fn try_acquire_other(self: &Arc<Self>, avoid: &Instance) -> Option<Lease> {
        let instances = self.instances.load();
        self.claim_least_loaded(&instances, Some(avoid))
    }

    // The full scan. It retries while claims race: another thread may take the slot
    // between our read of `in_flight` and our claim.
    fn claim_least_loaded(
        self: &Arc<Self>,
        instances: &[Arc<Instance>],
        avoid: Option<&Instance>,
    ) -> Option<Lease> {
        let limit = self.container_concurrency;
        loop {
            let mut best: Option<&Arc<Instance>> = None;
            for instance in instances {
                if instance.state() != InstanceState::Ready
                    || avoid.is_some_and(|avoid| std::ptr::eq(avoid, &**instance))
                {
                    continue;
                }
                let load = instance.in_flight();
                if limit != 0 && load >= limit {
                    continue;
                }
                if best.is_none_or(|b| load < b.in_flight()) {
                    best = Some(instance);
                }
            }
            let best = best?;
            if best.try_claim(limit) {
                return Some(Lease::new(self.clone(), best.clone()));
            }
        }
    }

    /// Offers free slots to the waiting requests, e.g. when a new instance became ready
    /// or the fleet started failing.
    pub fn wake_waiters(self: &Arc<Self>) {
        if let Some(handoff) = self.handoff.get() {
            handoff.offer(self);
        }
    }

    fn release(self: &Arc<Self>, instance: &Instance) {
        instance.release_slot();
        if let Some(handoff) = self.handoff.get() {
            // Pairs with the fence a waiter takes between enqueueing and its own re-check
            // of the fleet: either the handoff sees that waiter, or the waiter sees this
            // slot. Without it both could miss the other and the slot stay idle.
            std::sync::atomic::fence(Ordering::SeqCst);
            handoff.offer(self);
        }
    }
}

/// Fleets larger than this route by sampling two instances instead of scanning all.
pub const POWER_OF_TWO_ABOVE: usize = 32;

/// A claim on one request slot of one instance, released when dropped.
#[derive(Debug)]
pub struct Lease {
    fleet: Arc<Fleet>,
    instance: Arc<Instance>,
}

impl Lease {
    fn new(fleet: Arc<Fleet>, instance: Arc<Instance>) -> Self {
        Lease { fleet, instance }
    }

    /// The instance this lease routes to.
    pub fn instance(&self) -> &Arc<Instance> {
        &self.instance
    }

    /// Moves this lease to another ready instance with a free slot, freeing the slot it
    /// held; false (and unchanged) when there is none.
    pub fn reroute(&mut self) -> bool {
        match self.fleet.try_acquire_other(&self.instance) {
            Some(other) => {
                // Assigning drops the old lease, which releases its slot.
                *self = other;
                true
            }
            None => false,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.fleet.release(&self.instance);
    }
}

// A small xorshift generator per thread: the sampling needs spread, not security, and a
// shared generator would be a contended cache line on the hot path.
fn next_random() -> u64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}

fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x9e37_79b9_7f4a_7c15);
    hasher.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn fleet_with(n: usize, limit: u32) -> Arc<Fleet> {
        let fleet = Arc::new(Fleet::new("f", limit));
        for i in 0..n {
            let addr = SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16));
            fleet.add(Arc::new(Instance::new(
                InstanceId(i as u64),
                addr,
                None,
                InstanceState::Ready,
            )));
        }
        fleet
    }

    #[test]
    fn leases_spread_to_the_least_loaded_instance() {
        let fleet = fleet_with(3, 0);
        let leases: Vec<_> = (0..6)
            .map(|_| fleet.try_acquire().expect("no limit set"))
            .collect();
        for instance in fleet.instances().iter() {
            assert_eq!(instance.in_flight(), 2, "six leases over three instances");
        }
        drop(leases);
        assert_eq!(fleet.in_flight(), 0, "dropping a lease releases its slot");
    }

    #[test]
    fn a_rerouted_lease_moves_to_another_instance_and_frees_its_slot() {
        let fleet = fleet_with(2, 2);
        let mut lease = fleet.try_acquire().expect("a free slot");
        let first = lease.instance().id();
        assert!(lease.reroute(), "the other instance has free slots");
        assert_ne!(lease.instance().id(), first);
        assert_eq!(
            fleet.in_flight(),
            1,
            "the first instance's slot was released"
        );

        // With the other instance full, there is nowhere to go: the lease stays put.
        let on_first = fleet
            .try_acquire_other(lease.instance())
            .expect("a free slot");
        let _fills_second = fleet
            .try_acquire_other(on_first.instance())
            .expect("a slot");
        let mut last = fleet.try_acquire().expect("the last slot");
        assert_eq!(last.instance().id(), first);
        assert!(!last.reroute(), "every other slot is taken");
        assert_eq!(last.instance().id(), first);
    }

    #[test]
    fn container_concurrency_caps_each_instance() {
        let fleet = fleet_with(2, 1);
        let a = fleet.try_acquire().expect("first slot");
        let b = fleet.try_acquire().expect("second slot");
        assert_ne!(a.instance().id(), b.instance().id());
        assert!(
            fleet.try_acquire().is_none(),
            "both instances are at their limit"
        );
        drop(a);
        assert!(fleet.try_acquire().is_some(), "a released slot is reusable");
    }

    #[test]
    fn only_ready_instances_receive_requests() {
        let fleet = fleet_with(2, 0);
        for instance in fleet.instances().iter() {
            instance.set_state(InstanceState::Draining);
        }
        assert!(fleet.try_acquire().is_none());
        fleet.instances()[1].set_state(InstanceState::Ready);
        assert_eq!(
            fleet.try_acquire().expect("one ready").instance().id(),
            InstanceId(1)
        );
    }

    #[test]
    fn large_fleets_sample_and_still_respect_limits() {
        let fleet = fleet_with(40, 1);
        let leases: Vec<_> = (0..40)
            .map(|_| fleet.try_acquire().expect("a free slot"))
            .collect();
        assert!(
            fleet.try_acquire().is_none(),
            "all 40 single slots are taken"
        );
        assert!(fleet.instances().iter().all(|i| i.in_flight() == 1));
        drop(leases);
    }

    #[test]
    fn remove_takes_an_instance_out_of_routing() {
        let fleet = fleet_with(2, 0);
        fleet.remove(InstanceId(0)).expect("instance 0 exists");
        for _ in 0..4 {
            assert_eq!(
                fleet.try_acquire().expect("one left").instance().id(),
                InstanceId(1)
            );
        }
    }
}
