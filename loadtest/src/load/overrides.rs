//! The command line's say over a run: every flag of a pure command-line run, and the same
//! flags overriding a scenario's values (`tidegate-loadtest run FILE --target …`).
//!
//! Every field is optional: a flag not given leaves the scenario's value, or the default.

use std::path::PathBuf;
use std::time::Duration;

use super::target::{Protocol, TargetError};
use crate::units::parse_duration;

/// Flags that set or override a run's parameters.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Overrides {
    /// The URL to load, e.g. http://127.0.0.1:8080/hello (replaces the scenario's).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Replaces only the scheme and address of the scenario's URL, keeping its path and
    /// query, e.g. --target http://127.0.0.1:PORT.
    #[arg(long, value_name = "URL")]
    pub target: Option<String>,

    /// The Host header (:authority for h2) to send, when it differs from the URL's.
    #[arg(long)]
    pub host: Option<String>,

    /// The protocol: http1, or http2 (h2c with prior knowledge).
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,

    /// Shorthand for --protocol http2.
    #[arg(long, conflicts_with = "protocol")]
    pub h2: bool,

    /// The request method (default GET).
    #[arg(long)]
    pub method: Option<String>,

    /// An extra request header, "name: value"; repeatable.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// How long a request may take before it counts as failed (default 10s).
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Open loop at this many requests per second (for --duration, default 10s).
    #[arg(long, conflicts_with_all = ["schedule", "closed"])]
    pub rate: Option<f64>,

    /// How long to run: a closed loop, or an open one at --rate.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Open loop following a schedule: "10s@100,5s@100..1000,20s@1000" (DURATION@RATE or
    /// DURATION@FROM..TO, comma-separated).
    #[arg(long, conflicts_with = "closed")]
    pub schedule: Option<String>,

    /// Closed loop: each connection sends again as soon as it has its answer.
    #[arg(long)]
    pub closed: bool,

    /// TCP connections (default 64).
    #[arg(short = 'c', long)]
    pub connections: Option<usize>,

    /// Concurrent streams per HTTP/2 connection (default 1).
    #[arg(long)]
    pub streams: Option<usize>,

    /// Priority mix for x-tidegate-priority, e.g. "high=10,normal=60,low=30".
    #[arg(long)]
    pub priorities: Option<String>,

    /// tidegate's admin address to sample during the run, e.g. 127.0.0.1:9901.
    #[arg(long, value_name = "ADDRESS")]
    pub admin: Option<String>,

    /// Bearer token for the admin API.
    #[arg(long, value_name = "TOKEN")]
    pub admin_token: Option<String>,

    /// The function whose state to sample from the admin API.
    #[arg(long, value_name = "NAME")]
    pub function: Option<String>,

    /// How often to sample the timeline and the admin API (default 250ms).
    #[arg(long, value_parser = parse_duration)]
    pub sample_interval: Option<Duration>,

    /// Write the JSON report here.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// Write timeline.svg and timeline.png here.
    #[arg(long, value_name = "DIR")]
    pub chart_dir: Option<PathBuf>,

    /// No progress line on stderr (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
}

/// `url` with the scheme and authority of `base` (`http://host:port`, or `host:port`).
pub(super) fn rebase(url: &str, base: &str) -> Result<String, TargetError> {
    let bad = |url: &str| TargetError::BadUrl {
        url: url.to_owned(),
    };
    let base_text = if base.contains("://") {
        base.to_owned()
    } else {
        format!("http://{base}")
    };
    let base_uri: http::Uri = base_text.parse().map_err(|_| bad(base))?;
    let uri: http::Uri = url.parse().map_err(|_| bad(url))?;
    let scheme = base_uri.scheme_str().unwrap_or("http");
    let authority = base_uri.authority().ok_or_else(|| bad(base))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Ok(format!("{scheme}://{authority}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_replaces_only_scheme_and_address() {
        let url = "http://127.0.0.1:8080/hello?size=10";
        let rebased = rebase(url, "http://10.0.0.1:9000").unwrap();
        assert_eq!(rebased, "http://10.0.0.1:9000/hello?size=10");
        assert_eq!(
            rebase(url, "localhost:1").unwrap(),
            "http://localhost:1/hello?size=10"
        );
        assert!(rebase(url, "http://").is_err());
    }
}
