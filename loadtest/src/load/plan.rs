//! A run's plan: a scenario (or nothing) with the command line's overrides applied and
//! every default filled in, checked once so the run itself cannot fail on a bad value.
//!
//! Which value wins: a flag, else the scenario's value, else the default. Giving `--rate`
//! or `--schedule` makes the run an open loop whatever the scenario said, and `--closed` a
//! closed one.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use super::overrides::{Overrides, rebase};
use super::priority::{PriorityError, PriorityMix};
use super::scenario::{ModeName, Scenario, SegmentSpec};
use super::schedule::{Schedule, ScheduleError, Segment};
use super::target::{Protocol, Target, TargetError, split_header};

/// Connections when neither flag nor scenario says.
pub const DEFAULT_CONNECTIONS: usize = 64;
/// A closed loop's length, or an open one's at `--rate`, when nothing says.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The request timeout when nothing says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The sample interval when nothing says.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// A plan that cannot be run.
#[derive(Debug, Error)]
pub enum PlanError {
    /// No URL anywhere.
    #[error("no target: give --url http://HOST:PORT/PATH, or [target] url in the scenario")]
    NoUrl,
    /// A bad URL, header or method.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A bad schedule.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// A bad priority mix.
    #[error(transparent)]
    Priority(#[from] PriorityError),
    /// A schedule segment that is neither constant nor a ramp.
    #[error("schedule segment {index}: give either `rate`, or both `from` and `to`")]
    Segment {
        /// Which segment, from 1.
        index: usize,
    },
    /// Flags and scenario that do not make one mode.
    #[error("{0}")]
    Mode(&'static str),
    /// Admin sampling asked for by halves.
    #[error("admin sampling needs both --admin ADDRESS and --function NAME")]
    AdminIncomplete,
    /// `${VAR}` naming an unset variable.
    #[error("the admin token reads ${{{0}}}, which is not set")]
    TokenVariable(String),
    /// Zero of something there must be one of.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

/// How requests are paced.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// At the schedule's rate, whatever the answers take.
    Open(Schedule),
    /// Back to back on every connection, for this long.
    Closed(Duration),
}

/// Where and as whom to sample the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminPlan {
    /// `host:port` of tidegate's admin listener.
    pub address: String,
    /// The function sampled.
    pub function: String,
    /// The bearer token, resolved.
    pub token: Option<String>,
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario's name, if any.
    pub name: Option<String>,
    /// The scenario's description, if any.
    pub description: Option<String>,
    /// What to load.
    pub target: Target,
    /// How.
    pub mode: Mode,
    /// TCP connections.
    pub connections: usize,
    /// Streams per HTTP/2 connection (1 for HTTP/1.1).
    pub streams: usize,
    /// Priority classes to draw from.
    pub priorities: PriorityMix,
    /// Admin sampling, if any.
    pub admin: Option<AdminPlan>,
    /// How often the timeline is sampled.
    pub sample_interval: Duration,
    /// Where to write the JSON report.
    pub report: Option<PathBuf>,
    /// Where to write the charts.
    pub chart_dir: Option<PathBuf>,
    /// Whether to draw the progress line (on a terminal).
    pub progress: bool,
}

impl Plan {
    /// Applies `flags` over `scenario` (use `Scenario::default()` for a pure command-line
    /// run) and checks the result.
    pub fn resolve(scenario: Scenario, flags: &Overrides) -> Result<Self, PlanError> {
        let Scenario {
            name,
            description,
            target,
            load,
            admin,
            output,
        } = scenario;

        // The target: --url replaces the URL; --target only its scheme and address.
        let mut url = flags.url.clone().or(target.url).ok_or(PlanError::NoUrl)?;
        if let Some(base) = &flags.target {
            url = rebase(&url, base)?;
        }
        let protocol = match (flags.h2, flags.protocol) {
            (true, _) => Protocol::Http2,
            (false, Some(protocol)) => protocol,
            (false, None) => target.protocol.unwrap_or_default(),
        };
        let mut headers: Vec<(String, String)> = target.headers.into_iter().collect();
        for header in &flags.headers {
            headers.push(split_header(header)?);
        }
        let target = Target::new(
            &url,
            flags.host.as_deref().or(target.host.as_deref()),
            protocol,
            flags
                .method
                .as_deref()
                .or(target.method.as_deref())
                .unwrap_or("GET"),
            &headers,
            flags.timeout.or(target.timeout).unwrap_or(DEFAULT_TIMEOUT),
        )?;

        let mode = resolve_mode(flags, load.mode, load.duration, load.schedule)?;
        let connections = flags
            .connections
            .or(load.connections)
            .unwrap_or(DEFAULT_CONNECTIONS);
        let streams = match protocol {
            Protocol::Http1 => 1,
            Protocol::Http2 => flags.streams.or(load.streams).unwrap_or(1),
        };
        if connections == 0 {
            return Err(PlanError::Zero("connections"));
        }
        if streams == 0 {
            return Err(PlanError::Zero("streams"));
        }
        let priorities = PriorityMix::parse(
            flags
                .priorities
                .as_deref()
                .or(load.priorities.as_deref())
                .unwrap_or(""),
        )?;

        // Admin sampling: flags override the scenario's section field by field.
        let address = flags
            .admin
            .clone()
            .or(admin.as_ref().map(|a| a.address.clone()));
        let function = flags
            .function
            .clone()
            .or(admin.as_ref().map(|a| a.function.clone()));
        let admin_plan = match (address, function) {
            (Some(address), Some(function)) => {
                let token = flags
                    .admin_token
                    .clone()
                    .or(admin.as_ref().and_then(|a| a.token.clone()));
                Some(AdminPlan {
                    address,
                    function,
                    token: token.map(expand_variable).transpose()?,
                })
            }
            (None, None) => None,
            _ => return Err(PlanError::AdminIncomplete),
        };
        let sample_interval = flags
            .sample_interval
            .or(admin.as_ref().and_then(|a| a.sample_interval))
            .unwrap_or(DEFAULT_SAMPLE_INTERVAL);
        if sample_interval.is_zero() {
            return Err(PlanError::Zero("the sample interval"));
        }

        Ok(Self {
            name,
            description,
            target,
            mode,
            connections,
            streams,
            priorities,
            admin: admin_plan,
            sample_interval,
            report: flags.report.clone().or(output.report),
            chart_dir: flags.chart_dir.clone().or(output.chart_dir),
            progress: !flags.no_progress,
        })
    }

    /// How long the run sends: the schedule's length, or the closed loop's duration.
    pub fn length(&self) -> Duration {
        match &self.mode {
            Mode::Open(schedule) => schedule.duration(),
            Mode::Closed(duration) => *duration,
        }
    }

    /// Workers: one per connection, times the streams of each for HTTP/2.
    pub fn workers(&self) -> usize {
        self.connections * self.streams
    }
}

fn resolve_mode(
    flags: &Overrides,
    mode: Option<ModeName>,
    duration: Option<Duration>,
    schedule: Option<Vec<SegmentSpec>>,
) -> Result<Mode, PlanError> {
    if flags.closed {
        return Ok(Mode::Closed(
            flags.duration.or(duration).unwrap_or(DEFAULT_DURATION),
        ));
    }
    if let Some(text) = &flags.schedule {
        return Ok(Mode::Open(Schedule::parse(text)?));
    }
    if let Some(rate) = flags.rate {
        let length = flags.duration.or(duration).unwrap_or(DEFAULT_DURATION);
        return Ok(Mode::Open(Schedule::constant(length, rate)?));
    }
    match (mode, schedule) {
        (Some(ModeName::Closed), _) | (None, None) => Ok(Mode::Closed(
            flags.duration.or(duration).unwrap_or(DEFAULT_DURATION),
        )),
        (Some(ModeName::Open) | None, Some(segments)) => {
            if flags.duration.is_some() {
                return Err(PlanError::Mode(
                    "--duration cannot shorten a scenario's schedule: give --rate with it, or --schedule",
                ));
            }
            Ok(Mode::Open(Schedule::new(segments_of(&segments)?)?))
        }
        (Some(ModeName::Open), None) => Err(PlanError::Mode(
            "an open loop needs a rate: give [load] schedule, --rate or --schedule",
        )),
    }
}

fn segments_of(specs: &[SegmentSpec]) -> Result<Vec<Segment>, PlanError> {
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| match (spec.rate, spec.from, spec.to) {
            (Some(rate), None, None) => Ok(Segment::constant(spec.duration, rate)),
            (None, Some(from), Some(to)) => Ok(Segment::ramp(spec.duration, from, to)),
            _ => Err(PlanError::Segment { index: i + 1 }),
        })
        .collect()
}

/// `${NAME}` becomes the variable's value; anything else stays as written.
fn expand_variable(value: String) -> Result<String, PlanError> {
    match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(name) => std::env::var(name).map_err(|_| PlanError::TokenVariable(name.to_owned())),
        None => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(text, Path::new("test.toml")).unwrap()
    }

    fn flags() -> Overrides {
        Overrides::default()
    }

    const OPEN: &str = r#"
        [target]
        url = "http://127.0.0.1:8080/hello?x=1"
        [load]
        connections = 4
        schedule = [{ duration = "2s", rate = 10 }, { duration = "1s", from = 10, to = 0 }]
        priorities = "high=1,low=1"
        [admin]
        address = "127.0.0.1:9901"
        function = "hello"
    "#;

    #[test]
    fn a_scenario_resolves_with_defaults() {
        let plan = Plan::resolve(scenario(OPEN), &flags()).unwrap();
        assert_eq!(plan.target.address, "127.0.0.1:8080");
        assert_eq!(plan.connections, 4);
        assert_eq!(plan.workers(), 4);
        assert_eq!(plan.length(), Duration::from_secs(3));
        assert_eq!(plan.priorities.classes().len(), 2);
        assert_eq!(plan.admin.unwrap().function, "hello");
        assert_eq!(plan.sample_interval, DEFAULT_SAMPLE_INTERVAL);
        assert_eq!(plan.target.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn flags_override_the_scenario() {
        let overrides = Overrides {
            target: Some("http://127.0.0.1:5555".into()),
            rate: Some(50.0),
            duration: Some(Duration::from_secs(1)),
            connections: Some(2),
            h2: true,
            streams: Some(8),
            ..flags()
        };
        let plan = Plan::resolve(scenario(OPEN), &overrides).unwrap();
        assert_eq!(plan.target.url, "http://127.0.0.1:5555/hello?x=1");
        assert_eq!(plan.target.protocol, Protocol::Http2);
        assert_eq!(plan.workers(), 16);
        assert_eq!(plan.mode, Mode::Open(Schedule::parse("1s@50").unwrap()));

        let closed = Overrides {
            closed: true,
            ..flags()
        };
        let plan = Plan::resolve(scenario(OPEN), &closed).unwrap();
        assert_eq!(plan.mode, Mode::Closed(DEFAULT_DURATION));
    }

    #[test]
    fn a_pure_command_line_run_is_closed_unless_given_a_rate() {
        let url = Overrides {
            url: Some("http://127.0.0.1:8080/".into()),
            ..flags()
        };
        let plan = Plan::resolve(Scenario::default(), &url).unwrap();
        assert_eq!(plan.mode, Mode::Closed(DEFAULT_DURATION));
        assert_eq!(plan.connections, DEFAULT_CONNECTIONS);

        let rated = Overrides {
            rate: Some(1000.0),
            duration: Some(Duration::from_secs(10)),
            ..url
        };
        let plan = Plan::resolve(Scenario::default(), &rated).unwrap();
        assert!(matches!(plan.mode, Mode::Open(ref s) if s.total() == 10_000));
    }

    #[test]
    fn inconsistent_plans_are_refused() {
        let err = |s: &str, o: &Overrides| Plan::resolve(scenario(s), o).unwrap_err();
        assert!(matches!(err("", &flags()), PlanError::NoUrl));
        let shorten = Overrides {
            duration: Some(Duration::from_secs(1)),
            ..flags()
        };
        assert!(matches!(err(OPEN, &shorten), PlanError::Mode(_)));
        let half_admin = Overrides {
            url: Some("http://x/".into()),
            admin: Some("127.0.0.1:1".into()),
            ..flags()
        };
        assert!(matches!(err("", &half_admin), PlanError::AdminIncomplete));
        let segment = "[target]\nurl = \"http://x/\"\n[load]\nschedule = [{ duration = \"1s\", rate = 1, to = 2 }]";
        assert!(matches!(
            err(segment, &flags()),
            PlanError::Segment { index: 1 }
        ));
        let variable = "[target]\nurl = \"http://x/\"\n[admin]\naddress = \"a:1\"\nfunction = \"f\"\ntoken = \"${TIDEGATE_LOADTEST_SURELY_UNSET}\"";
        assert!(matches!(
            err(variable, &flags()),
            PlanError::TokenVariable(_)
        ));
    }
}
