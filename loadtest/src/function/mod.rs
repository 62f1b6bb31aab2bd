//! `tidegate-fn`, a synthetic function instance: the upstream of tidegate's end-to-end
//! tests and throughput benchmarks.
//!
//! How the parts fit: [`listener`] finds the socket (inherited descriptor 3, `--port` or
//! `$PORT`); [`server`] accepts connections and speaks HTTP/1.1 or h2c on each; [`handler`]
//! answers a request as its [`knobs`] ask, drawing waits from [`latency`]; [`body`] carries
//! the answer and what the request holds until it ends; [`stats`] counts what was served;
//! [`crash`] dies on purpose when told to.
//!
//! Paths: `GET /healthz` answers 200 once listening; `GET /__stats` answers the counters as
//! JSON; every other path is the function.
//!
//! Not here: starting and stopping instances (the scaler does that) and routing (the proxy).

pub mod body;
pub mod crash;
pub mod handler;
pub mod knobs;
pub mod latency;
pub mod listener;
pub mod server;
pub mod stats;

use std::io::{self, Write};
use std::time::Duration;

pub use handler::Instance;

use crash::CrashAfter;

/// How to run one instance.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Port on 127.0.0.1; 0 picks a free one. Ignored when a socket is inherited.
    pub port: u16,
    /// How long to wait before even binding, as a slow-starting function does.
    pub startup_delay: Duration,
    /// Exit with status 1 after this many function requests.
    pub crash_after: Option<u64>,
}

/// Runs an instance until the process ends.
///
/// Prints `listening on ADDR` as the first line of stdout once it accepts connections:
/// with port 0 that line is how a parent learns the port, and its arrival is the readiness
/// signal, so no one has to poll or sleep.
pub async fn run(options: Options) -> io::Result<()> {
    tokio::time::sleep(options.startup_delay).await;

    let (listener, _origin) = listener::listen(options.port)?;
    let address = listener.local_addr()?;

    // The instance lives as long as the process: leaking it gives every request a plain
    // `&'static` reference, with no reference count to touch on the hot path.
    let instance: &'static Instance = Box::leak(Box::new(Instance {
        crash_after: CrashAfter::new(options.crash_after),
        ..Instance::default()
    }));

    // A parent that stopped reading stdout must not take the instance down with it.
    let _ = writeln!(io::stdout().lock(), "listening on {address}");
    server::serve(listener, instance).await
}
