//! Fleets of ready instances, the naive peer of the fleet's least-in-flight choice, and a
//! second thread that contends for either.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tidegate_scaler::{Fleet, Instance, InstanceId, InstanceState};

/// Fleet sizes measured: one instance, a few, the largest that is scanned in full
/// ([`tidegate_scaler::fleet::POWER_OF_TWO_ABOVE`]), and one that is sampled.
pub const SIZES: [usize; 4] = [1, 4, 32, 256];

/// A fleet of `instances` ready instances with no per-instance limit
/// (`container_concurrency = 0`, the default) and nothing in flight.
pub fn ready_fleet(instances: usize) -> Arc<Fleet> {
    let fleet = Arc::new(Fleet::new("bench", 0));
    for i in 0..instances {
        let port = 10_000 + u16::try_from(i).expect("fleet fixtures stay under 55,000");
        fleet.add(Arc::new(Instance::new(
            InstanceId(i as u64),
            SocketAddr::from(([127, 0, 0, 1], port)),
            None,
            InstanceState::Ready,
        )));
    }
    fleet
}

/// The obvious design the fleet's lock-free snapshot was chosen over: one mutex around the
/// in-flight count of every instance, held while scanning for the least loaded and again
/// to release. No instance states, no limit: only the cost of the choice and the lock.
#[derive(Debug)]
pub struct MutexFleet {
    in_flight: Mutex<Vec<u32>>,
}

/// A slot on one instance of a [`MutexFleet`], released when dropped.
#[derive(Debug)]
pub struct MutexLease<'a> {
    fleet: &'a MutexFleet,
    index: usize,
}

impl MutexFleet {
    /// `instances` instances with nothing in flight.
    pub fn new(instances: usize) -> Self {
        MutexFleet {
            in_flight: Mutex::new(vec![0; instances]),
        }
    }

    /// Leases a slot on the instance with the fewest requests in flight (the first of
    /// equals).
    ///
    /// # Panics
    ///
    /// If the fleet has no instance.
    pub fn acquire(&self) -> MutexLease<'_> {
        let mut in_flight = self.in_flight.lock().expect("no holder panics");
        let (index, _) = in_flight
            .iter()
            .enumerate()
            .min_by_key(|&(_, load)| *load)
            .expect("a mutex fleet has at least one instance");
        in_flight[index] += 1;
        MutexLease { fleet: self, index }
    }

    /// Requests in flight on each instance.
    pub fn in_flight(&self) -> Vec<u32> {
        self.in_flight.lock().expect("no holder panics").clone()
    }
}

impl MutexLease<'_> {
    /// The index of the instance this lease routes to.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for MutexLease<'_> {
    fn drop(&mut self) {
        self.fleet.in_flight.lock().expect("no holder panics")[self.index] -= 1;
    }
}

/// Runs `measure` while a second thread repeats `contend` as fast as it can, and returns
/// what `measure` returned and how many times `contend` ran.
///
/// On a two-core machine the contender has the other core to itself (when nothing else
/// runs), so what `measure` sees is cache-line traffic on shared atomics and locks, not
/// time-slicing.
pub fn with_contender<R>(contend: impl Fn() + Sync, measure: impl FnOnce() -> R) -> (R, u64) {
    let stop = AtomicBool::new(false);
    let rounds = AtomicU64::new(0);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                contend();
                n += 1;
            }
            rounds.store(n, Ordering::Relaxed);
        });
        let result = measure();
        stop.store(true, Ordering::Relaxed);
        result
    });
    (result, rounds.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_fleets_lease_and_release() {
        for n in SIZES {
            let fleet = ready_fleet(n);
            assert_eq!(fleet.counts().ready, n);
            drop(fleet.try_acquire().expect("a ready instance without limit"));
            assert_eq!(fleet.in_flight(), 0, "a dropped lease releases its slot");
        }
    }

    #[test]
    fn the_mutex_fleet_picks_the_least_loaded() {
        let fleet = MutexFleet::new(3);
        let a = fleet.acquire();
        let b = fleet.acquire();
        assert_eq!((a.index(), b.index()), (0, 1));
        drop(a);
        assert_eq!(fleet.acquire().index(), 0, "instance 0 is free again");
        drop(b);
        assert_eq!(fleet.in_flight(), [0, 0, 0]);
    }

    #[test]
    fn the_contender_runs_until_the_measurement_ends() {
        let fleet = ready_fleet(4);
        let contended = AtomicU64::new(0);
        let (leases, rounds) = with_contender(
            || {
                drop(fleet.try_acquire());
                contended.fetch_add(1, Ordering::Relaxed);
            },
            || {
                // At least once, and until the contender has run a while beside it.
                let mut n = 0u64;
                loop {
                    drop(fleet.try_acquire().expect("no limit"));
                    n += 1;
                    if contended.load(Ordering::Relaxed) >= 100 {
                        break n;
                    }
                }
            },
        );
        assert!(leases > 0 && rounds >= 100, "both threads leased");
        assert_eq!(fleet.in_flight(), 0);
    }
}
