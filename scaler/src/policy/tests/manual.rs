//! Scenarios on the bounds and on manual pins and overrides.

use tidegate_config::Scaling;

use super::{Scenario, at, during, load, run, scaling};
use crate::policy::{Manual, Reason};

#[tokio::test(start_paused = true)]
async fn bounds_and_manual_scenarios() {
    let scenarios = vec![
        Scenario {
            name: "min_instances holds without traffic",
            scaling: Scaling {
                min_instances: 2,
                ..scaling()
            },
            steps: vec![load(0, 0)],
            manual: vec![],
            checks: vec![during(0..=60, 2, Some(Reason::MinInstances))],
        },
        Scenario {
            name: "min_instances 1 never goes to zero when the load stops",
            scaling: Scaling {
                min_instances: 1,
                ..scaling()
            },
            steps: vec![load(0, 30), load(20, 0)],
            manual: vec![],
            checks: vec![
                at(19, 3, Reason::Concurrency, false),
                during(29..=80, 1, Some(Reason::MinInstances)),
            ],
        },
        Scenario {
            name: "max_instances caps the desire, panic included",
            scaling: Scaling {
                max_instances: 4,
                ..scaling()
            },
            steps: vec![load(0, 0), load(5, 500)],
            manual: vec![],
            checks: vec![
                at(5, 4, Reason::MaxInstances, true),
                during(5..=40, 4, Some(Reason::MaxInstances)),
            ],
        },
        Scenario {
            name: "a pin wins over load at once, and the policy resumes after it",
            scaling: scaling(),
            steps: vec![load(0, 100)],
            manual: vec![(20, Some(Manual::Pin(3))), (30, None)],
            checks: vec![
                at(19, 10, Reason::Concurrency, false),
                during(20..=29, 3, Some(Reason::ManualPin)),
                at(20, 3, Reason::ManualPin, false),
                // Back to the policy: 10 wanted, 3 ready is panic; the up rate allows +10.
                at(30, 10, Reason::Concurrency, true),
            ],
        },
        Scenario {
            name: "a pin to zero and a pin above max are obeyed",
            scaling: Scaling {
                max_instances: 5,
                ..scaling()
            },
            steps: vec![load(0, 30)],
            manual: vec![(10, Some(Manual::Pin(0))), (20, Some(Manual::Pin(8)))],
            checks: vec![
                during(10..=19, 0, Some(Reason::ManualPin)),
                during(20..=30, 8, Some(Reason::ManualPin)),
            ],
        },
        Scenario {
            name: "min and max overrides apply at once and clear back to the config",
            scaling: scaling(),
            steps: vec![load(0, 100)],
            manual: vec![
                (
                    20,
                    Some(Manual::Bounds {
                        min: None,
                        max: Some(4),
                    }),
                ),
                (
                    30,
                    Some(Manual::Bounds {
                        min: Some(12),
                        max: None,
                    }),
                ),
                (40, None),
            ],
            checks: vec![
                at(19, 10, Reason::Concurrency, false),
                // Past the down rate (10 → 5): a lowered max is hard.
                during(20..=29, 4, Some(Reason::MaxInstances)),
                during(30..=39, 12, Some(Reason::MinInstances)),
                at(40, 10, Reason::Concurrency, false),
            ],
        },
    ];
    for scenario in scenarios {
        run(scenario).await;
    }
}
