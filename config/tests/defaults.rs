//! Defaults are those of DESIGN.md, `examples/full.toml` loads, relative paths resolve
//! against the config file, and `summary()` says what `tidegate check` promises.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{HELLO, fixtures, parse_ok};
use tidegate_config::{Cache, Queue, Readiness, Scaling, Server};

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test addresses are valid")
}

#[test]
fn defaults_match_the_design() {
    let config = parse_ok(HELLO);

    let server = &config.server;
    assert_eq!(server.listen, [addr("127.0.0.1:8080")]);
    assert_eq!(server.worker_threads, 0);
    assert_eq!(server.tls, None);
    assert_eq!(server.request_timeout, Duration::from_secs(60));
    assert_eq!(server.header_read_timeout, Duration::from_secs(10));
    assert_eq!(server.idle_timeout, Duration::from_secs(60));
    assert_eq!(server.max_body_bytes, 10 * 1024 * 1024);
    assert_eq!(server.shutdown_grace, Duration::from_secs(30));

    assert_eq!(config.admin.listen, addr("127.0.0.1:9901"));
    assert_eq!(config.admin.token, None);

    let hello = &config.functions["hello"];
    assert_eq!(hello.endpoints, []);
    assert!(hello.env.is_empty());
    assert_eq!(
        hello.readiness,
        Readiness {
            http_path: None,
            tcp: false,
            timeout: Duration::from_secs(30),
        }
    );
    assert_eq!(hello.memory_mb, 256);
    assert_eq!(hello.stop_grace, Duration::from_secs(10));
    assert!(!hello.routes[0].strip_prefix);
    assert_eq!(hello.routes[0].priority, None);

    let scaling = &hello.scaling;
    assert_eq!((scaling.min_instances, scaling.max_instances), (0, 100));
    assert_eq!(scaling.target_concurrency, 10.0);
    assert_eq!(scaling.container_concurrency, 0);
    assert_eq!(scaling.tick, Duration::from_secs(1));
    assert_eq!(scaling.stable_window, Duration::from_secs(60));
    assert_eq!(scaling.panic_window, Duration::from_secs(6));
    assert_eq!(scaling.panic_threshold, 2.0);
    assert_eq!(scaling.scale_down_delay, Duration::ZERO);
    assert_eq!(scaling.scale_to_zero_grace, Duration::from_secs(30));
    let triggers = [
        scaling.target_rps,
        scaling.target_cpu_percent,
        scaling.target_memory_percent,
        scaling.target_queue_depth,
    ];
    assert_eq!(triggers, [None; 4]);
    assert_eq!(scaling.custom, None);

    let queue = &hello.queue;
    assert_eq!(queue.max_depth, 1000);
    assert_eq!(queue.timeout, Duration::from_secs(10));
    assert_eq!(queue.priorities, ["high", "normal", "low"]);
    assert_eq!(queue.default_priority, "normal");
    assert_eq!(queue.priority_header, "x-tidegate-priority");
    assert_eq!(queue.aging, Duration::from_secs(5));

    let cache = &hello.cache;
    assert!(!cache.enabled);
    assert_eq!(cache.max_bytes, 64 * 1024 * 1024);
    assert_eq!(cache.default_ttl, Duration::ZERO);
    assert_eq!(cache.key_headers, Vec::<String>::new());
}

#[test]
fn each_table_default_is_its_empty_table() {
    let config = parse_ok(HELLO);
    assert_eq!(config.server, Server::default());
    assert_eq!(config.functions["hello"].scaling, Scaling::default());
    assert_eq!(config.functions["hello"].queue, Queue::default());
    assert_eq!(config.functions["hello"].cache, Cache::default());
}

fn full_example() -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/full.toml");
    let source = std::fs::read_to_string(&path).expect("examples/full.toml is in the repository");
    (path, source)
}

#[test]
fn the_full_example_loads_and_restates_the_defaults() {
    let (path, source) = full_example();
    let config = tidegate_config::parse_with_env(&source, &path, common::env)
        .unwrap_or_else(|errors| panic!("examples/full.toml is valid, got:\n{errors}"));

    // The example writes out the defaults, so where it sets no other value they must agree.
    let hello = &config.functions["hello"];
    assert_eq!(config.server, parse_ok(HELLO).server);
    assert_eq!(hello.queue, Queue::default());
    assert_eq!(
        Scaling {
            target_rps: None,
            target_cpu_percent: None,
            target_memory_percent: None,
            target_queue_depth: None,
            custom: None,
            ..hello.scaling.clone()
        },
        Scaling::default()
    );
    assert_eq!(
        Cache {
            enabled: false,
            ..hello.cache.clone()
        },
        Cache::default()
    );

    assert_eq!(config.admin.token.as_deref(), Some("s3cret"));
    assert_eq!(hello.command, ["python3", "examples/functions/hello.py"]);
    assert_eq!(hello.env["GREETING"], "hi");
    // The command's path is relative to the repository root, which `workdir` names.
    let workdir = hello
        .workdir
        .as_deref()
        .expect("workdir is always resolved");
    assert!(
        workdir.join("examples/full.toml").is_file(),
        "workdir is the repository root"
    );
}

#[test]
fn relative_paths_resolve_against_the_config_file() {
    let source = format!(
        "[server.tls]\nlisten = [\"127.0.0.1:8443\"]\ncert = \"cert.pem\"\nkey = \"{}\"\n{HELLO}\n\
         [functions.other]\nroutes = [{{ host = \"other\" }}]\ncommand = [\"x\"]\nworkdir = \"sub\"\n",
        fixtures().join("key.pem").display()
    );
    let config = parse_ok(&source);
    let tls = config.server.tls.as_ref().expect("tls is set");
    assert_eq!(tls.cert, fixtures().join("cert.pem"));
    assert_eq!(
        tls.key,
        fixtures().join("key.pem"),
        "absolute paths are kept"
    );
    assert_eq!(config.functions["hello"].workdir, Some(fixtures()));
    assert_eq!(
        config.functions["other"].workdir,
        Some(fixtures().join("sub"))
    );

    // A bare file name is relative to the current directory, and so is all it names.
    let config = tidegate_config::parse(HELLO, Path::new("tidegate.toml")).expect("valid");
    assert_eq!(config.functions["hello"].workdir, Some(PathBuf::from(".")));
}

#[test]
fn the_summary_lists_listeners_admin_functions_routes_and_scaling() {
    let (path, source) = full_example();
    let config = tidegate_config::parse_with_env(&source, &path, common::env).expect("valid");
    let summary = config.summary();
    let expected_lines = [
        "listeners:",
        "  http   127.0.0.1:8080",
        "admin:",
        "  127.0.0.1:9901 (token set)",
        "functions: 1",
        "  hello",
        "    provider: process, command python3 examples/functions/hello.py (in ",
        "      host hello.localhost, any path",
        "      any host, path /hello, strip prefix, priority low",
        "    scaling: 0 to 100 instances, target concurrency 10 per instance",
    ];
    for line in expected_lines {
        assert!(
            summary.lines().any(|l| l.starts_with(line)),
            "no {line:?} in:\n{summary}"
        );
    }
    assert!(
        !summary.contains("s3cret"),
        "the summary never shows the token"
    );

    let config = parse_ok(
        "[functions.db]\nroutes = [{ host = \"db\" }]\nendpoints = [\"127.0.0.1:9000\", \"[::1]:9001\"]\n",
    );
    let summary = config.summary();
    assert!(
        summary.contains("provider: static, endpoints 127.0.0.1:9000, [::1]:9001"),
        "{summary}"
    );
    assert!(
        summary.contains("scaling: none (static endpoints)"),
        "{summary}"
    );
}
