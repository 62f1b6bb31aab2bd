//! The `static` provider: instances at fixed addresses, started and stopped by someone else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{BoxFuture, Launch, Provider, ProviderError};
use crate::fleet::{Instance, InstanceId, InstanceState};

/// Adopts `endpoints = [...]` as permanently ready instances.
///
/// tidegate does not health-check them yet: an endpoint that refuses connections makes
/// the requests routed to it fail with `UPSTREAM_UNAVAILABLE`.
// Not yet: passive health (eject an endpoint after consecutive connect failures) would
// fix that; it needs the failure signal the proxy has, fed back through the fleet.
#[derive(Debug)]
pub struct StaticProvider {
    endpoints: Vec<SocketAddr>,
}

impl StaticProvider {
    /// A provider for these endpoints.
    pub fn new(endpoints: Vec<SocketAddr>) -> Self {
        StaticProvider { endpoints }
    }
}

/// Instance ids are unique across the process, whichever provider made them.
pub(crate) fn next_instance_id() -> InstanceId {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    InstanceId(NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Provider for StaticProvider {
    fn kind(&self) -> &'static str {
        "static"
    }

    fn initial(&self) -> Vec<Arc<Instance>> {
        self.endpoints
            .iter()
            .map(|addr| {
                Arc::new(Instance::new(
                    next_instance_id(),
                    *addr,
                    None,
                    InstanceState::Ready,
                ))
            })
            .collect()
    }

    fn can_launch(&self) -> bool {
        false
    }

    fn launch(&self) -> Result<Launch, ProviderError> {
        Err(ProviderError::Fixed("static"))
    }

    fn stop(&self, _instance: Arc<Instance>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
