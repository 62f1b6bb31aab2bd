//! What an instance has served, for `GET /__stats`: tests of the proxy read it to check
//! which requests reached the function, how many at once, and by which path and method.
//!
//! Totals and in-flight counts are atomics. The per-path and per-method tallies share one
//! mutex: uncontended on the default single-threaded runtime, it costs two atomic operations
//! a request, less than a sharded map would cost to read back.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use http::Method;
use serde::Serialize;

/// Distinct paths tallied one by one; later ones are counted under [`OTHER_PATHS`], so a
/// scan of random URLs cannot grow the map without bound.
const MAX_PATHS: usize = 1024;

/// The `by_path` key that counts paths beyond [`MAX_PATHS`].
pub const OTHER_PATHS: &str = "(other)";

/// Counters of one instance.
#[derive(Debug, Default)]
pub struct Stats {
    total: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    tallies: Mutex<Tallies>,
}

#[derive(Debug, Default)]
struct Tallies {
    by_path: HashMap<Box<str>, u64>,
    by_method: HashMap<Method, u64>,
    other_paths: u64,
}

/// The counters at one moment, as `GET /__stats` answers them.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    /// Requests received, `/__stats` excepted.
    pub total: u64,
    /// Requests whose response has not finished yet.
    pub in_flight: u64,
    /// The most requests ever in flight at once.
    pub max_in_flight: u64,
    /// Requests per path.
    pub by_path: BTreeMap<String, u64>,
    /// Requests per method.
    pub by_method: BTreeMap<String, u64>,
}

/// One request in flight; dropping it ends the request.
#[derive(Debug)]
pub struct InFlight {
    stats: &'static Stats,
}

impl Stats {
    /// Counts a request that has just arrived. It stays in flight until the guard drops.
    pub fn record(&'static self, method: &Method, path: &str) -> InFlight {
        self.total.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_in_flight.fetch_max(now, Ordering::Relaxed);

        let mut tallies = self.tallies.lock().unwrap_or_else(PoisonError::into_inner);
        // Look up before inserting, so a path seen before costs no allocation.
        if let Some(count) = tallies.by_path.get_mut(path) {
            *count += 1;
        } else if tallies.by_path.len() < MAX_PATHS {
            tallies.by_path.insert(path.into(), 1);
        } else {
            tallies.other_paths += 1;
        }
        if let Some(count) = tallies.by_method.get_mut(method) {
            *count += 1;
        } else {
            tallies.by_method.insert(method.clone(), 1);
        }
        InFlight { stats: self }
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> Snapshot {
        let tallies = self.tallies.lock().unwrap_or_else(PoisonError::into_inner);
        let mut by_path: BTreeMap<String, u64> = tallies
            .by_path
            .iter()
            .map(|(path, count)| (path.to_string(), *count))
            .collect();
        if tallies.other_paths > 0 {
            by_path.insert(OTHER_PATHS.to_owned(), tallies.other_paths);
        }
        Snapshot {
            total: self.total.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            max_in_flight: self.max_in_flight.load(Ordering::Relaxed),
            by_path,
            by_method: tallies
                .by_method
                .iter()
                .map(|(method, count)| (method.to_string(), *count))
                .collect(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_paths_methods_and_concurrency() {
        let stats: &'static Stats = Box::leak(Box::default());
        let first = stats.record(&Method::GET, "/a");
        let second = stats.record(&Method::POST, "/a");
        drop(first);
        let third = stats.record(&Method::GET, "/b");

        let snapshot = stats.snapshot();
        assert_eq!(snapshot.total, 3);
        assert_eq!(snapshot.in_flight, 2);
        assert_eq!(snapshot.max_in_flight, 2);
        assert_eq!(snapshot.by_path["/a"], 2);
        assert_eq!(snapshot.by_method["GET"], 2);
        drop((second, third));
        assert_eq!(stats.snapshot().in_flight, 0);
    }

    #[test]
    fn paths_beyond_the_cap_are_pooled() {
        let stats: &'static Stats = Box::leak(Box::default());
        for i in 0..MAX_PATHS + 5 {
            drop(stats.record(&Method::GET, &format!("/{i}")));
        }
        let snapshot = stats.snapshot();
        assert_eq!(snapshot.by_path.len(), MAX_PATHS + 1);
        assert_eq!(snapshot.by_path[OTHER_PATHS], 5);
    }
}
