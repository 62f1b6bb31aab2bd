//! Collapsed executions: concurrent misses for one key wait for a single execution.
//!
//! The first miss for a key becomes its leader and goes to the function; later misses
//! for the key wait until the leader's response is stored or turns out not storable,
//! then look again. A leader's [`Leader`] guard ends the wait when dropped, whatever
//! happened (stored, not storable, client gone), so no waiter is left hanging. A key
//! whose answer was not storable is remembered for [`HIT_FOR_MISS`] ("hit-for-miss"):
//! requests for it go straight to the function instead of queueing behind one another.
//!
//! The in-flight map is a `std::sync::Mutex`: it is held for a hash-map operation only,
//! never across an await, and workers are on separate threads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::sync::Cache;
use tokio::sync::watch;

/// How long a key whose answer was not storable skips collapsing.
pub const HIT_FOR_MISS: Duration = Duration::from_secs(10);

/// Misses in flight, per key, for one function.
pub struct Collapser {
    in_flight: Arc<Mutex<HashMap<String, watch::Receiver<()>>>>,
    hit_for_miss: Cache<String, ()>,
}

impl std::fmt::Debug for Collapser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collapser").finish_non_exhaustive()
    }
}

/// What a miss does.
#[derive(Debug)]
pub enum Role {
    /// Execute; drop the guard once the answer is stored or known not storable.
    Leader(Leader),
    /// Wait on this receiver (it closes when the leader is done), then look again.
    Waiter(watch::Receiver<()>),
    /// Execute without collapsing (a hit-for-miss key).
    Alone,
}

/// The leader of a key's in-flight miss; dropping it releases the waiters.
#[derive(Debug)]
pub struct Leader {
    key: String,
    in_flight: Arc<Mutex<HashMap<String, watch::Receiver<()>>>>,
    // Dropped with the guard: the waiters' receivers see the channel close.
    _done: watch::Sender<()>,
}

impl Drop for Leader {
    fn drop(&mut self) {
        self.in_flight
            .lock()
            .expect("the in-flight map is never poisoned: no panics under it")
            .remove(&self.key);
    }
}

impl Default for Collapser {
    fn default() -> Self {
        Collapser {
            in_flight: Arc::default(),
            hit_for_miss: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(HIT_FOR_MISS)
                .build(),
        }
    }
}

impl Collapser {
    /// Joins the miss for `key`: as its leader, as a waiter, or alone.
    pub fn join(&self, key: &str) -> Role {
        if self.hit_for_miss.contains_key(key) {
            return Role::Alone;
        }
        let mut in_flight = self
            .in_flight
            .lock()
            .expect("the in-flight map is never poisoned: no panics under it");
        if let Some(done) = in_flight.get(key) {
            return Role::Waiter(done.clone());
        }
        let (tx, rx) = watch::channel(());
        in_flight.insert(key.to_owned(), rx);
        Role::Leader(Leader {
            key: key.to_owned(),
            in_flight: self.in_flight.clone(),
            _done: tx,
        })
    }

    /// Remembers that `key`'s answer was not storable.
    pub fn not_storable(&self, key: &str) {
        self.hit_for_miss.insert(key.to_owned(), ());
    }

    /// Forgets a hit-for-miss marker (the answer became storable).
    pub fn storable(&self, key: &str) {
        self.hit_for_miss.invalidate(key);
    }
}

/// Waits until the leader is done, at most `limit`.
pub async fn wait(mut done: watch::Receiver<()>, limit: Duration) {
    // `changed` fails once the sender is dropped: that is the signal.
    let _ = tokio::time::timeout(limit, async { while done.changed().await.is_ok() {} }).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_leader_then_waiters_released_on_drop() {
        let collapser = Collapser::default();
        let Role::Leader(leader) = collapser.join("k") else {
            panic!("the first miss leads")
        };
        let Role::Waiter(done) = collapser.join("k") else {
            panic!("the second miss waits")
        };
        let waiter = tokio::spawn(wait(done, Duration::from_secs(60)));
        drop(leader);
        waiter
            .await
            .expect("the waiter ends when the leader is dropped");
        assert!(
            matches!(collapser.join("k"), Role::Leader(_)),
            "the key is free again"
        );
        collapser.not_storable("k");
        assert!(
            matches!(collapser.join("k"), Role::Alone),
            "hit-for-miss skips collapsing"
        );
    }
}
