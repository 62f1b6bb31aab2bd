//! The `tidegate` binary: command line, logging, and the exit status.
//!
//! `tidegate run --config FILE` (or `tidegate --config FILE`) starts the proxy;
//! `tidegate check --config FILE` validates a configuration and prints its summary.
//! Exit status: 0 on success and after a graceful shutdown, 1 when start-up fails,
//! 2 when the configuration is invalid.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

// mimalloc rather than the system allocator: the request path allocates small objects on
// every request (header maps, bodies' bookkeeping), and glibc's malloc spent ~6 % of the
// proxy's CPU time on them in profiles; see docs/performance.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "tidegate",
    version,
    about = "A reverse proxy for function instances, with autoscaling and caching"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Configuration file (for `tidegate --config FILE` without a subcommand).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Start the proxy.
    Run,
    /// Validate the configuration and print its functions and routes.
    Check,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);

    let Some(path) = cli.config else {
        eprintln!("tidegate: --config FILE is required");
        return ExitCode::from(2);
    };
    let config = match tidegate_config::load(&path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };

    match cli.command.unwrap_or(Command::Run) {
        Command::Check => {
            print!("{}", config.summary());
            ExitCode::SUCCESS
        }
        Command::Run => match tidegate_proxy::run(config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "tidegate failed");
                eprintln!("tidegate: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `RUST_LOG` filters (default `info`); logs go to standard error, leaving standard
/// output for the start-up announcement.
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}
