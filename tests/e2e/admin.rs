//! The admin API: health, metrics, function state, and its bearer token.

use crate::harness::{Tidegate, admin_get, check, get};
use crate::upstream::Upstream;

fn config(endpoint: std::net::SocketAddr, admin_extra: &str) -> String {
    format!(
        r#"
        [server]
        listen = ["127.0.0.1:0"]
        [admin]
        listen = "127.0.0.1:0"
        {admin_extra}
        [functions.hello]
        endpoints = ["{endpoint}", "{endpoint}"]
        routes = [{{ path_prefix = "/" }}]
        "#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_metrics_and_functions() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&config(upstream.addr, ""));
    assert_eq!(admin_get(proxy.admin, "/healthz", None).await.status, 200);
    assert_eq!(admin_get(proxy.admin, "/readyz", None).await.status, 200);

    for _ in 0..3 {
        assert_eq!(get(proxy.http, "x", "/").await.status, 200);
    }
    let metrics = admin_get(proxy.admin, "/metrics", None).await.text();
    assert!(
        metrics.contains(r#"tidegate_requests_total{function="hello",status="200"} 3"#),
        "requests are counted: {metrics}"
    );
    assert!(metrics.contains("tidegate_request_duration_seconds_bucket{function=\"hello\""));
    assert!(metrics.contains(r#"tidegate_instances{function="hello",state="ready"} 2"#));
    assert!(metrics.contains(r#"tidegate_in_flight{function="hello"} 0"#));

    let all = admin_get(proxy.admin, "/v1/functions", None).await.json();
    let hello = &all[0];
    assert_eq!(hello["name"], "hello");
    assert_eq!(hello["instances"]["ready"], 2);
    assert_eq!(hello["in_flight"], 0);
    assert_eq!(hello["queued"], 0);
    assert_eq!(hello["panic"], false);
    assert!(hello["cache"]["hit_ratio"].is_number());

    let one = admin_get(proxy.admin, "/v1/functions/hello", None)
        .await
        .json();
    let fleet = one["fleet"].as_array().expect("a fleet array");
    assert_eq!(fleet.len(), 2);
    assert_eq!(fleet[0]["state"], "ready");
    assert_eq!(fleet[0]["address"], upstream.addr.to_string());
    let served: u64 = fleet
        .iter()
        .map(|i| i["served"].as_u64().expect("served count"))
        .sum();
    assert_eq!(served, 3);

    let missing = admin_get(proxy.admin, "/v1/functions/nope", None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error_code(), "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_token_is_required_except_for_healthz() {
    let upstream = Upstream::start("u").await;
    // SAFETY of the test: the variable is read by the child process only.
    let proxy = {
        let text = config(upstream.addr, "token = \"${TIDEGATE_TEST_TOKEN}\"");
        let dir = crate::harness::TempDir::new();
        let path = dir.write("tidegate.toml", &text);
        let mut child = std::process::Command::new(crate::harness::binary())
            .args(["run", "--config"])
            .arg(&path)
            .env("TIDEGATE_TEST_TOKEN", "s3cret")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("tidegate starts");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("piped")),
            &mut line,
        )
        .expect("announcement");
        let announced: serde_json::Value = serde_json::from_str(&line).expect("JSON announcement");
        let admin: std::net::SocketAddr = announced["admin"]
            .as_str()
            .expect("admin")
            .parse()
            .expect("address");
        (child, admin, dir)
    };
    let (mut child, admin, _dir) = proxy;

    assert_eq!(admin_get(admin, "/healthz", None).await.status, 200);
    for path in ["/readyz", "/metrics", "/v1/functions"] {
        let refused = admin_get(admin, path, None).await;
        assert_eq!(refused.status, 401, "{path} without a token");
        assert_eq!(refused.error_code(), "UNAUTHORIZED");
        assert_eq!(
            admin_get(admin, path, Some("wrong")).await.status,
            401,
            "{path} with a wrong token"
        );
        assert_eq!(
            admin_get(admin, path, Some("s3cret")).await.status,
            200,
            "{path} with the token"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_public_admin_address_without_a_token_is_refused() {
    let text = r#"
        [admin]
        listen = "0.0.0.0:0"
        [functions.f]
        endpoints = ["127.0.0.1:9"]
        routes = [{ path_prefix = "/" }]
    "#;
    let (status, _, stderr, _, _dir) = check(text);
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains("admin.token") || stderr.contains("token"),
        "the error names the token: {stderr}"
    );
}
