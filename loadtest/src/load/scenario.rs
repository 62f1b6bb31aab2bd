//! Scenario files: a load test written down in TOML, so a scaling experiment can be run
//! again exactly. The schema is documented in `loadtest/README.md`; this file only reads
//! it, and [`super::plan`] turns it into something runnable with the command line's
//! overrides applied.
//!
//! Unknown keys are errors, as in tidegate's own config: a misspelt `conections` must not
//! silently run with the default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use thiserror::Error;

use super::target::Protocol;
use crate::units::parse_duration;

/// A scenario file that could not be read.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// The file could not be opened.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or does not fit the schema; the message gives line and column.
    #[error("scenario {path}: {source}")]
    Parse {
        /// Which file.
        path: PathBuf,
        /// What is wrong, and where.
        source: Box<toml::de::Error>,
    },
}

/// A whole scenario file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name, shown in the summary and the report.
    pub name: Option<String>,
    /// What the scenario shows; for the reader of the file and the report.
    pub description: Option<String>,
    /// What to load.
    #[serde(default)]
    pub target: TargetSpec,
    /// How to load it.
    #[serde(default)]
    pub load: LoadSpec,
    /// tidegate's admin API, sampled for the timeline.
    pub admin: Option<AdminSpec>,
    /// Where to write results.
    #[serde(default)]
    pub output: OutputSpec,
}

/// `[target]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// `http://HOST:PORT/PATH?QUERY`; required, here or as `--url`.
    pub url: Option<String>,
    /// The Host header (`:authority` for h2), when it differs from the URL's, as tidegate's
    /// host routes need.
    pub host: Option<String>,
    /// `http1` (default) or `http2` (h2c with prior knowledge).
    pub protocol: Option<Protocol>,
    /// The request method; default `GET`.
    pub method: Option<String>,
    /// Extra request headers, e.g. `x-fn-latency = "100ms"` to slow `tidegate-fn` down.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How long a request may take before it counts as failed; default 10s.
    #[serde(default, deserialize_with = "optional_duration")]
    pub timeout: Option<Duration>,
}

/// `mode` in `[load]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModeName {
    /// Offer the schedule's rate whatever the answers take.
    Open,
    /// Each connection sends again as soon as it has its answer.
    Closed,
}

/// `[load]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// `open` or `closed`; default `open` when there is a schedule, else `closed`.
    pub mode: Option<ModeName>,
    /// TCP connections; default 64.
    pub connections: Option<usize>,
    /// Concurrent streams per HTTP/2 connection; default 1. Ignored for HTTP/1.1.
    pub streams: Option<usize>,
    /// How long a closed loop runs; default 10s. An open loop lasts as its schedule does.
    #[serde(default, deserialize_with = "optional_duration")]
    pub duration: Option<Duration>,
    /// The open loop's segments, in order.
    pub schedule: Option<Vec<SegmentSpec>>,
    /// The priority mix, e.g. `"high=10,normal=60,low=30"`; default none.
    pub priorities: Option<String>,
}

/// One segment of `schedule`: `{ duration, rate }` or `{ duration, from, to }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentSpec {
    /// How long it lasts.
    #[serde(deserialize_with = "duration")]
    pub duration: Duration,
    /// A constant rate, req/s.
    pub rate: Option<f64>,
    /// A ramp's first rate, req/s.
    pub from: Option<f64>,
    /// A ramp's last rate, req/s.
    pub to: Option<f64>,
}

/// `[admin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSpec {
    /// tidegate's `[admin] listen` address, e.g. `127.0.0.1:9901`.
    pub address: String,
    /// The function whose state to sample.
    pub function: String,
    /// A bearer token; `${VAR}` reads it from the environment.
    pub token: Option<String>,
    /// How often to sample (the admin API and the timeline); default 250ms.
    #[serde(default, deserialize_with = "optional_duration")]
    pub sample_interval: Option<Duration>,
}

/// `[output]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Where to write the JSON report.
    pub report: Option<PathBuf>,
    /// Where to write `timeline.svg` and `timeline.png`.
    pub chart_dir: Option<PathBuf>,
}

impl Scenario {
    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses scenario text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ScenarioError> {
        toml::from_str(text).map_err(|source| ScenarioError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }
}

fn duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn optional_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Duration>, D::Error> {
    duration(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("test.toml"))
    }

    #[test]
    fn reads_every_section() {
        let scenario = parse(
            r#"
            name = "demo"
            [target]
            url = "http://127.0.0.1:8080/hello"
            host = "hello.localhost"
            protocol = "http2"
            headers = { "x-fn-latency" = "5ms" }
            timeout = "2s"
            [load]
            connections = 8
            streams = 4
            schedule = [{ duration = "10s", rate = 100 }, { duration = "5s", from = 100, to = 0 }]
            priorities = "high=1,low=3"
            [admin]
            address = "127.0.0.1:9901"
            function = "hello"
            sample_interval = "100ms"
            [output]
            report = "out/demo.json"
            "#,
        )
        .unwrap();
        assert_eq!(scenario.target.protocol, Some(Protocol::Http2));
        assert_eq!(scenario.target.timeout, Some(Duration::from_secs(2)));
        assert_eq!(scenario.target.headers["x-fn-latency"], "5ms");
        let schedule = scenario.load.schedule.unwrap();
        assert_eq!(schedule[0].rate, Some(100.0));
        assert_eq!(schedule[1].to, Some(0.0));
        let admin = scenario.admin.unwrap();
        assert_eq!(admin.sample_interval, Some(Duration::from_millis(100)));
    }

    #[test]
    fn unknown_keys_and_bad_units_are_errors_with_a_place() {
        let error = parse("[load]\nconections = 3\n").unwrap_err().to_string();
        assert!(error.contains("conections"), "{error}");
        assert!(error.contains("line 2"), "{error}");
        let error = parse("[target]\ntimeout = \"10\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("duration"), "{error}");
    }
}
