//! Every validation rule, broken once: the error names the right key, says what is wrong,
//! and points at a line and column.

mod common;

use common::{HELLO, errors, parse_ok};

/// A function table with `body` in place of the usual routes and command.
fn function(body: &str) -> String {
    format!("[functions.hello]\n{body}\n")
}

/// `HELLO` plus a `[functions.hello.TABLE]` with `body`.
fn hello_table(table: &str, body: &str) -> String {
    format!("{HELLO}\n[functions.hello.{table}]\n{body}\n")
}

const CERT: &str = "cert.pem";
const KEY: &str = "key.pem";

fn tls(listen: &str, cert: &str, key: &str) -> String {
    format!("[server.tls]\nlisten = {listen}\ncert = \"{cert}\"\nkey = \"{key}\"\n{HELLO}")
}

#[test]
fn each_broken_rule_is_reported_at_its_key() {
    let routes = |routes: &str| function(&format!("routes = {routes}\ncommand = [\"x\"]"));
    #[rustfmt::skip]
    let cases: Vec<(String, &str, &str)> = vec![
        // [server]
        (format!("[server]\nlisten = []\n{HELLO}"), "server.listen", "at least one address"),
        (format!("[server]\nworker_threads = 2000\n{HELLO}"), "server.worker_threads", "more than 1024"),
        (format!("[server]\nrequest_timeout = \"0s\"\n{HELLO}"), "server.request_timeout", "above zero"),
        (format!("[server]\nheader_read_timeout = \"0s\"\n{HELLO}"), "server.header_read_timeout", "above zero"),
        (format!("[server]\nidle_timeout = \"0ms\"\n{HELLO}"), "server.idle_timeout", "above zero"),
        (format!("[server]\nmax_body_bytes = 0\n{HELLO}"), "server.max_body_bytes", "above zero"),
        (format!("[server]\nlisten = [\"127.0.0.1:9901\"]\n{HELLO}"), "server.listen[0]", "already used by `admin.listen`"),
        (format!("[admin]\nlisten = \"127.0.0.1:8080\"\n{HELLO}"), "admin.listen", "already used by `server.listen[0]`"),
        (format!("[server]\nlisten = [\"127.0.0.1:80\", \"127.0.0.1:80\"]\n{HELLO}"), "server.listen[1]", "already used"),
        (format!("[server]\nlisten = [\"127.0.0.1:80\", \"0.0.0.0:80\"]\n{HELLO}"), "server.listen[1]", "overlaps"),
        (tls("[\"127.0.0.1:8080\"]", CERT, KEY), "server.tls.listen[0]", "already used by `server.listen[0]`"),
        // [server.tls]
        (tls("[]", CERT, KEY), "server.tls.listen", "at least one address"),
        (tls("[\"127.0.0.1:8443\"]", "missing.pem", KEY), "server.tls.cert", "cannot read certificate file"),
        (tls("[\"127.0.0.1:8443\"]", KEY, KEY), "server.tls.cert", "no CERTIFICATE block"),
        (tls("[\"127.0.0.1:8443\"]", CERT, "missing.pem"), "server.tls.key", "cannot read key file"),
        (tls("[\"127.0.0.1:8443\"]", CERT, CERT), "server.tls.key", "no private key"),
        // [admin]
        (format!("[admin]\nlisten = \"0.0.0.0:9901\"\n{HELLO}"), "admin.token", "not a loopback address"),
        (format!("[admin]\nlisten = \"[::]:9901\"\n{HELLO}"), "admin.token", "token is required"),
        (format!("[admin]\ntoken = \"\"\n{HELLO}"), "admin.token", "the token is empty"),
        (format!("[admin]\ntoken = \"${{UNSET_TOKEN}}\"\n{HELLO}"), "admin.token", "`UNSET_TOKEN` is not set"),
        // [functions.NAME]
        ("[functions.Hello]\nroutes = [{}]\ncommand = [\"x\"]".into(), "functions.Hello", "not a valid function name"),
        (function("routes = []\ncommand = [\"x\"]"), "functions.hello.routes", "at least one route"),
        (function("routes = [{}]"), "functions.hello", "set `command`"),
        (function("routes = [{}]\ncommand = [\"x\"]\nendpoints = [\"127.0.0.1:9000\"]"), "functions.hello.endpoints", "both set"),
        (function("routes = [{}]\ncommand = [\"\", \"x\"]"), "functions.hello.command[0]", "the program is empty"),
        (format!("{HELLO}readiness = {{ http_path = \"/h\", tcp = true }}"), "functions.hello.readiness", "both set"),
        (format!("{HELLO}readiness = {{ http_path = \"healthz\" }}"), "functions.hello.readiness.http_path", "must start with '/'"),
        (format!("{HELLO}memory_mb = 0"), "functions.hello.memory_mb", "above zero"),
        (format!("{HELLO}env = {{ \"A=B\" = \"x\" }}"), "functions.hello.env.\"A=B\"", "without `=`"),
        (format!("{HELLO}env = {{ A = \"${{UNSET_VAR}}\" }}"), "functions.hello.env.A", "`UNSET_VAR` is not set"),
        // routes
        (routes("[{ host = \"a.example.com:8080\" }]"), "functions.hello.routes[0].host", "has a port"),
        (routes("[{ host = \"https://a.example.com\" }]"), "functions.hello.routes[0].host", "has a scheme"),
        (routes("[{ host = \"a.*.example.com\" }]"), "functions.hello.routes[0].host", "wrong place"),
        (routes("[{ host = \"*\" }]"), "functions.hello.routes[0].host", "not a host pattern"),
        (routes("[{ host = \"bad_host!\" }]"), "functions.hello.routes[0].host", "not a host name"),
        (routes("[{ host = \"a.example.com.\" }]"), "functions.hello.routes[0].host", "ends with '.'"),
        (routes("[{ host = \"a.example.com/x\" }]"), "functions.hello.routes[0].host", "put paths in `path_prefix`"),
        (routes("[{ path_prefix = \"hello\" }]"), "functions.hello.routes[0].path_prefix", "must start with '/'"),
        (routes("[{ path_prefix = \"/a?b=1\" }]"), "functions.hello.routes[0].path_prefix", "no '?' or '#'"),
        (routes("[{ host = \"a\" }, { host = \"b\", strip_prefix = true }]"), "functions.hello.routes[1].strip_prefix", "needs a `path_prefix`"),
        (routes("[{ host = \"a\", priority = \"urgent\" }]"), "functions.hello.routes[0].priority", "not one of this function's priorities"),
        (routes("[{ host = \"a\", path_prefix = \"/x\" }, { host = \"A\", path_prefix = \"/x/\" }]"), "functions.hello.routes[1]", "routes[0] of this function"),
        (format!("{}{}", routes("[{}]"), "[functions.other]\nroutes = [{ path_prefix = \"/\" }]\ncommand = [\"x\"]"), "functions.other.routes[0]", "catch-all route (no `host`, no `path_prefix`) is already given to function `hello`"),
        (format!("{}{}", routes("[{ host = \"a\" }]"), "[functions.other]\nroutes = [{ host = \"a\" }]\ncommand = [\"x\"]"), "functions.other.routes[0]", "host `a` with path_prefix (any) is already routed to function `hello` (routes[0])"),
        // [functions.NAME.scaling]
        (hello_table("scaling", "min_instances = 5\nmax_instances = 3"), "functions.hello.scaling.min_instances", "above `max_instances` (3)"),
        (hello_table("scaling", "max_instances = 0"), "functions.hello.scaling.max_instances", "at least 1"),
        (hello_table("scaling", "target_concurrency = 0"), "functions.hello.scaling.target_concurrency", "above zero"),
        (hello_table("scaling", "target_concurrency = nan"), "functions.hello.scaling.target_concurrency", "above zero"),
        (hello_table("scaling", "panic_threshold = 0.5"), "functions.hello.scaling.panic_threshold", "at least 1.0"),
        (hello_table("scaling", "tick = \"0s\""), "functions.hello.scaling.tick", "above zero"),
        (hello_table("scaling", "panic_window = \"2m\""), "functions.hello.scaling.panic_window", "longer than `stable_window` (1m)"),
        (hello_table("scaling", "stable_window = \"0s\"\npanic_window = \"0s\""), "functions.hello.scaling.stable_window", "above zero"),
        (hello_table("scaling", "panic_window = \"0s\""), "functions.hello.scaling.panic_window", "above zero"),
        (hello_table("scaling", "target_rps = 0"), "functions.hello.scaling.target_rps", "above zero when set"),
        (hello_table("scaling", "target_cpu_percent = -70"), "functions.hello.scaling.target_cpu_percent", "above zero when set"),
        (hello_table("scaling", "target_memory_percent = 0"), "functions.hello.scaling.target_memory_percent", "above zero when set"),
        (hello_table("scaling", "target_queue_depth = inf"), "functions.hello.scaling.target_queue_depth", "above zero when set"),
        (hello_table("scaling", "custom = { path = \"metrics\", metric = \"m\", target = 1 }"), "functions.hello.scaling.custom.path", "must start with '/'"),
        (hello_table("scaling", "custom = { path = \"/metrics\", metric = \"\", target = 1 }"), "functions.hello.scaling.custom.metric", "not a Prometheus metric name"),
        (hello_table("scaling", "custom = { path = \"/metrics\", metric = \"m\", target = 0 }"), "functions.hello.scaling.custom.target", "above zero"),
        // [functions.NAME.queue]
        (hello_table("queue", "priorities = []"), "functions.hello.queue.priorities", "at least one priority class"),
        (hello_table("queue", "priorities = [\"normal\", \"normal\"]"), "functions.hello.queue.priorities[1]", "listed twice"),
        (hello_table("queue", "priorities = [\"normal\", \"two words\"]"), "functions.hello.queue.priorities[1]", "not a valid priority class"),
        (hello_table("queue", "default_priority = \"urgent\""), "functions.hello.queue.default_priority", "not one of the priorities (`high`, `normal`, `low`)"),
        (hello_table("queue", "priority_header = \"X-Priority\""), "functions.hello.queue.priority_header", "lowercase: \"x-priority\""),
        (hello_table("queue", "priority_header = \"x priority\""), "functions.hello.queue.priority_header", "not an HTTP header name"),
        (hello_table("queue", "max_depth = 0"), "functions.hello.queue.max_depth", "at least 1"),
        (hello_table("queue", "timeout = \"0s\""), "functions.hello.queue.timeout", "above zero"),
        (hello_table("queue", "aging = \"0s\""), "functions.hello.queue.aging", "above zero"),
        // [functions.NAME.cache]
        (hello_table("cache", "enabled = true\nmax_bytes = 0"), "functions.hello.cache.max_bytes", "when the cache is enabled"),
        (hello_table("cache", "key_headers = [\"accept\", \"bad header\"]"), "functions.hello.cache.key_headers[1]", "not an HTTP header name"),
    ];

    let mut failures = Vec::new();
    for (source, key, fragment) in &cases {
        let found = errors(source);
        let matching = found
            .iter()
            .find(|e| e.key == *key && e.message.contains(fragment));
        match matching {
            Some(error) if error.line.is_some() && error.column.is_some() => {}
            Some(error) => failures.push(format!("{key}: no position in {error}")),
            None => failures.push(format!(
                "{key}: wanted an error containing {fragment:?}, got:\n  {}",
                found
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n  ")
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn all_problems_are_reported_at_once() {
    let source = r#"
[server]
listen = []
worker_threads = 5000

[admin]
listen = "0.0.0.0:9901"

[functions.Bad]
routes = []

[functions.good]
routes = [{ path_prefix = "nope" }]
command = ["x"]

[functions.good.scaling]
min_instances = 9
max_instances = 2
"#;
    let found = errors(source);
    let keys: Vec<&str> = found.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "server.listen",
            "server.worker_threads",
            "admin.token",
            "functions.Bad",
            "functions.Bad",
            "functions.Bad.routes",
            "functions.good.routes[0].path_prefix",
            "functions.good.scaling.min_instances",
        ],
        "every problem, in file order"
    );
}

#[test]
fn static_functions_ignore_scaling() {
    let config = parse_ok(
        "[functions.db]\nroutes = [{}]\nendpoints = [\"127.0.0.1:9000\"]\n\
         [functions.db.scaling]\nmax_instances = 0\ntick = \"0s\"\n",
    );
    assert!(config.functions["db"].is_static());
}

#[test]
fn listeners_on_port_zero_never_clash() {
    parse_ok(&format!(
        "[server]\nlisten = [\"127.0.0.1:0\", \"127.0.0.1:0\"]\n[admin]\nlisten = \"127.0.0.1:0\"\n{HELLO}"
    ));
}

#[test]
fn valid_tls_and_a_token_from_the_environment_load() {
    let config = parse_ok(&format!(
        "[admin]\nlisten = \"0.0.0.0:9901\"\ntoken = \"Bearer ${{TIDEGATE_ADMIN_TOKEN}}\"\n{}",
        tls("[\"127.0.0.1:8443\"]", CERT, KEY)
    ));
    assert_eq!(config.admin.token.as_deref(), Some("Bearer s3cret"));
}

#[test]
fn hosts_paths_and_headers_are_normalised() {
    let config = parse_ok(
        r#"
[functions.hello]
routes = [
  { host = "Hello.Example.COM", path_prefix = "/hello/" },
  { host = "*.Example.com", path_prefix = "//" },
  { path_prefix = "/" },
]
command = ["x"]
cache = { key_headers = ["Accept-Language"] }
"#,
    );
    let hello = &config.functions["hello"];
    let routes: Vec<(Option<&str>, Option<&str>)> = hello
        .routes
        .iter()
        .map(|route| (route.host.as_deref(), route.path_prefix.as_deref()))
        .collect();
    assert_eq!(
        routes,
        [
            (Some("hello.example.com"), Some("/hello")),
            (Some("*.example.com"), Some("/")),
            (None, Some("/")),
        ]
    );
    assert_eq!(hello.cache.key_headers, ["accept-language"]);
}
