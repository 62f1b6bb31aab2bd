//! Coordinated omission: when the target stalls and every connection is busy, requests
//! wait in the generator, and that wait counts in their latency.

use tidegate_loadtest::load::{Overrides, Report, run};

use crate::support::{Upstream, plan, secs};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queueing_in_the_generator_counts_in_the_latency() {
    // One connection, an upstream taking 50 ms a request (20 req/s at most), and 100 req/s
    // asked for: request k is due at 10k ms but can only go out at about 50k ms.
    let upstream = Upstream::start(&[]).await;
    let plan = plan(Overrides {
        url: Some(upstream.url("/stall")),
        headers: vec!["x-fn-latency: 50ms".into()],
        rate: Some(100.0),
        duration: secs(1.0),
        connections: Some(1),
        ..Overrides::default()
    });
    let outcome = run(&plan).await.expect("the upstream is reachable");
    let report = Report::new(&plan, &outcome);

    let corrected_p99 = report.latency.p99_ms.expect("requests were answered");
    let service_p50 = report.service_time.p50_ms.expect("requests were answered");
    let wait_p99 = report
        .generator_wait
        .p99_ms
        .expect("requests were answered");
    assert!(
        service_p50 >= 50.0,
        "the upstream takes its 50 ms: {service_p50}"
    );
    assert!(
        corrected_p99 >= 200.0,
        "p99 {corrected_p99} ms should include the queueing, far above 50 ms"
    );
    assert!(corrected_p99 >= 2.0 * service_p50);
    assert!(
        wait_p99 >= 100.0,
        "requests waited for the connection: {wait_p99}"
    );

    // What could not be sent before the end is reported, not silently dropped.
    let r = &report.requests;
    assert!(r.sent < 50, "one stalled connection cannot send 100: {r:?}");
    assert_eq!(r.sent + r.missed, 100, "{r:?}");
}
