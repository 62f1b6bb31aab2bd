//! Helpers shared by the integration tests: parsing with a fixed environment, as if from a
//! file in `tests/fixtures/`, where the TLS certificate and key live.

#![allow(dead_code, reason = "each test crate uses a different subset")]

use std::path::PathBuf;

use tidegate_config::{Config, ConfigError, ConfigErrors};

/// The smallest valid function table; tests add keys to it.
pub const HELLO: &str = r#"
[functions.hello]
routes = [{ path_prefix = "/hello" }]
command = ["python3", "hello.py"]
"#;

/// Where test configs pretend to live, so relative paths find the fixtures.
pub fn origin() -> PathBuf {
    fixtures().join("tidegate.toml")
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The environment tests see: only `TIDEGATE_ADMIN_TOKEN` and `GREETING` are set.
pub fn env(name: &str) -> Option<String> {
    match name {
        "TIDEGATE_ADMIN_TOKEN" => Some("s3cret".to_owned()),
        "GREETING" => Some("hi".to_owned()),
        _ => None,
    }
}

pub fn parse(source: &str) -> Result<Config, ConfigErrors> {
    tidegate_config::parse_with_env(source, &origin(), env)
}

pub fn parse_ok(source: &str) -> Config {
    parse(source).unwrap_or_else(|errors| panic!("config should be valid, got:\n{errors}"))
}

pub fn errors(source: &str) -> Vec<ConfigError> {
    match parse(source) {
        Ok(_) => panic!("config should be invalid:\n{source}"),
        Err(errors) => errors.errors().to_vec(),
    }
}
