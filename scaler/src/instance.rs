//! One instance of a function: where it listens, its state, and its in-flight count.
//!
//! The state and the count are atomics because every worker thread reads them on every
//! request, while only the control plane changes the state.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::time::SystemTime;

use tokio::time::Instant;

/// Identifies an instance for its whole life; never reused within one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(pub u64);

impl std::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "i-{}", self.0)
    }
}

/// Where an instance is in its life. Only `Ready` instances receive requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum InstanceState {
    /// Started, not yet answering its readiness check.
    Starting = 0,
    /// Receiving requests.
    Ready = 1,
    /// Chosen for removal: finishes the requests it has, receives no new ones.
    Draining = 2,
    /// Gone; kept in a snapshot only until the control plane swaps it out.
    Stopped = 3,
}

impl InstanceState {
    /// The lowercase name used in the admin API and in metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Starting => "starting",
            InstanceState::Ready => "ready",
            InstanceState::Draining => "draining",
            InstanceState::Stopped => "stopped",
        }
    }

    fn from_u8(value: u8) -> Self {
        match value {
            0 => InstanceState::Starting,
            1 => InstanceState::Ready,
            2 => InstanceState::Draining,
            _ => InstanceState::Stopped,
        }
    }
}

/// One running copy of a function: an address that answers HTTP.
#[derive(Debug)]
pub struct Instance {
    id: InstanceId,
    addr: SocketAddr,
    pid: Option<u32>,
    started_at: SystemTime,
    // When it first became ready, for telling requests that waited on a cold start.
    ready_at: OnceLock<Instant>,
    state: AtomicU8,
    in_flight: AtomicU32,
    // Finished requests, for rate triggers and the admin API.
    served: AtomicU64,
}

impl Instance {
    /// A new instance in `state`, with nothing in flight.
    pub fn new(id: InstanceId, addr: SocketAddr, pid: Option<u32>, state: InstanceState) -> Self {
        Instance {
            id,
            addr,
            pid,
            started_at: SystemTime::now(),
            ready_at: OnceLock::new(),
            state: AtomicU8::new(state as u8),
            in_flight: AtomicU32::new(0),
            served: AtomicU64::new(0),
        }
    }

    /// The instance's identity.
    pub fn id(&self) -> InstanceId {
        self.id
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its operating-system process, when tidegate started it.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// When it was created.
    pub fn started_at(&self) -> SystemTime {
        self.started_at
    }

    /// Its current state.
    pub fn state(&self) -> InstanceState {
        InstanceState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Moves it to `state`. Only the control plane calls this; becoming ready the first
    /// time records [`Instance::ready_at`].
    pub fn set_state(&self, state: InstanceState) {
        if state == InstanceState::Ready {
            let _ = self.ready_at.set(Instant::now());
        }
        self.state.store(state as u8, Ordering::Release);
    }

    /// When it first became ready after starting (`None` for instances adopted ready, like
    /// static endpoints, and for those still starting).
    pub fn ready_at(&self) -> Option<Instant> {
        self.ready_at.get().copied()
    }

    /// Requests it is serving now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Requests it has finished.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Claims a slot if the instance is ready and below `limit` (0 = no limit).
    pub(crate) fn try_claim(&self, limit: u32) -> bool {
        if self.state() != InstanceState::Ready {
            return false;
        }
        if limit == 0 {
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        // A compare-and-swap loop rather than add-then-undo: an undo would let a
        // concurrent reader see the instance over its limit.
        let mut current = self.in_flight.load(Ordering::Relaxed);
        while current < limit {
            match self.in_flight.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
        false
    }

    /// Gives back a slot claimed with [`Instance::try_claim`], counting the request served.
    pub(crate) fn release_slot(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.served.fetch_add(1, Ordering::Relaxed);
    }
}
