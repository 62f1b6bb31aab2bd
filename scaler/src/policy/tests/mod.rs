//! The policy's scenarios, as tables under paused time.
//!
//! A scenario is a piece-wise constant load (from each offset on, this many requests in
//! flight and these observations), optional manual overrides at offsets, and the decisions
//! expected at checkpoints. The runner samples once a second, decides, and treats every
//! instance it asked for as ready by the next sample: readiness lag belongs to the
//! provider, and leaving it out keeps the expected figures easy to work out by hand.
//!
//! This file holds the runner; the scenarios are grouped by what they exercise.

use std::ops::RangeInclusive;
use std::time::Duration;

use tidegate_config::Scaling;
use tokio::time::{self, Instant};

use super::{Decision, Manual, Observations, Policy, Reason, Sample};

mod concurrency;
mod manual;
mod triggers;

/// From `at` seconds on (until the next step), this load.
struct Step {
    at: u64,
    in_flight: u32,
    queued: u32,
    observed: Observations,
}

/// Over the seconds in `at`, `desired` instances; `reason` and `panic` when given.
struct Check {
    at: RangeInclusive<u64>,
    desired: u32,
    reason: Option<Reason>,
    panic: Option<bool>,
}

struct Scenario {
    name: &'static str,
    scaling: Scaling,
    steps: Vec<Step>,
    manual: Vec<(u64, Option<Manual>)>,
    checks: Vec<Check>,
}

fn load(at: u64, in_flight: u32) -> Step {
    Step {
        at,
        in_flight,
        queued: 0,
        observed: Observations::default(),
    }
}

/// Requests waiting with none in flight, as at zero instances.
fn queued(at: u64, queued: u32) -> Step {
    Step {
        at,
        in_flight: 0,
        queued,
        observed: Observations::default(),
    }
}

fn observed(at: u64, observed: Observations) -> Step {
    Step {
        at,
        in_flight: 0,
        queued: 0,
        observed,
    }
}

fn at(at: u64, desired: u32, reason: Reason, panic: bool) -> Check {
    Check {
        at: at..=at,
        desired,
        reason: Some(reason),
        panic: Some(panic),
    }
}

fn during(at: RangeInclusive<u64>, desired: u32, reason: Option<Reason>) -> Check {
    Check {
        at,
        desired,
        reason,
        panic: None,
    }
}

/// Target 10 per instance, a 10 s stable and 2 s panic window, panic at 2×, no
/// scale-down delay, a 20 s grace, bounds [0, 100].
fn scaling() -> Scaling {
    Scaling {
        target_concurrency: 10.0,
        stable_window: Duration::from_secs(10),
        panic_window: Duration::from_secs(2),
        panic_threshold: 2.0,
        scale_down_delay: Duration::ZERO,
        scale_to_zero_grace: Duration::from_secs(20),
        min_instances: 0,
        max_instances: 100,
        ..Scaling::default()
    }
}

async fn run(scenario: Scenario) {
    let mut policy = Policy::new(scenario.scaling);
    let end = scenario
        .checks
        .iter()
        .map(|check| *check.at.end())
        .max()
        .expect("a scenario has at least one check");
    let mut ready = 0;
    let mut trace: Vec<(u64, Decision)> = Vec::new();

    for t in 0..=end {
        for (_, manual) in scenario.manual.iter().filter(|(at, _)| *at == t) {
            policy.set_manual(*manual);
        }
        let step = scenario
            .steps
            .iter()
            .rev()
            .find(|step| step.at <= t)
            .expect("a scenario's load starts at 0");

        let now = Instant::now();
        policy.observe(Sample {
            at: now,
            in_flight: step.in_flight,
            queued: step.queued,
            ready,
            observed: step.observed,
        });
        let decision = policy.decide(now);
        trace.push((t, decision));
        ready = decision.desired;

        for check in scenario.checks.iter().filter(|check| check.at.contains(&t)) {
            let ok = decision.desired == check.desired
                && check.reason.is_none_or(|reason| reason == decision.reason)
                && check.panic.is_none_or(|panic| panic == decision.panic);
            assert!(
                ok,
                "{}: at {t}s expected {} ({:?}, panic {:?}), got {decision:?}\ntrace: {trace:#?}",
                scenario.name, check.desired, check.reason, check.panic,
            );
        }
        time::advance(Duration::from_secs(1)).await;
    }
}
