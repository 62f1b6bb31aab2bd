//! Scenarios on the other triggers: each alone, the largest winning, and averaging.

use tidegate_config::{CustomMetric, Scaling};

use super::{Scenario, Step, at, during, observed, run, scaling};
use crate::policy::{Observations, Reason};

/// A scaling with `scaling()`'s windows and every other trigger configured.
fn all_triggers() -> Scaling {
    Scaling {
        target_rps: Some(50.0),
        target_cpu_percent: Some(60.0),
        target_memory_percent: Some(70.0),
        target_queue_depth: Some(5.0),
        custom: Some(CustomMetric {
            path: "/metrics".to_owned(),
            metric: "jobs_pending".to_owned(),
            target: 100.0,
        }),
        ..scaling()
    }
}

#[tokio::test(start_paused = true)]
async fn trigger_scenarios() {
    let alone = |name, observed_alone: Observations, reason| Scenario {
        name,
        scaling: all_triggers(),
        steps: vec![observed(0, observed_alone)],
        manual: vec![],
        checks: vec![during(0..=30, 5, Some(reason))],
    };
    let none = Observations::default();
    let scenarios = vec![
        alone(
            "request rate alone: 230/s at 50 each",
            Observations {
                requests_per_second: Some(230.0),
                ..none
            },
            Reason::RequestRate,
        ),
        alone(
            "cpu alone: 250 % at 60 each",
            Observations {
                cpu_percent: Some(250.0),
                ..none
            },
            Reason::Cpu,
        ),
        alone(
            "memory alone: 300 % at 70 each",
            Observations {
                memory_percent: Some(300.0),
                ..none
            },
            Reason::Memory,
        ),
        alone(
            "queue depth alone: 22 at 5 each",
            Observations {
                queue_depth: Some(22.0),
                ..none
            },
            Reason::QueueDepth,
        ),
        alone(
            "custom metric alone: 450 at 100 each",
            Observations {
                custom: Some(450.0),
                ..none
            },
            Reason::Custom,
        ),
        Scenario {
            name: "the largest desire wins",
            scaling: all_triggers(),
            steps: vec![Step {
                at: 0,
                in_flight: 30,
                queued: 0,
                observed: Observations {
                    requests_per_second: Some(230.0),
                    cpu_percent: Some(100.0),
                    ..none
                },
            }],
            manual: vec![],
            checks: vec![during(0..=30, 5, Some(Reason::RequestRate))],
        },
        Scenario {
            name: "concurrency wins a tie",
            scaling: all_triggers(),
            steps: vec![Step {
                at: 0,
                in_flight: 50,
                queued: 0,
                observed: Observations {
                    requests_per_second: Some(250.0),
                    ..none
                },
            }],
            manual: vec![],
            checks: vec![during(0..=30, 5, Some(Reason::Concurrency))],
        },
        Scenario {
            name: "an observation without a configured target is ignored",
            scaling: scaling(),
            steps: vec![observed(
                0,
                Observations {
                    cpu_percent: Some(900.0),
                    ..none
                },
            )],
            manual: vec![],
            checks: vec![during(0..=30, 0, Some(Reason::Concurrency))],
        },
        Scenario {
            name: "a trigger is averaged over the stable window",
            scaling: all_triggers(),
            steps: vec![
                observed(
                    0,
                    Observations {
                        requests_per_second: Some(100.0),
                        ..none
                    },
                ),
                observed(
                    20,
                    Observations {
                        requests_per_second: Some(500.0),
                        ..none
                    },
                ),
            ],
            manual: vec![],
            checks: vec![
                at(19, 2, Reason::RequestRate, false),
                // (9 × 100 + 500) / 10 = 140/s: 3 instances, not the 10 of the last sample.
                at(20, 3, Reason::RequestRate, false),
                during(29..=40, 10, Some(Reason::RequestRate)),
            ],
        },
    ];
    for scenario in scenarios {
        run(scenario).await;
    }
}
