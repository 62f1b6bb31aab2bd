//! `tidegate-fn`: a synthetic function instance for tidegate's tests and benchmarks.
//!
//! Run `tidegate-fn --help` for the flags; the per-request knobs are described in
//! `loadtest/README.md` and in `tidegate_loadtest::function::knobs`.

use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use tidegate_loadtest::function::{self, Options};
use tidegate_loadtest::units::{parse_duration, parse_size};

/// A synthetic function instance: HTTP/1.1 and h2c on 127.0.0.1, with latency, CPU,
/// memory, size, status and caching headers chosen per request.
#[derive(Debug, Parser)]
#[command(name = "tidegate-fn", version)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free one); defaults to $PORT, then 0. An inherited
    /// socket (LISTEN_FDS=1 with a matching LISTEN_PID) takes precedence over both.
    #[arg(long)]
    port: Option<u16>,

    /// Wait this long before binding, like a slow-starting function (e.g. 200ms).
    #[arg(long, value_parser = parse_duration, default_value = "0")]
    startup_delay: Duration,

    /// Exit with status 1 after answering this many requests (/healthz and /__stats excepted).
    #[arg(long)]
    crash_after: Option<u64>,

    /// Resident memory to allocate and touch at start (e.g. 50MiB).
    #[arg(long, value_parser = parse_size)]
    ballast: Option<u64>,

    /// Runtime worker threads; 1 runs everything on the main thread, like most functions.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let port = match args.port {
        Some(port) => port,
        None => match std::env::var("PORT") {
            Ok(port) => port
                .parse()
                .with_context(|| format!("PORT={port:?} is no port"))?,
            Err(_) => 0,
        },
    };

    // Allocated before anything else and kept until exit; a non-zero fill writes every
    // page, so the memory counts as resident at once.
    let ballast = vec![0x5A_u8; usize::try_from(args.ballast.unwrap_or(0))?];
    let _ballast = std::hint::black_box(ballast);

    // One worker gets a current-thread runtime: no work stealing, no cross-thread wakeups,
    // the cheapest upstream a benchmark can have.
    let runtime = if args.workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.workers)
            .enable_all()
            .build()?
    };

    let options = Options {
        port,
        startup_delay: args.startup_delay,
        crash_after: args.crash_after,
    };
    runtime
        .block_on(function::run(options))
        .context("tidegate-fn stopped")
}
