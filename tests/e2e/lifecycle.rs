//! Start-up and graceful shutdown.

use std::time::Duration;

use crate::harness::{Tidegate, admin_get, function_state, get, wait_until};
use crate::upstream::Upstream;

fn config(endpoint: std::net::SocketAddr, grace: &str, function_extra: &str) -> String {
    format!(
        r#"
        [server]
        listen = ["127.0.0.1:0"]
        worker_threads = 2
        shutdown_grace = "{grace}"
        [admin]
        listen = "127.0.0.1:0"
        [functions.f]
        endpoints = ["{endpoint}"]
        routes = [{{ path_prefix = "/" }}]
        {function_extra}
        "#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_slow_request_finish_then_exits_zero() {
    let upstream = Upstream::start("u").await;
    let mut proxy = Tidegate::start(&config(upstream.addr, "10s", ""));
    let (http, admin) = (proxy.http, proxy.admin);
    assert_eq!(admin_get(admin, "/readyz", None).await.status, 200);

    let slow = tokio::spawn(async move { get(http, "x", "/slow/1000").await });
    wait_until("the slow request is in flight", || async {
        function_state(admin, "f", None).await["in_flight"] == 1
    })
    .await;
    proxy.signal("TERM");

    let answer = slow.await.expect("slow task");
    assert_eq!(answer.status, 200, "the in-flight request completes");
    assert_eq!(answer.text(), "slow done");
    let status = tokio::task::spawn_blocking(move || {
        let status = proxy.wait_exit(Duration::from_secs(20));
        (status, proxy)
    })
    .await
    .expect("wait task");
    assert_eq!(status.0.code(), Some(0), "a graceful shutdown exits 0");
    assert!(
        tokio::net::TcpStream::connect(http).await.is_err(),
        "the listener is closed after exit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_requests_get_shutting_down_when_the_grace_period_ends() {
    let upstream = Upstream::start("u").await;
    let mut proxy = Tidegate::start(&config(
        upstream.addr,
        "300ms",
        "[functions.f.scaling]\ncontainer_concurrency = 1\n[functions.f.queue]\ntimeout = \"30s\"",
    ));
    let (http, admin) = (proxy.http, proxy.admin);

    let slow = tokio::spawn(async move { get(http, "x", "/slow/5000").await });
    wait_until("the slow request is in flight", || async {
        function_state(admin, "f", None).await["in_flight"] == 1
    })
    .await;
    let queued = tokio::spawn(async move { get(http, "x", "/queued").await });
    wait_until("a request is queued", || async {
        function_state(admin, "f", None).await["queued"] == 1
    })
    .await;

    proxy.signal("INT");
    let answer = queued.await.expect("queued task");
    assert_eq!(answer.status, 503);
    assert_eq!(answer.error_code(), "SHUTTING_DOWN");
    let status = tokio::task::spawn_blocking(move || proxy.wait_exit(Duration::from_secs(20)))
        .await
        .expect("wait task");
    assert_eq!(status.code(), Some(0));
    // The slow request was cut off when the grace period ended: its client sees an error
    // or a closed connection, never a hang.
    let _ = tokio::time::timeout(Duration::from_secs(10), slow)
        .await
        .expect("the slow request ends");
}
