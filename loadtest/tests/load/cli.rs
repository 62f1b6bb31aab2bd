//! The binary: a pure command-line run writing a report and charts, a scenario run with
//! its target overridden, and `check`.

use std::process::Output;

use serde_json::Value;
use tokio::process::Command;

use crate::support::{LOADTEST_BIN, Upstream, scratch};

async fn loadtest(args: &[&str]) -> Output {
    let output = Command::new(LOADTEST_BIN)
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .await
        .expect("tidegate-loadtest runs");
    assert!(
        output.status.success(),
        "tidegate-loadtest {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[tokio::test]
async fn a_command_line_run_prints_a_summary_and_writes_the_report_and_charts() {
    let upstream = Upstream::start(&[]).await;
    let dir = scratch("cli-run");
    let report = dir.join("out/report.json");
    let charts = dir.join("charts");
    let url = upstream.url("/cli");
    let output = loadtest(&[
        "--url",
        &url,
        "--rate",
        "50",
        "--duration",
        "500ms",
        "--connections",
        "2",
        "--report",
        report.to_str().unwrap(),
        "--chart-dir",
        charts.to_str().unwrap(),
        "--threads",
        "1",
    ])
    .await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("requests   25 sent, 25 answered"),
        "{stdout}"
    );
    let json: Value = serde_json::from_slice(&std::fs::read(&report).expect("the report exists"))
        .expect("the report is JSON");
    assert_eq!(json["requests"]["sent"], 25);
    assert!(charts.join("timeline.svg").exists());
    assert!(charts.join("timeline.png").exists());
    assert_eq!(upstream.received().await, 25);
}

#[tokio::test]
async fn a_scenario_runs_against_an_overridden_target() {
    let upstream = Upstream::start(&[]).await;
    let dir = scratch("cli-scenario");
    let report = dir.join("steady.json");
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/steady.toml");
    let target = format!("http://{}", upstream.addr);
    // The scenario's admin address is likely closed here; its failures are reported, not
    // fatal. Its output paths are overridden to stay out of the source tree.
    let output = loadtest(&[
        "run",
        scenario,
        "--target",
        &target,
        "--rate",
        "40",
        "--duration",
        "250ms",
        "--connections",
        "2",
        "--sample-interval",
        "100ms",
        "--report",
        report.to_str().unwrap(),
        "--chart-dir",
        dir.to_str().unwrap(),
    ])
    .await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("tidegate-loadtest: steady: open loop"),
        "{stdout}"
    );
    let json: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["scenario"], "steady");
    assert_eq!(json["requests"]["sent"], 10);
    assert_eq!(
        json["target"]["host"], "hello.localhost",
        "the scenario's Host header stays"
    );
    let stats = crate::support::get_json(upstream.addr, "/__stats").await;
    assert_eq!(
        stats["by_path"]["/"], 10,
        "the scenario's path, on the new target: {stats}"
    );
}

#[tokio::test]
async fn check_validates_every_scenario() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        .filter(|p| p.ends_with(".toml"))
        .collect();
    files.sort();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let output = loadtest(&args).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
}

#[tokio::test]
async fn a_bad_scenario_fails_with_the_place_of_the_mistake() {
    let dir = scratch("cli-bad");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[target]\nurl = \"http://127.0.0.1:1/\"\n[load]\nconections = 3\n",
    )
    .unwrap();
    let output = Command::new(LOADTEST_BIN)
        .args(["check", path.to_str().unwrap()])
        .env_remove("RUST_BACKTRACE")
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("conections") && stderr.contains("line 4"),
        "{stderr}"
    );
}
