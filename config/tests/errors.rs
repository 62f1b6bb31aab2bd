//! How errors read: `FILE:LINE:COL: KEY: message`, for syntax errors, type errors, unknown
//! keys and checks made after parsing alike.

mod common;

use std::path::Path;

use common::{HELLO, errors, origin};

/// The one error a source produces, as printed.
fn only_error(source: &str) -> String {
    let found = errors(source);
    assert_eq!(found.len(), 1, "expected one error, got {found:#?}");
    found[0].to_string()
}

/// `origin():` followed by `rest`, the way every located error starts.
fn at(rest: &str) -> String {
    format!("{}:{rest}", origin().display())
}

#[test]
fn validation_errors_point_at_the_key() {
    let source =
        format!("{HELLO}\n[functions.hello.scaling]\nmin_instances = 5\nmax_instances = 3\n");
    assert_eq!(
        only_error(&source),
        at(
            "7:1: functions.hello.scaling.min_instances: 5 is above `max_instances` (3); \
            lower `min_instances` or raise `max_instances`"
        )
    );
}

#[test]
fn errors_in_inline_tables_point_inside_them() {
    let source = "[functions.hello]\ncommand = [\"x\"]\nroutes = [\n  { host = \"a\" },\n  { host = \"b\", strip_prefix = true },\n]\n";
    assert_eq!(
        only_error(source),
        at(
            "5:17: functions.hello.routes[1].strip_prefix: `strip_prefix` needs a `path_prefix` \
            to strip; set one, or remove `strip_prefix`"
        )
    );
}

#[test]
fn defaults_are_located_at_their_table_header() {
    let source = format!("{HELLO}\n[functions.hello.queue]\npriorities = [\"a\", \"b\"]\n");
    let error = only_error(&source);
    assert!(
        error.starts_with(&at(
            "6:18: functions.hello.queue.default_priority: `normal` is not one of"
        )),
        "{error}"
    );
}

#[test]
fn unknown_keys_are_rejected_with_the_valid_ones() {
    let source = format!("{HELLO}\n[functions.hello.scaling]\nmin_instance = 1\n");
    let error = only_error(&source);
    assert!(
        error.starts_with(&at(
            "7:1: functions.hello.scaling.min_instance: unknown key `min_instance` \
             (did you mean `min_instances`?); valid keys here: `min_instances`, `max_instances`,"
        )),
        "{error}"
    );
    assert!(
        error.contains("`custom`"),
        "every valid key is listed: {error}"
    );

    let error = only_error(&format!("[servr]\nlisten = []\n{HELLO}"));
    assert!(
        error.starts_with(&at("1:2: servr: unknown key `servr` (did you mean `server`?); valid keys here: `server`, `admin`, `functions`")),
        "{error}"
    );

    let error = only_error("[functions.hello]\nroutes = [{ hots = \"a\" }]\ncommand = [\"x\"]\n");
    assert!(
        error.starts_with(&at(
            "2:13: functions.hello.routes[0].hots: unknown key `hots` (did you mean `host`?)"
        )),
        "{error}"
    );
}

#[test]
fn type_errors_say_what_was_expected() {
    let cases = [
        (
            format!("{HELLO}\n[functions.hello.scaling]\nmax_instances = \"ten\"\n"),
            "7:17: functions.hello.scaling.max_instances: expected a non-negative integer, found string \"ten\"",
        ),
        (
            format!("{HELLO}\n[functions.hello.scaling]\ntick = \"1 sec\"\n"),
            "7:8: functions.hello.scaling.tick: unknown unit \"sec\" in \"1 sec\"; expected a duration like \"250ms\"",
        ),
        (
            format!("{HELLO}\n[functions.hello.scaling]\ntick = 1\n"),
            "7:8: functions.hello.scaling.tick: a duration needs a unit: write \"1s\" or \"1ms\", not 1",
        ),
        (
            format!("[server]\nmax_body_bytes = \"lots\"\n{HELLO}"),
            "2:18: server.max_body_bytes: \"lots\" is not a size; expected a size like \"64MiB\"",
        ),
        (
            format!("[server]\nlisten = [\"localhost:80\"]\n{HELLO}"),
            "2:11: server.listen[0]: expected a socket address like \"127.0.0.1:8080\"",
        ),
        (
            format!("[server]\ntls = \"on\"\n{HELLO}"),
            "2:7: server.tls: expected a table, found string \"on\"",
        ),
        (
            "[functions.hello]\ncommand = [\"x\"]\n".to_owned(),
            "1:1: functions.hello: required key `routes` is missing",
        ),
    ];
    for (source, expected) in cases {
        let error = only_error(&source);
        assert!(
            error.starts_with(&at(expected)),
            "wanted {expected:?}\n   got {error:?}"
        );
    }
}

#[test]
fn syntax_errors_have_a_position_but_no_key() {
    let error = only_error("[server]\nlisten = [\"127.0.0.1:8080\"\n");
    assert!(error.starts_with(&at("2:")), "{error}");
    assert!(
        !error.contains("server.listen"),
        "a syntax error belongs to no key: {error}"
    );

    let error = only_error(&format!("{HELLO}memory_mb = 1\nmemory_mb = 2\n"));
    assert!(error.starts_with(&at("6:1: ")), "{error}");
    assert!(
        error.ends_with("this key is written twice; keep one"),
        "{error}"
    );
}

#[test]
fn every_error_is_printed_one_per_line() {
    let source = "[server]\nlisten = []\nmax_body_bytes = 0\n";
    let printed = common::parse(source).expect_err("two problems").to_string();
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(
        lines[0].starts_with(&at("2:1: server.listen: ")),
        "{printed}"
    );
    assert!(
        lines[1].starts_with(&at("3:1: server.max_body_bytes: ")),
        "{printed}"
    );
}

#[test]
fn an_unreadable_file_is_named() {
    let path = Path::new("/nonexistent/tidegate.toml");
    let errors = tidegate_config::load(path).expect_err("the file does not exist");
    let printed = errors.to_string();
    assert!(
        printed.starts_with("/nonexistent/tidegate.toml: cannot read the configuration file: "),
        "{printed}"
    );
    assert_eq!(errors.errors()[0].line, None);
}

#[test]
fn load_reads_a_file_and_resolves_against_its_directory() {
    let path = common::fixtures().join("minimal.toml");
    let config = tidegate_config::load(&path).expect("the fixture is valid");
    assert_eq!(
        config.functions["hello"].workdir.as_deref(),
        Some(common::fixtures().as_path())
    );
}
