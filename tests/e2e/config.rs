//! `tidegate check` and start-up on bad configuration.

use std::process::Command;

use crate::harness::{TempDir, binary, check, path_str};

#[test]
fn check_prints_functions_and_routes() {
    let text = r#"
        [functions.hello]
        endpoints = ["127.0.0.1:9000"]
        routes = [{ host = "hello.localhost" }, { path_prefix = "/hello", strip_prefix = true }]
    "#;
    let (status, stdout, stderr, _, _dir) = check(text);
    assert!(status.success(), "valid config: {stderr}");
    assert!(stdout.contains("hello"), "{stdout}");
    assert!(stdout.contains("hello.localhost"), "{stdout}");
    assert!(stdout.contains("/hello"), "{stdout}");
}

#[test]
fn a_bad_config_is_rejected_with_file_line_and_column() {
    let text = "[server]\nlisten = [\"127.0.0.1:0\"]\n\n[functions.hello]\nendpoints = [\"127.0.0.1:9000\"]\nroutes = [{ path_prefix = \"/\" }]\nmemroy_mb = 128\n";
    let (status, _, stderr, path, _dir) = check(text);
    assert_eq!(status.code(), Some(2));
    let location = format!("{}:7:", path_str(&path));
    assert!(
        stderr.contains(&location),
        "the error names {location}: {stderr}"
    );
    assert!(stderr.contains("memroy_mb"), "{stderr}");
    assert!(
        stderr.contains("memory_mb"),
        "the error lists what would be valid: {stderr}"
    );
}

#[test]
fn an_invalid_value_is_rejected_at_its_line() {
    let text = "[functions.hello]\ncommand = [\"python3\", \"hello.py\"]\nroutes = [{ path_prefix = \"/\" }]\n\n[functions.hello.scaling]\nmin_instances = 5\nmax_instances = 2\n";
    let (status, _, stderr, path, _dir) = check(text);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains(&path_str(&path)), "{stderr}");
    assert!(stderr.contains("min_instances"), "{stderr}");
    assert!(
        stderr.contains(":6:") || stderr.contains(":7:"),
        "a line number is given: {stderr}"
    );
}

#[test]
fn run_refuses_an_invalid_config_with_status_2() {
    let dir = TempDir::new();
    let path = dir.write("bad.toml", "[functions.x]\nroutes = []\n");
    let status = Command::new(binary())
        .args(["run", "--config"])
        .arg(&path)
        .status()
        .expect("tidegate runs");
    assert_eq!(status.code(), Some(2));
}

#[test]
fn a_missing_file_is_an_error() {
    let output = Command::new(binary())
        .args(["check", "--config", "/nonexistent/tidegate.toml"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/tidegate.toml"));
}
