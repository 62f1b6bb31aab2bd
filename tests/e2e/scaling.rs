//! Scaling end to end: tidegate starting, replacing and stopping real `tidegate-fn`
//! processes as load comes and goes, and never leaving one behind.
//!
//! The policies here use a 200 ms tick and short windows so that a whole cycle (zero,
//! burst, back to the minimum) fits in seconds; limits on waits are generous because the
//! machine running them may be slow, and nothing asserts on speed.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    Tidegate, admin_send, function_state, get, instance_pids, one_function, process_alive,
    process_function, wait_until, wait_until_within,
};

const HOST: &str = "f.test";
const SCALE_LIMIT: Duration = Duration::from_secs(30);

async fn state(proxy: &Tidegate) -> Value {
    function_state(proxy.admin, "f", None).await
}

fn count(state: &Value, which: &str) -> u64 {
    state["instances"][which].as_u64().expect("a count")
}

/// Every instance, whatever its state.
fn total(state: &Value) -> u64 {
    count(state, "starting") + count(state, "ready") + count(state, "draining")
}

#[tokio::test]
async fn a_burst_at_zero_succeeds_whole_and_the_fleet_follows_it_up_and_down() {
    let proxy = Tidegate::start(&process_function(
        "",
        r#"
        min_instances = 0
        target_concurrency = 2
        container_concurrency = 2
        stable_window = "2s"
        panic_window = "1s"
        scale_to_zero_grace = "1s"
        "#,
    ));
    assert_eq!(
        total(&state(&proxy).await),
        0,
        "nothing runs before traffic"
    );

    // 20 requests at once, each held 1.5 s by the function: 20 / 2 = 10 instances.
    let burst: Vec<_> = (0..20)
        .map(|_| tokio::spawn(get(proxy.http, HOST, "/?latency=1500ms")))
        .collect();
    let pids = std::sync::Mutex::new(Vec::new());
    wait_until_within(
        SCALE_LIMIT,
        "the fleet reaches 10 ready instances",
        || async {
            let s = state(&proxy).await;
            *pids.lock().unwrap() = instance_pids(&s);
            count(&s, "ready") == 10
        },
    )
    .await;
    let pids = pids.into_inner().unwrap();
    let mut cold = 0;
    for request in burst {
        let answer = request.await.expect("request task");
        assert_eq!(answer.status, 200, "{}", answer.text());
        let timing = answer
            .headers
            .get("server-timing")
            .map(|v| v.to_str().unwrap().to_owned());
        cold += usize::from(timing.is_some_and(|t| t.contains("cold;dur=")));
    }
    assert!(
        cold > 0,
        "requests that waited for a start say so in Server-Timing"
    );
    let metrics = crate::harness::admin_get(proxy.admin, "/metrics", None)
        .await
        .text();
    for name in [
        "tidegate_instances{",
        "tidegate_desired_instances{",
        "tidegate_panic_mode{",
        "tidegate_scale_events_total{",
        "tidegate_cold_starts_total{",
        "tidegate_cold_start_seconds_bucket{",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    let cold_starts: f64 = metrics
        .lines()
        .find(|l| l.starts_with("tidegate_cold_starts_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("a cold-start count");
    assert!(cold_starts >= 10.0, "{cold_starts}");

    // The load is gone: back to zero, each process stopped.
    wait_until_within(SCALE_LIMIT, "the fleet is back to zero", || async {
        total(&state(&proxy).await) == 0
    })
    .await;
    wait_until("every drained process has exited", || async {
        pids.iter().all(|pid| !process_alive(*pid))
    })
    .await;
}

#[tokio::test]
async fn after_load_the_fleet_shrinks_to_min_instances_and_no_lower() {
    let proxy = Tidegate::start(&process_function(
        "",
        r#"
        min_instances = 2
        target_concurrency = 1
        stable_window = "1s"
        panic_window = "400ms"
        "#,
    ));
    wait_until_within(
        SCALE_LIMIT,
        "min_instances start with no traffic",
        || async { count(&state(&proxy).await, "ready") == 2 },
    )
    .await;
    let load: Vec<_> = (0..6)
        .map(|_| tokio::spawn(get(proxy.http, HOST, "/?latency=1s")))
        .collect();
    wait_until_within(SCALE_LIMIT, "the fleet grows past the minimum", || async {
        count(&state(&proxy).await, "ready") > 2
    })
    .await;
    for request in load {
        assert_eq!(request.await.expect("request task").status, 200);
    }
    wait_until_within(
        SCALE_LIMIT,
        "the fleet is back to min_instances",
        || async {
            let s = state(&proxy).await;
            count(&s, "ready") == 2 && total(&s) == 2
        },
    )
    .await;
    // And it stays there: several ticks later, still two.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let s = state(&proxy).await;
    assert_eq!((count(&s, "ready"), total(&s)), (2, 2));
    assert_eq!(s["reason"], "min_instances");
}

#[tokio::test]
async fn a_killed_instance_is_replaced_while_its_sibling_carries_on() {
    let proxy = Tidegate::start(&process_function(
        "",
        r#"
        min_instances = 2
        max_instances = 2
        "#,
    ));
    wait_until_within(SCALE_LIMIT, "two instances are ready", || async {
        count(&state(&proxy).await, "ready") == 2
    })
    .await;
    let before = instance_pids(&state(&proxy).await);

    // Four clients in a loop while one instance dies under them.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            let addr = proxy.http;
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u32, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let answer = get(addr, HOST, "/?latency=20ms").await;
                    if answer.status == 200 {
                        ok += 1;
                    } else {
                        failed.push(answer.error_code());
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let victim = before[0];
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &victim.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    wait_until_within(
        SCALE_LIMIT,
        "a new instance replaces the killed one",
        || async {
            let s = state(&proxy).await;
            let pids = instance_pids(&s);
            count(&s, "ready") == 2 && !pids.contains(&victim)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);

    let (mut ok, mut failed) = (0, Vec::new());
    for client in clients {
        let (o, f) = client.await.expect("client task");
        ok += o;
        failed.extend(f);
    }
    assert!(
        ok > 20,
        "the surviving instance kept serving ({ok} answers)"
    );
    // Only requests caught in flight on the dying instance may fail, and only as the
    // instance being unreachable; one client cannot have more than one there at a time.
    assert!(failed.len() <= 4, "failed: {failed:?}");
    assert!(
        failed.iter().all(|code| code == "UPSTREAM_UNAVAILABLE"),
        "{failed:?}"
    );
    assert!(!process_alive(victim));
}

#[tokio::test]
async fn a_command_that_exits_at_once_gives_scale_failed_without_waiting_out_the_queue() {
    let proxy = Tidegate::start(
        &process_function("", "")
            .replace(
                &format!(
                    "command = [\"{}\"]",
                    crate::harness::function_binary().display()
                ),
                r#"command = ["sh", "-c", "echo cannot start >&2; exit 3"]"#,
            )
            .replace(
                "[functions.f.scaling]",
                "[functions.f.queue]\ntimeout = \"120s\"\n[functions.f.scaling]",
            ),
    );
    // The client gives up long before the queue timeout: an answer at all means the
    // failure was recognised, not waited out.
    let first = tokio::time::timeout(Duration::from_secs(60), get(proxy.http, HOST, "/"))
        .await
        .expect("an answer well before the 120 s queue timeout");
    assert_eq!(first.status, 503);
    assert_eq!(first.error_code(), "SCALE_FAILED");
    let s = state(&proxy).await;
    assert_eq!(s["failing"], true, "{s}");
    // While it keeps failing, later requests are refused at once.
    let again = tokio::time::timeout(Duration::from_secs(60), get(proxy.http, HOST, "/"))
        .await
        .expect("an answer");
    assert_eq!(again.error_code(), "SCALE_FAILED");
}

#[tokio::test]
async fn nothing_is_left_running_after_a_graceful_shutdown() {
    let mut proxy = Tidegate::start(&process_function("", "min_instances = 3"));
    wait_until_within(SCALE_LIMIT, "three instances are ready", || async {
        count(&state(&proxy).await, "ready") == 3
    })
    .await;
    let pids = instance_pids(&state(&proxy).await);
    assert_eq!(pids.len(), 3);
    proxy.signal("TERM");
    assert!(proxy.wait_exit(Duration::from_secs(30)).success());
    for pid in pids {
        assert!(!process_alive(pid), "instance {pid} outlived tidegate");
    }
}

#[tokio::test]
async fn instances_die_with_tidegate_even_when_it_is_killed() {
    let mut proxy = Tidegate::start(&process_function("", "min_instances = 2"));
    wait_until_within(SCALE_LIMIT, "two instances are ready", || async {
        count(&state(&proxy).await, "ready") == 2
    })
    .await;
    let pids = instance_pids(&state(&proxy).await);
    proxy.signal("KILL");
    proxy.wait_exit(Duration::from_secs(10));
    wait_until("the kernel has killed the orphaned instances", || async {
        pids.iter().all(|pid| !process_alive(*pid))
    })
    .await;
}

#[tokio::test]
async fn manual_scaling_pins_overrides_and_returns_to_the_policy() {
    let proxy = Tidegate::start(&process_function(
        "",
        r#"
        min_instances = 0
        scale_to_zero_grace = "1s"
        stable_window = "1s"
        panic_window = "500ms"
        "#,
    ));
    let scale = "/v1/functions/f/scale";

    let pinned = admin_send(proxy.admin, "POST", scale, r#"{"instances": 3}"#).await;
    assert_eq!(pinned.status, 200, "{}", pinned.text());
    assert_eq!(pinned.json()["manual"]["instances"], 3);
    wait_until_within(SCALE_LIMIT, "the pinned three are ready", || async {
        count(&state(&proxy).await, "ready") == 3
    })
    .await;
    assert_eq!(state(&proxy).await["reason"], "manual_pin");

    for (body, reason) in [
        (r#"{"instances": -2}"#, "whole number"),
        (
            r#"{"instances": 1, "min_instances": 1}"#,
            "cannot be combined",
        ),
        (r#"{"min_instances": 4, "max_instances": 1}"#, "above"),
        ("instances=3", "not JSON"),
    ] {
        let refused = admin_send(proxy.admin, "POST", scale, body).await;
        assert_eq!(refused.status, 400, "{body}");
        assert_eq!(refused.error_code(), "BAD_REQUEST");
        let message = refused.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(reason), "{body}: {message}");
    }
    assert_eq!(
        count(&state(&proxy).await, "ready"),
        3,
        "a refused body changes nothing"
    );

    // Bounds: at least one, at most one.
    let bounded = admin_send(
        proxy.admin,
        "POST",
        scale,
        r#"{"min_instances": 1, "max_instances": 1}"#,
    )
    .await;
    assert_eq!(bounded.status, 200);
    wait_until_within(SCALE_LIMIT, "the fleet drains to the new bound", || async {
        let s = state(&proxy).await;
        count(&s, "ready") == 1 && total(&s) == 1
    })
    .await;

    let released = admin_send(proxy.admin, "DELETE", scale, "").await;
    assert_eq!(released.status, 200);
    assert_eq!(released.json()["manual"], Value::Null);
    wait_until_within(
        SCALE_LIMIT,
        "the policy takes the idle function to zero",
        || async { total(&state(&proxy).await) == 0 },
    )
    .await;

    let missing = admin_send(proxy.admin, "POST", "/v1/functions/nope/scale", "{}").await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn a_static_function_cannot_be_scaled() {
    let endpoint = "127.0.0.1:9".parse().unwrap();
    let proxy = Tidegate::start(&one_function(endpoint, "", ""));
    let refused = admin_send(
        proxy.admin,
        "POST",
        "/v1/functions/f/scale",
        r#"{"instances": 2}"#,
    )
    .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.text().contains("does not scale"),
        "{}",
        refused.text()
    );
}
