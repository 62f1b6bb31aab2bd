//! The client side of the data plane: worker threads, their accept loops, and connections.
//!
//! Thread-per-core: each worker is an OS thread running a single-threaded tokio runtime
//! with its own listening sockets (`SO_REUSEPORT`), its own connections and its own pool of
//! instance connections. A request is accepted, parsed, forwarded and answered on one
//! thread; the only state shared between workers is the routing table (read-only) and the
//! fleets' atomic counters.

mod conn;
pub mod h1;
pub mod listen;
pub mod tls;

pub use conn::{ActiveRequest, ConnState};

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;

use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

use crate::forward::pool::Pools;
use crate::headers::RequestIds;
use crate::metrics::RequestMetrics;
use crate::state::Shared;
use listen::WorkerListeners;

/// One worker thread's state, shared by its tasks through `Rc`.
pub struct Worker {
    /// State shared by all workers.
    pub shared: Arc<Shared>,
    /// This worker's instance connections.
    pub pools: Pools,
    /// This worker's request-id generator.
    pub ids: RequestIds,
    /// This worker's metric handles.
    pub metrics: RequestMetrics,
    /// The `Date` header, formatted once a second.
    pub dates: h1::DateCache,
    /// Shutdown as this worker's connections see it (see [`Closing`]).
    pub closing: Closing,
    /// Where plain-text connections read a new request head, so that idle connections
    /// need no buffer of their own. Borrowed only inside one synchronous poll.
    pub scratch: std::cell::RefCell<Box<[u8]>>,
    http: auto::Builder<LocalExec>,
    tls: Option<TlsAcceptor>,
    connections: ConnCount,
}

/// Spawns `listeners.len()` worker threads.
pub fn spawn_workers(
    shared: Arc<Shared>,
    listeners: Vec<WorkerListeners>,
    tls: Option<TlsAcceptor>,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::new();
    for (index, listeners) in listeners.into_iter().enumerate() {
        let shared = shared.clone();
        let tls = tls.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = std::thread::Builder::new()
            .name(format!("tidegate-worker-{index}"))
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, run_worker(shared, listeners, tls));
            })?;
        handles.push(handle);
    }
    Ok(handles)
}

async fn run_worker(shared: Arc<Shared>, listeners: WorkerListeners, tls: Option<TlsAcceptor>) {
    let mut http = auto::Builder::new(LocalExec);
    http.http1().keep_alive(true).max_buf_size(256 * 1024);
    http.http2().max_concurrent_streams(256);
    let worker = Rc::new(Worker {
        metrics: RequestMetrics::new(&shared),
        shared: shared.clone(),
        pools: Pools::default(),
        ids: RequestIds::new(),
        dates: h1::DateCache::default(),
        closing: Closing::default(),
        scratch: std::cell::RefCell::new(vec![0; 16 * 1024].into_boxed_slice()),
        http,
        tls,
        connections: ConnCount::default(),
    });

    for (socket, endpoint) in listeners.sockets {
        let listener = match TcpListener::from_std(socket) {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(addr = %endpoint.addr, %error, "cannot register listener");
                continue;
            }
        };
        tokio::task::spawn_local(accept_loop(worker.clone(), listener, endpoint.tls));
    }

    // Run until shutdown begins, then give connections the grace period to finish.
    let mut begun = shared.shutdown.subscribe();
    let _ = begun.wait_for(|begun| *begun).await;
    worker.closing.begin();
    let grace = shared.limits.shutdown_grace;
    if tokio::time::timeout(grace, worker.connections.all_closed())
        .await
        .is_err()
    {
        shared.shutdown.expire(&shared.functions);
        tracing::warn!(
            open = worker.connections.live.get(),
            "shutdown grace period over; closing connections"
        );
        // Let waiters just told SHUTTING_DOWN write their answers.
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            worker.connections.all_closed(),
        )
        .await;
    }
}

async fn accept_loop(worker: Rc<Worker>, listener: TcpListener, tls: bool) {
    let mut begun = worker.shared.shutdown.subscribe();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = begun.wait_for(|begun| *begun) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let guard = worker.connections.open(&worker);
                if tls {
                    tokio::task::spawn_local(conn::serve_tls(worker.clone(), stream, peer, guard));
                } else {
                    tokio::task::spawn_local(h1::serve(worker.clone(), stream, peer, guard));
                }
            }
            Err(error) => {
                // Out of descriptors, usually: back off instead of spinning on the error.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    // Dropping the listener closes this worker's socket for the address.
}

/// Shutdown, relayed to one worker's connections. Waiting idle connections listen here
/// rather than on the process-wide channel, whose registration takes a lock shared by
/// every worker thread; this one is touched by one thread only.
#[derive(Default)]
pub struct Closing {
    begun: Cell<bool>,
    notify: Notify,
}

impl Closing {
    fn begin(&self) {
        self.begun.set(true);
        self.notify.notify_waiters();
    }

    /// Whether shutdown has begun.
    pub fn has_begun(&self) -> bool {
        self.begun.get()
    }

    /// Resolves when shutdown begins (at once if it has).
    pub async fn notified(&self) {
        let notified = self.notify.notified();
        if self.begun.get() {
            return;
        }
        notified.await;
    }
}

/// Counts a worker's open client connections, so shutdown knows when they are all done.
#[derive(Default)]
struct ConnCount {
    live: Cell<usize>,
    closed: Notify,
}

impl ConnCount {
    fn open(&self, worker: &Rc<Worker>) -> ConnGuard {
        self.live.set(self.live.get() + 1);
        ConnGuard {
            worker: worker.clone(),
        }
    }

    async fn all_closed(&self) {
        while self.live.get() > 0 {
            self.closed.notified().await;
        }
    }
}

/// Held by a connection's task; its drop counts the connection closed.
pub struct ConnGuard {
    worker: Rc<Worker>,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let count = &self.worker.connections;
        count.live.set(count.live.get() - 1);
        if count.live.get() == 0 {
            count.closed.notify_waiters();
        }
    }
}

/// Runs hyper's per-connection and per-stream tasks on this worker's thread, so they may
/// hold `Rc` state.
#[derive(Clone, Copy, Debug)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: std::future::Future + 'static,
{
    fn execute(&self, future: F) {
        tokio::task::spawn_local(future);
    }
}
