//! Checks of one `[functions.NAME]` table: its name, provider, readiness, environment, queue
//! and cache. Routes and scaling have their own files.

use super::{Issues, is_header_name, list, positive_duration, routes, scaling};
use crate::locate::KeyPath;
use crate::schema::{Cache, Function, Queue, Readiness};

/// Checks `function` (normalising its routes and cache headers) under `path`.
pub(super) fn check(name: &str, function: &mut Function, path: &KeyPath, issues: &mut Issues) {
    if !is_function_name(name) {
        issues.add(
            path,
            format!(
                "`{name}` is not a valid function name: use lowercase letters, digits, `-` and `_`, starting with a letter or digit (the name becomes a metric label)"
            ),
        );
    }

    if function.routes.is_empty() {
        issues.add(
            &path.key("routes"),
            r#"at least one route is needed, like routes = [{ path_prefix = "/hello" }]"#,
        );
    }
    let priorities = function.queue.priorities.clone();
    for (i, route) in function.routes.iter_mut().enumerate() {
        routes::check_route(route, &priorities, &path.key("routes").index(i), issues);
    }

    check_provider(function, path, issues);
    check_readiness(&function.readiness, &path.key("readiness"), issues);
    if function.memory_mb == 0 {
        issues.add(&path.key("memory_mb"), "must be above zero, like 256");
    }
    positive_duration(function.stop_grace, &path.key("stop_grace"), "10s", issues);
    for (variable, value) in &function.env {
        if variable.is_empty() || variable.contains(['=', '\0']) || value.contains('\0') {
            issues.add(
                &path.key("env").key(variable.as_str()),
                "an environment variable needs a non-empty name without `=`, and neither name nor value may hold a NUL byte",
            );
        }
    }

    // A static function's instances are not ours to start or stop, so its policy is moot.
    if !function.is_static() {
        scaling::check(&function.scaling, &path.key("scaling"), issues);
    }
    check_queue(&function.queue, &path.key("queue"), issues);
    check_cache(&mut function.cache, &path.key("cache"), issues);
}

/// `[a-z0-9][a-z0-9_-]*`: safe as a metric label, a URL segment and a file name.
fn is_function_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let lower_or_digit = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    matches!(bytes.next(), Some(b) if lower_or_digit(b))
        && bytes.all(|b| lower_or_digit(b) || b == b'-' || b == b'_')
}

fn check_provider(function: &Function, path: &KeyPath, issues: &mut Issues) {
    match (function.command.is_empty(), function.endpoints.is_empty()) {
        (true, true) => issues.add(
            path,
            r#"set `command` to start instances (like command = ["python3", "app.py"]) or `endpoints` to use running ones (like endpoints = ["127.0.0.1:9000"])"#,
        ),
        (false, false) => issues.add(
            &path.key("endpoints"),
            "`command` and `endpoints` are both set; keep one: `command` starts instances, `endpoints` uses running ones",
        ),
        (false, true) if function.command[0].is_empty() => issues.add(
            &path.key("command").index(0),
            r#"the program is empty; the first element is the program to run, like ["python3", "app.py"]"#,
        ),
        _ => {}
    }
}

fn check_readiness(readiness: &Readiness, path: &KeyPath, issues: &mut Issues) {
    positive_duration(readiness.timeout, &path.key("timeout"), "30s", issues);
    let Some(http_path) = &readiness.http_path else {
        return;
    };
    if readiness.tcp {
        issues.add(
            path,
            "`http_path` and `tcp = true` are both set; keep one: an HTTP GET or a TCP connect",
        );
    }
    if !http_path.starts_with('/') {
        issues.add(
            &path.key("http_path"),
            format!(r#"`{http_path}` must start with '/', like "/healthz""#),
        );
    }
}

fn check_queue(queue: &Queue, path: &KeyPath, issues: &mut Issues) {
    if queue.priorities.is_empty() {
        issues.add(
            &path.key("priorities"),
            r#"at least one priority class is needed, like ["high", "normal", "low"]"#,
        );
    }
    for (i, priority) in queue.priorities.iter().enumerate() {
        let here = path.key("priorities").index(i);
        // A class travels in a request header, so it must be a plain visible word.
        if priority.is_empty() || !priority.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
            issues.add(
                &here,
                format!("`{priority}` is not a valid priority class: use a word without spaces or commas, like \"high\""),
            );
        }
        if queue.priorities[..i].contains(priority) {
            issues.add(
                &here,
                format!("`{priority}` is listed twice; list each class once"),
            );
        }
    }
    if !queue.priorities.is_empty() && !queue.priorities.contains(&queue.default_priority) {
        issues.add(
            &path.key("default_priority"),
            format!(
                "`{}` is not one of the priorities ({}); pick one of them",
                queue.default_priority,
                list(&queue.priorities)
            ),
        );
    }

    let header = &queue.priority_header;
    if !is_header_name(header) {
        issues.add(
            &path.key("priority_header"),
            format!("`{header}` is not an HTTP header name: use letters, digits and `-`, like \"x-tidegate-priority\""),
        );
    } else if header.bytes().any(|b| b.is_ascii_uppercase()) {
        issues.add(
            &path.key("priority_header"),
            format!(
                "write the header name in lowercase: \"{}\"",
                header.to_ascii_lowercase()
            ),
        );
    }

    if queue.max_depth == 0 {
        issues.add(&path.key("max_depth"), "must be at least 1, like 1000");
    }
    positive_duration(queue.timeout, &path.key("timeout"), "10s", issues);
    positive_duration(queue.aging, &path.key("aging"), "5s", issues);
}

fn check_cache(cache: &mut Cache, path: &KeyPath, issues: &mut Issues) {
    if cache.enabled && cache.max_bytes == 0 {
        issues.add(
            &path.key("max_bytes"),
            r#"must be above zero when the cache is enabled, like "64MiB""#,
        );
    }
    // Header names are case-insensitive; one spelling lets the cache compare bytes.
    for (i, header) in cache.key_headers.iter_mut().enumerate() {
        header.make_ascii_lowercase();
        if !is_header_name(header) {
            issues.add(
                &path.key("key_headers").index(i),
                format!("`{header}` is not an HTTP header name: use letters, digits and `-`, like \"accept-language\""),
            );
        }
    }
}
