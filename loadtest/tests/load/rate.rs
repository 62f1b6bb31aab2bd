//! The open loop's rate contract: R req/s for D seconds sends R×D requests, spread over
//! the run rather than bunched, as the upstream counts them.

use tidegate_loadtest::load::target::Protocol;
use tidegate_loadtest::load::{Overrides, Report, run};

use crate::support::{Upstream, plan, secs};

/// Runs 200 req/s for 1 s and checks what was sent and what arrived.
async fn two_hundred_for_a_second(flags: Overrides) {
    let upstream = Upstream::start(&[]).await;
    let plan = plan(Overrides {
        url: Some(upstream.url("/rate")),
        rate: Some(200.0),
        duration: secs(1.0),
        ..flags
    });
    let outcome = run(&plan).await.expect("the upstream is reachable");
    let report = Report::new(&plan, &outcome);

    // The schedule fixes the count exactly; the upstream may only miss what failed.
    assert_eq!(report.requests.sent, 200, "{report:#?}");
    assert_eq!(report.requests.missed, 0);
    assert_eq!(report.requests.errors, 0);
    let received = upstream.received().await;
    assert!(
        received.abs_diff(200) <= 2,
        "the upstream received {received} requests, not 200 ± 2"
    );

    // Spread over the run: by any sample, no more was sent than the schedule allowed by
    // then (plus the few a worker may send a tick early). A slow machine sends less, never
    // more, so this holds however busy it is.
    let mut sent = 0.0;
    for point in &report.timeline {
        sent += point.offered_rps * point.interval;
        let allowed = 200.0 * point.t + 5.0;
        assert!(
            sent <= allowed,
            "{sent} requests sent by {:.3}s, more than the schedule's {allowed}",
            point.t
        );
    }
    assert!(report.duration_s >= 1.0, "the run lasts its schedule");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_open_loop_sends_rate_times_duration() {
    two_hundred_for_a_second(Overrides {
        connections: Some(4),
        ..Overrides::default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_open_loop_sends_rate_times_duration() {
    two_hundred_for_a_second(Overrides {
        protocol: Some(Protocol::Http2),
        connections: Some(2),
        streams: Some(4),
        ..Overrides::default()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ramp_sends_its_integral() {
    let upstream = Upstream::start(&[]).await;
    // 0 → 200 req/s over 1 s, then 100 req/s for 0.5 s: 100 + 50 requests.
    let plan = plan(Overrides {
        url: Some(upstream.url("/ramp")),
        schedule: Some("1s@0..200,500ms@100".into()),
        connections: Some(4),
        ..Overrides::default()
    });
    let outcome = run(&plan).await.expect("the upstream is reachable");
    assert_eq!(outcome.tally.sent, 150);
    assert_eq!(upstream.received().await, 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_keeps_every_connection_busy_until_the_end() {
    let upstream = Upstream::start(&[]).await;
    let plan = plan(Overrides {
        url: Some(upstream.url("/closed?latency=10ms")),
        closed: true,
        duration: secs(0.5),
        connections: Some(3),
        ..Overrides::default()
    });
    let outcome = run(&plan).await.expect("the upstream is reachable");
    let stats = crate::support::get_json(upstream.addr, "/__stats").await;
    // Three connections, one request each at a time: never more than three in flight.
    assert!(stats["max_in_flight"].as_u64().unwrap() <= 3, "{stats}");
    assert_eq!(outcome.tally.sent, outcome.tally.answered);
    assert_eq!(stats["total"].as_u64().unwrap(), outcome.tally.sent);
    assert!(
        outcome.tally.sent >= 3,
        "each connection sent at least once"
    );
}
