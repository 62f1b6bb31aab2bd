//! tidegate's data plane, its admin API, and the `tidegate` binary's start-up and shutdown.
//!
//! How the parts fit:
//!
//! - [`server`]: worker threads (one single-threaded runtime each) accept client
//!   connections and serve HTTP/1.1, HTTP/2 and TLS.
//! - [`forward`]: each request is routed ([`route`]), given a slot on an instance by the
//!   function's fleet (in `tidegate-scaler`) or, when none is free, waits for one in the
//!   function's priority [`queue`]; it is rewritten ([`headers`]) and forwarded on a
//!   per-worker connection pool; the response streams back ([`body`]).
//! - [`error`]: every error the proxy answers on its own, mapped to a response in one place.
//! - [`admin`]: health, metrics and the functions' state, on the control thread.
//! - [`run`] wires them together and handles signals.
//!
//! What this crate does not own: deciding how many instances exist (the scaler) and the
//! configuration schema (`tidegate-config`).

pub mod admin;
pub mod body;
pub mod cache;
pub mod error;
pub mod forward;
pub mod headers;
pub mod http1;
pub mod idhash;
pub mod metrics;
pub mod queue;
pub mod route;
pub mod server;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tidegate_config::Config;

use crate::state::Shared;

/// Runs tidegate until SIGTERM or SIGINT, then shuts down gracefully.
///
/// Once every listener is bound, one JSON line goes to standard output naming the bound
/// addresses (`{"event":"listening","http":[..],"https":[..],"admin":".."}`), so scripts and
/// tests that configure port 0 learn the real ports.
pub fn run(config: Config) -> anyhow::Result<()> {
    let metrics = metrics::install().context("cannot install the metrics recorder")?;
    let (shared, controllers) = Shared::new(&config);
    let shared = Arc::new(shared);

    let workers = match config.server.worker_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let tls = config
        .server
        .tls
        .as_ref()
        .map(server::tls::acceptor)
        .transpose()?;
    let mut addrs: Vec<(SocketAddr, bool)> =
        config.server.listen.iter().map(|a| (*a, false)).collect();
    if let Some(tls) = &config.server.tls {
        addrs.extend(tls.listen.iter().map(|a| (*a, true)));
    }
    let (listeners, endpoints) = server::listen::bind_all(&addrs, workers)?;

    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let admin_listener = control
        .block_on(tokio::net::TcpListener::bind(config.admin.listen))
        .with_context(|| format!("cannot listen on the admin address {}", config.admin.listen))?;
    let admin_addr = admin_listener.local_addr()?;

    let handles = server::spawn_workers(shared.clone(), listeners, tls)?;
    announce(&endpoints, admin_addr);
    tracing::info!(
        workers,
        functions = shared.functions.len(),
        listen = ?endpoints.iter().map(|e| e.addr).collect::<Vec<_>>(),
        admin = %admin_addr,
        "tidegate started"
    );

    let admin = Arc::new(admin::Admin {
        shared: shared.clone(),
        metrics: metrics.clone(),
        token: config.admin.token.clone(),
    });
    // The control thread runs the admin API, the controllers and the instances' watchers
    // for the whole life of the process: the process provider ties its children's lives
    // to the thread that spawned them, which is this one.
    let (stop_scaling, scaling_stopped) = tokio::sync::watch::channel(false);
    let local = tokio::task::LocalSet::new();
    local.block_on(&control, async {
        tokio::task::spawn_local(admin::serve(admin, admin_listener));
        tokio::spawn(async move {
            // The exporter's histograms need periodic upkeep to bound their memory.
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                metrics.run_upkeep();
            }
        });
        let controllers: Vec<_> = controllers
            .into_iter()
            .map(|controller| tokio::spawn(controller.run(scaling_stopped.clone())))
            .collect();
        wait_for_signal().await?;

        tracing::info!(grace = ?shared.limits.shutdown_grace, "shutting down: draining requests");
        shared.shutdown.begin();
        // Workers finish in-flight and queued requests within the grace period; the
        // controllers keep scaling meanwhile, so queued requests still get instances.
        let joined = tokio::task::spawn_blocking(move || {
            for handle in handles {
                if handle.join().is_err() {
                    tracing::error!("a worker thread panicked");
                }
            }
        });
        let _ = joined.await;
        stop_scaling.send_replace(true);
        for controller in controllers {
            let _ = controller.await;
        }
        let stops: Vec<_> = shared
            .functions
            .iter()
            .flat_map(|function| {
                function
                    .fleet
                    .instances()
                    .iter()
                    .map(|instance| tokio::spawn(function.provider.stop(instance.clone())))
                    .collect::<Vec<_>>()
            })
            .collect();
        for stop in stops {
            let _ = stop.await;
        }
        anyhow::Ok(())
    })?;

    tracing::info!("tidegate stopped");
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    tokio::select! {
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "signal received"),
        _ = int.recv() => tracing::info!(signal = "SIGINT", "signal received"),
    }
    Ok(())
}

fn announce(endpoints: &[server::listen::Endpoint], admin: SocketAddr) {
    use std::io::Write;
    let list = |tls: bool| {
        endpoints
            .iter()
            .filter(|e| e.tls == tls)
            .map(|e| e.addr.to_string())
            .collect::<Vec<_>>()
    };
    let line = serde_json::json!({ "event": "listening", "http": list(false), "https": list(true), "admin": admin.to_string() });
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}
