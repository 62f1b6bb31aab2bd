//! What every worker thread shares: the routing table, each function's fleet, the server
//! limits, and the shutdown state.
//!
//! Built once at start-up and read-only afterwards except for atomics, so workers read it
//! without locks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tidegate_config::Config;
use tidegate_scaler::provider::{ProcessProvider, Provider, StaticProvider};
use tidegate_scaler::{Controller, Fleet, ScaleHandle};
use tokio::sync::watch;

use crate::cache::FunctionCache;
use crate::queue::{Queue, Refusal};
use crate::route::Router;

/// State shared by all workers and the admin API.
#[derive(Debug)]
pub struct Shared {
    /// Connection and request limits from `[server]`.
    pub limits: Limits,
    /// The routing table.
    pub router: Router,
    /// Functions in configuration order; [`crate::route::RouteMatch::function`] indexes it.
    pub functions: Vec<FunctionRuntime>,
    /// Shutdown progress.
    pub shutdown: Shutdown,
}

/// The `[server]` limits the data plane enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest wait for an instance's response head.
    pub request_timeout: Duration,
    /// Longest time a client may take to send a request head.
    pub header_read_timeout: Duration,
    /// Keep-alive connections with nothing in progress close after this.
    pub idle_timeout: Duration,
    /// Largest request body accepted.
    pub max_body_bytes: u64,
    /// Time given to in-flight and queued requests at shutdown.
    pub shutdown_grace: Duration,
}

/// One function as the data plane sees it.
#[derive(Debug)]
pub struct FunctionRuntime {
    /// Its configured name.
    pub name: Arc<str>,
    /// Its instances.
    pub fleet: Arc<Fleet>,
    /// Starts and stops its instances.
    pub provider: Arc<dyn Provider>,
    /// Its requests waiting for an instance slot; the fleet hands freed slots to it.
    pub queue: Arc<Queue>,
    /// Its controller's handle, for functions that scale (`command`); `None` for fixed
    /// `endpoints`.
    pub scale: Option<ScaleHandle>,
    /// Its response cache, when `[functions.NAME.cache] enabled`.
    pub cache: Option<Arc<FunctionCache>>,
}

impl Shared {
    /// Builds the shared state from a validated configuration, adopting each function's
    /// initial instances. Returns with it the controllers of the functions that scale,
    /// for the caller to run on the control thread.
    pub fn new(config: &Config) -> (Self, Vec<Controller>) {
        let mut controllers = Vec::new();
        // A draining instance may take as long as its slowest request can.
        let drain_limit = config.server.request_timeout + Duration::from_secs(1);
        let functions = config
            .functions
            .iter()
            .map(|(name, function)| {
                let fleet = Arc::new(Fleet::new(
                    name.as_str(),
                    function.scaling.container_concurrency,
                ));
                let queue = Arc::new(Queue::new(Arc::from(name.as_str()), &function.queue));
                fleet.set_handoff(queue.clone());
                // Validation guarantees exactly one of `endpoints` and `command`.
                let provider: Arc<dyn Provider> = if function.is_static() {
                    Arc::new(StaticProvider::new(function.endpoints.clone()))
                } else {
                    Arc::new(ProcessProvider::new(name, function))
                };
                for instance in provider.initial() {
                    fleet.add(instance);
                }
                let scale = provider.can_launch().then(|| {
                    let (controller, handle) = Controller::new(
                        fleet.clone(),
                        provider.clone(),
                        &function.scaling,
                        function.memory_mb,
                        drain_limit,
                    );
                    controllers.push(controller);
                    handle
                });
                FunctionRuntime {
                    name: Arc::from(name.as_str()),
                    fleet,
                    provider,
                    queue,
                    scale,
                    cache: function.cache.enabled.then(|| {
                        Arc::new(FunctionCache::new(
                            &function.cache,
                            config.server.request_timeout,
                        ))
                    }),
                }
            })
            .collect();
        let server = &config.server;
        let shared = Shared {
            limits: Limits {
                request_timeout: server.request_timeout,
                header_read_timeout: server.header_read_timeout,
                idle_timeout: server.idle_timeout,
                max_body_bytes: server.max_body_bytes,
                shutdown_grace: server.shutdown_grace,
            },
            router: Router::new(config),
            functions,
            shutdown: Shutdown::new(),
        };
        (shared, controllers)
    }
}

/// Shutdown in two steps: `begin` stops accepting and lets work finish; `expire` (after the
/// grace period) ends whatever still waits.
#[derive(Debug)]
pub struct Shutdown {
    begun: watch::Sender<bool>,
    expired: AtomicBool,
}

impl Shutdown {
    fn new() -> Self {
        Shutdown {
            begun: watch::Sender::new(false),
            expired: AtomicBool::new(false),
        }
    }

    /// Starts shutting down: listeners close, connections finish what they have.
    pub fn begin(&self) {
        self.begun.send_replace(true);
    }

    /// Whether shutdown has begun.
    pub fn has_begun(&self) -> bool {
        *self.begun.borrow()
    }

    /// A receiver that changes when shutdown begins.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.begun.subscribe()
    }

    /// The grace period is over: requests still waiting get `SHUTTING_DOWN`.
    pub fn expire(&self, functions: &[FunctionRuntime]) {
        self.expired.store(true, Ordering::Release);
        for function in functions {
            function.queue.refuse_all(Refusal::ShuttingDown);
        }
    }

    /// Whether the grace period is over.
    pub fn has_expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }
}
