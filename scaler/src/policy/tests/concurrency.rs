//! Scenarios on concurrency alone: steady load, a step from zero, panic, load that stops,
//! oscillation, and the scale-down delay.

use std::time::Duration;

use tidegate_config::Scaling;
use tokio::time::{self, Instant};

use super::{Scenario, at, during, load, queued, run, scaling};
use crate::policy::{Observations, Policy, Reason, Sample};

#[tokio::test(start_paused = true)]
async fn concurrency_scenarios() {
    let scenarios = vec![
        Scenario {
            name: "steady load holds its figure",
            scaling: scaling(),
            steps: vec![load(0, 45)],
            manual: vec![],
            checks: vec![
                // From zero, any real burst panics; a stable window later it is over.
                at(0, 5, Reason::Concurrency, true),
                at(10, 5, Reason::Concurrency, false),
                during(10..=60, 5, Some(Reason::Concurrency)),
            ],
        },
        Scenario {
            name: "a step from zero grows in two ticks",
            scaling: scaling(),
            steps: vec![load(0, 0), queued(10, 200)],
            manual: vec![],
            checks: vec![
                during(0..=9, 0, Some(Reason::Concurrency)),
                // The windows restart with the traffic: panic figure 20, the rate allows +10.
                at(10, 10, Reason::Concurrency, true),
                at(11, 20, Reason::Concurrency, true),
                at(21, 20, Reason::Concurrency, false),
                during(21..=40, 20, Some(Reason::Concurrency)),
            ],
        },
        Scenario {
            name: "a step after a long idle spell is not diluted by it",
            // The default windows: 60 s stable, 6 s panic. Without the restart at the
            // traffic's onset the first panic figure would be 200/6 → 4 instances, and
            // the step would take six ticks to size; with it, two.
            scaling: Scaling {
                stable_window: Duration::from_secs(60),
                panic_window: Duration::from_secs(6),
                ..scaling()
            },
            steps: vec![load(0, 0), queued(100, 200), load(101, 200)],
            manual: vec![],
            checks: vec![
                during(0..=99, 0, Some(Reason::Concurrency)),
                at(100, 10, Reason::Concurrency, true),
                at(101, 20, Reason::Concurrency, true),
                during(101..=130, 20, Some(Reason::Concurrency)),
            ],
        },
        Scenario {
            name: "a spike panics, holds, and returns at the down rate",
            scaling: scaling(),
            steps: vec![load(0, 50), load(20, 300), load(25, 50)],
            manual: vec![],
            checks: vec![
                at(19, 5, Reason::Concurrency, false),
                // Panic figure 18, capped by the up rate at 5 + 10.
                at(20, 15, Reason::Concurrency, true),
                at(21, 30, Reason::Concurrency, true),
                // The spike is over, but panic never scales down...
                at(25, 30, Reason::PanicHold, true),
                at(30, 30, Reason::PanicHold, true),
                // ...until a stable window after its condition last held (t=21). The
                // stable figure is then 13; the down rate allows halving to 15.
                at(31, 15, Reason::Concurrency, false),
                at(32, 10, Reason::Concurrency, false),
                during(35..=50, 5, Some(Reason::Concurrency)),
            ],
        },
        Scenario {
            name: "load that stops keeps one instance for the grace",
            scaling: scaling(),
            steps: vec![load(0, 30), load(20, 0)],
            manual: vec![],
            checks: vec![
                at(19, 3, Reason::Concurrency, false),
                // The stable average drains over its window...
                at(25, 2, Reason::Concurrency, false),
                at(28, 1, Reason::Concurrency, false),
                // ...then the last instance waits 20 s after the last traffic (t=19).
                during(29..=38, 1, Some(Reason::ScaleToZeroGrace)),
                at(39, 0, Reason::Concurrency, false),
                during(39..=60, 0, None),
            ],
        },
        Scenario {
            name: "oscillating load does not flap behind a scale-down delay",
            scaling: Scaling {
                scale_down_delay: Duration::from_secs(10),
                ..scaling()
            },
            // 4 s at 100, 4 s idle: the 10 s average moves between 40 and 60.
            steps: (0..20)
                .flat_map(|period| [load(period * 8, 100), load(period * 8 + 4, 0)])
                .collect(),
            manual: vec![],
            checks: vec![during(20..=150, 6, None)],
        },
        Scenario {
            name: "scale down waits for the delay, holding the recent largest desire",
            scaling: Scaling {
                stable_window: Duration::from_secs(2),
                panic_window: Duration::from_secs(1),
                scale_down_delay: Duration::from_secs(5),
                ..scaling()
            },
            steps: vec![load(0, 100), load(20, 20)],
            manual: vec![],
            checks: vec![
                at(19, 10, Reason::Concurrency, false),
                during(20..=23, 10, Some(Reason::ScaleDownDelay)),
                // The 10s have left the delay window; the 6 of t=20 has not.
                at(24, 6, Reason::ScaleDownDelay, false),
                // Nothing above 2 is left; the down rate allows halving 6 to 3.
                at(25, 3, Reason::Concurrency, false),
                during(26..=40, 2, Some(Reason::Concurrency)),
            ],
        },
    ];
    for scenario in scenarios {
        run(scenario).await;
    }
}

/// The counterpart of the oscillating scenario: without the delay the same load does move
/// the figure, so it is the delay, not the averaging alone, that keeps it still.
#[tokio::test(start_paused = true)]
async fn oscillating_load_moves_the_figure_without_a_delay() {
    let mut policy = Policy::new(scaling());
    let mut figures = Vec::new();
    for t in 0..100u64 {
        let now = Instant::now();
        policy.observe(Sample {
            at: now,
            in_flight: if t % 8 < 4 { 100 } else { 0 },
            queued: 0,
            ready: figures.last().copied().unwrap_or(0),
            observed: Observations::default(),
        });
        figures.push(policy.decide(now).desired);
        time::advance(Duration::from_secs(1)).await;
    }
    let late = &figures[20..];
    assert!(late.contains(&4) && late.contains(&6), "figures: {late:?}");
}

/// A request between ticks at zero asks for one instance at once; the next ticks size the
/// fleet from their samples, undiluted by the idle spell or by that one request; and the
/// request counts as traffic, so the instance it started waits out the grace.
#[tokio::test(start_paused = true)]
async fn demand_between_ticks_starts_one_and_the_ticks_take_over() {
    let sample = |queued: u32, in_flight: u32, ready: u32| Sample {
        at: Instant::now(),
        in_flight,
        queued,
        ready,
        observed: Observations::default(),
    };
    let scaling = Scaling {
        stable_window: Duration::from_secs(60),
        panic_window: Duration::from_secs(6),
        ..scaling()
    };

    // A burst after a long idle spell.
    let mut policy = Policy::new(scaling.clone());
    for _ in 0..100 {
        policy.observe(sample(0, 0, 0));
        assert_eq!(policy.decide(Instant::now()).desired, 0);
        time::advance(Duration::from_secs(1)).await;
    }
    time::advance(Duration::from_millis(300)).await;
    let first = policy.demand(Instant::now());
    assert_eq!((first.desired, first.reason), (1, Reason::Concurrency));
    time::advance(Duration::from_millis(700)).await;
    policy.observe(sample(0, 200, 1));
    assert_eq!(
        policy.decide(Instant::now()).desired,
        11,
        "1 + the step of 10"
    );
    time::advance(Duration::from_secs(1)).await;
    policy.observe(sample(0, 200, 11));
    assert_eq!(policy.decide(Instant::now()).desired, 20);

    // A single short request: the instance it started stays for the grace (20 s).
    let mut policy = Policy::new(scaling.clone());
    policy.observe(sample(0, 0, 0));
    policy.decide(Instant::now());
    time::advance(Duration::from_millis(500)).await;
    assert_eq!(policy.demand(Instant::now()).desired, 1);
    let mut figures = Vec::new();
    for _ in 0..25 {
        time::advance(Duration::from_secs(1)).await;
        policy.observe(sample(0, 0, 1));
        figures.push(policy.decide(Instant::now()).desired);
    }
    assert!(figures[..19].iter().all(|&d| d == 1), "{figures:?}");
    assert_eq!(figures[24], 0, "{figures:?}");

    // Bounds and pins hold between ticks too.
    let mut policy = Policy::new(Scaling {
        min_instances: 3,
        ..scaling.clone()
    });
    assert_eq!(policy.demand(Instant::now()).desired, 3);
    let mut policy = Policy::new(scaling);
    policy.set_manual(Some(crate::policy::Manual::Pin(0)));
    let pinned = policy.demand(Instant::now());
    assert_eq!((pinned.desired, pinned.reason), (0, Reason::ManualPin));
}
