//! The report: the JSON has the documented fields, the text summary its lines, the
//! timeline the admin API's figures, and failures their causes.

use serde_json::Value;
use tidegate_loadtest::load::report::summary;
use tidegate_loadtest::load::{Overrides, Report, run};

use crate::support::{ADMIN_TOKEN, FakeAdmin, Upstream, plan, secs};

fn field<'a>(json: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(json, |value, key| {
        value
            .get(key)
            .unwrap_or_else(|| panic!("the report lacks {path} (at {key}): {json:#}"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_has_its_fields_and_the_timeline_the_admin_figures() {
    let upstream = Upstream::start(&[]).await;
    let admin = FakeAdmin::start().await;
    let plan = plan(Overrides {
        url: Some(upstream.url("/report")),
        rate: Some(100.0),
        duration: secs(0.6),
        connections: Some(2),
        priorities: Some("high=1,low=3".into()),
        admin: Some(admin.addr.to_string()),
        function: Some("hello".into()),
        admin_token: Some(ADMIN_TOKEN.into()),
        sample_interval: secs(0.1),
        ..Overrides::default()
    });
    let outcome = run(&plan).await.expect("the upstream is reachable");
    let report = Report::new(&plan, &outcome);

    // The JSON, as a script would read it.
    let json: Value = serde_json::from_str(&report.to_json()).expect("the report is JSON");
    assert_eq!(field(&json, "tool"), "tidegate-loadtest");
    assert_eq!(field(&json, "mode"), "open");
    assert_eq!(field(&json, "target.protocol"), "http1");
    assert_eq!(field(&json, "requests.sent"), 60);
    assert_eq!(field(&json, "requests.answered"), 60);
    assert_eq!(field(&json, "schedule")[0]["from"], 100.0);
    for key in [
        "version",
        "started_at",
        "target.url",
        "target.host",
        "target.method",
        "connections",
        "streams",
        "priorities",
        "duration_s",
        "requests.errors",
        "requests.missed",
        "requests.failed_status",
        "offered_rps",
        "throughput_rps",
        "errors",
        "sample_interval_s",
    ] {
        field(&json, key);
    }
    for summary in ["latency", "service_time", "generator_wait", "by_status.200"] {
        for stat in [
            "count", "min_ms", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
        ] {
            assert!(
                field(&json, &format!("{summary}.{stat}")).is_number(),
                "{summary}.{stat} is a number"
            );
        }
    }
    let high = field(&json, "by_class.high.sent").as_u64().unwrap();
    let low = field(&json, "by_class.low.sent").as_u64().unwrap();
    assert_eq!(high + low, 60);
    assert!(field(&json, "by_class.low.latency.p99_ms").is_number());
    assert_eq!(field(&json, "by_class.high.weight"), 1);

    // The timeline: every point has the load figures, and the admin figures were read.
    let timeline = field(&json, "timeline").as_array().expect("an array");
    assert!(
        timeline.len() >= 4,
        "{} samples in 0.6 s at 0.1 s",
        timeline.len()
    );
    for point in timeline {
        for key in [
            "t",
            "interval",
            "target_rps",
            "offered_rps",
            "throughput_rps",
            "errors",
            "p50_ms",
            "p99_ms",
            "backlog",
            "function",
        ] {
            field(point, key);
        }
    }
    let sampled: Vec<&Value> = timeline
        .iter()
        .filter(|p| !p["function"].is_null())
        .collect();
    assert!(!sampled.is_empty(), "the admin API was sampled: {json:#}");
    let first = sampled[0];
    assert_eq!(field(first, "function.instances.starting"), 2);
    assert_eq!(field(first, "function.queued"), 7);
    assert_eq!(field(first, "function.in_flight"), 3);
    field(first, "function.instances.draining");
    field(first, "function.desired");
    let ready: Vec<u64> = sampled
        .iter()
        .map(|p| p["function"]["instances"]["ready"].as_u64().unwrap())
        .collect();
    assert!(
        ready.windows(2).all(|w| w[0] < w[1]),
        "samples in order: {ready:?}"
    );
    assert_eq!(field(&json, "admin.failures"), 0);
    assert_eq!(
        field(&json, "admin.samples").as_u64().unwrap(),
        ready.len() as u64
    );

    assert_eq!(
        admin.samples.load(std::sync::atomic::Ordering::Relaxed),
        ready.len() as u64,
        "every answered sample is in the timeline"
    );

    // The report reads back, so charts can be redrawn from it. (Floats may differ in their
    // last bit after a trip through decimal text, so compare what is exact.)
    let back: Report = serde_json::from_value(json).expect("a report reads back");
    assert_eq!(back.requests, report.requests);
    assert_eq!(back.timeline.len(), report.timeline.len());
    assert_eq!(back.admin, report.admin);

    // The text summary.
    let text = summary::text(&report);
    for line in [
        "tidegate-loadtest: open loop (0.6s@100), http1, 2 connections",
        "requests   60 sent, 60 answered (0 with status >= 400), 0 errors, 0 missed",
        "rate ",
        "latency, corrected for coordinated omission (ms):",
        "all ",
        "status 200 ",
        "class high ",
        "class low ",
        "service time ",
        "generator wait ",
        "admin ",
    ] {
        assert!(text.contains(line), "the summary lacks {line:?}:\n{text}");
    }
    let header = text
        .lines()
        .find(|l| l.contains("p99.9"))
        .expect("a table header");
    for column in ["count", "p50", "p90", "p99", "max"] {
        assert!(header.contains(column), "{header}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_by_cause_and_a_wrong_token_is_reported() {
    // The upstream dies after 5 requests: the rest fail, as connection errors or cut-off
    // exchanges, never as answers.
    let upstream = Upstream::start(&["--crash-after", "5"]).await;
    let admin = FakeAdmin::start().await;
    let plan = plan(Overrides {
        url: Some(upstream.url("/doomed")),
        rate: Some(100.0),
        duration: secs(0.4),
        connections: Some(1),
        timeout: secs(2.0),
        admin: Some(admin.addr.to_string()),
        function: Some("hello".into()),
        admin_token: Some("wrong".into()),
        sample_interval: secs(0.1),
        ..Overrides::default()
    });
    let outcome = run(&plan)
        .await
        .expect("the upstream was reachable at the start");
    let report = Report::new(&plan, &outcome);

    let r = &report.requests;
    assert_eq!(r.sent + r.missed, 40, "{r:?}");
    assert_eq!(r.answered + r.errors, r.sent, "{r:?}");
    assert!(
        r.answered <= 6,
        "the upstream answers at most 5 (+1 racing its exit): {r:?}"
    );
    assert!(r.errors > 0, "{r:?}");
    assert_eq!(report.errors.values().sum::<u64>(), r.errors);
    assert!(
        report
            .errors
            .keys()
            .all(|k| ["connect", "http", "body", "timeout"].contains(&k.as_str())),
        "{:?}",
        report.errors
    );

    assert!(summary::text(&report).contains("errors "));
    let admin = report.admin.expect("admin sampling was asked for");
    assert_eq!(admin.samples, 0);
    assert!(admin.failures > 0);
    let error = admin.first_error.expect("the first failure is kept");
    assert!(error.contains("401"), "the failure says why: {error}");
}
