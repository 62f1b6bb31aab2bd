//! Structured logs: `--log-format json` writes one JSON object per line, and a request is
//! one debug event with its function, status and duration.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::harness::{TempDir, binary, get};
use crate::upstream::Upstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_one_event_per_request() {
    let upstream = Upstream::start("u").await;
    let dir = TempDir::new();
    let config = format!(
        r#"
        [server]
        listen = ["127.0.0.1:0"]
        worker_threads = 1
        [admin]
        listen = "127.0.0.1:0"
        [functions.logged]
        endpoints = ["{}"]
        routes = [{{ path_prefix = "/" }}]
        "#,
        upstream.addr
    );
    let path = dir.write("tidegate.toml", &config);
    let mut child = Command::new(binary())
        .args(["run", "--log-format", "json", "--config"])
        .arg(&path)
        .env("RUST_LOG", "tidegate_proxy=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tidegate starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut line)
        .expect("announcement");
    let announced: serde_json::Value = serde_json::from_str(&line).expect("JSON announcement");
    let http = announced["http"][0]
        .as_str()
        .expect("address")
        .parse()
        .expect("socket address");

    assert_eq!(get(http, "x", "/logged").await.status, 200);

    // Stop it so its standard error ends, then read every line.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let stderr = child.stderr.take().expect("piped stderr");
    let lines: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect();
    let _ = child.wait();

    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|_| panic!("every log line is JSON: {l:?}"))
        })
        .collect();
    let finished = events
        .iter()
        .find(|e| e["message"] == "request finished")
        .unwrap_or_else(|| panic!("a request-finished event: {lines:#?}"));
    assert_eq!(finished["function"], "logged");
    assert_eq!(finished["status"], 200);
    assert!(finished["duration_us"].is_u64());
    assert_eq!(finished["level"], "DEBUG");
    assert!(
        events
            .iter()
            .any(|e| e["message"] == "tidegate started" && e["level"] == "INFO")
    );
    assert!(
        events.iter().any(|e| e["message"] == "tidegate stopped"),
        "lifecycle is logged at info"
    );
}
