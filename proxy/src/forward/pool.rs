//! Each worker's keep-alive connections to instances.
//!
//! A pool belongs to one worker thread and is touched only by it, so checkout and checkin
//! are a `RefCell` borrow and a `Vec` push or pop: no lock, no cross-thread hop. The price
//! is that each worker keeps its own connections to each instance.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;

use tidegate_scaler::InstanceId;

use super::upstream::UpstreamConn;
use crate::idhash::IdBuildHasher;

/// Idle connections per instance kept for reuse; more are closed when they come back.
const MAX_IDLE_PER_INSTANCE: usize = 256;

/// One worker's idle connections, by instance.
#[derive(Debug, Default)]
pub struct Pools {
    idle: RefCell<HashMap<InstanceId, Vec<UpstreamConn>, IdBuildHasher>>,
}

impl Pools {
    /// A connection to `instance`: an idle one if any is usable, else a new one. The flag
    /// says whether it was reused.
    pub async fn checkout(
        &self,
        instance: InstanceId,
        addr: SocketAddr,
    ) -> std::io::Result<(UpstreamConn, bool)> {
        loop {
            let candidate = self.idle.borrow_mut().get_mut(&instance).and_then(Vec::pop);
            match candidate {
                // The instance closed it while it sat idle.
                Some(conn) if conn.is_stale() => continue,
                Some(conn) => return Ok((conn, true)),
                None => break,
            }
        }
        Ok((UpstreamConn::connect(instance, addr).await?, false))
    }

    /// Returns a connection whose last exchange completed cleanly.
    pub fn checkin(&self, conn: UpstreamConn) {
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(conn.instance()).or_default();
        if list.len() < MAX_IDLE_PER_INSTANCE {
            list.push(conn);
        }
    }

    /// Closes the idle connections to instances no longer in `live`.
    pub fn retain(&self, live: impl Fn(InstanceId) -> bool) {
        self.idle.borrow_mut().retain(|id, _| live(*id));
    }
}
