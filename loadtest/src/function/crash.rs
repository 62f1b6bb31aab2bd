//! `--crash-after N`: the instance answers N function requests, then dies with status 1,
//! as a function that leaks or panics does. Tests use it to see how the proxy and the scaler
//! cope with an instance that vanishes.
//!
//! The process exits shortly after the Nth response ends, or at once when request N+1
//! arrives, whichever comes first; so a client sending one request at a time sees exactly N
//! answers, then a dropped connection. `/healthz` and `/__stats` do not count: readiness
//! probes must not use up the budget a test set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long the process lingers after the last response before exiting.
///
/// When a response body ends, hyper may not have written its last bytes yet; exiting at
/// once could cut off the very response the limit allows.
const FLUSH_GRACE: Duration = Duration::from_millis(20);

/// The request budget of one instance.
#[derive(Debug, Default)]
pub struct CrashAfter {
    limit: Option<u64>,
    admitted: AtomicU64,
}

impl CrashAfter {
    /// A budget of `limit` requests, or none.
    pub fn new(limit: Option<u64>) -> Self {
        Self {
            limit,
            admitted: AtomicU64::new(0),
        }
    }

    /// Counts a function request. Exits the process when the budget is already spent;
    /// returns the hook to run when the response ends if this request is the last.
    pub fn admit(&self) -> Option<fn()> {
        let limit = self.limit?;
        let admitted = self.admitted.fetch_add(1, Ordering::Relaxed) + 1;
        if admitted > limit {
            eprintln!("tidegate-fn: crashing on purpose after {limit} requests");
            std::process::exit(1);
        }
        (admitted == limit).then_some(exit_soon as fn())
    }
}

/// Exits the process once the last response has had time to leave.
fn exit_soon() {
    let exit = || {
        eprintln!("tidegate-fn: crashing on purpose after the last allowed request");
        std::process::exit(1);
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                tokio::time::sleep(FLUSH_GRACE).await;
                exit();
            });
        }
        Err(_) => exit(),
    }
}
