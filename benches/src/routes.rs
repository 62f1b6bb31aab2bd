//! Routing tables of a chosen size, the requests that reach each kind of route in them, and
//! the naive peer of the router: one linear scan over every route.
//!
//! A table of `n` routes is `n` functions with one route each, in a fixed mix that keeps
//! every kind present at every size: four in ten are exact hosts, two in ten wildcard hosts,
//! four in ten path prefixes on any host. Names are zero-padded so that configuration order
//! (by name) is numeric order, and the routes of one kind all have the same length, so the
//! router keeps them in that order too. Each request targets the median route of its kind:
//! the average position of a scan, where a uniform workload would land.

use std::collections::HashMap;
use std::path::Path;

use tidegate_config::Config;

/// Table sizes measured: a small deployment and a large one.
pub const SIZES: [usize; 2] = [10, 1_000];

/// The host sent with requests that are routed by path, or not at all. Longer than every
/// wildcard suffix in the tables, so a lookup compares it against each of them rather than
/// skipping them on length alone.
pub const OTHER_HOST: &str = "gateway.internal.example.org";

/// How a request is meant to be routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// By a route for its exact host (`f0002.example.com`).
    ExactHost,
    /// By a `*.suffix` wildcard route (`*.t0005.example.net`).
    WildcardHost,
    /// By a path prefix on a route without a host (`/api/f0008`).
    PathPrefix,
    /// By nothing: the lookup answers `None`, after trying everything.
    NoMatch,
}

impl Kind {
    /// Every kind, in the order the benches report them.
    pub const ALL: [Kind; 4] = [
        Kind::ExactHost,
        Kind::WildcardHost,
        Kind::PathPrefix,
        Kind::NoMatch,
    ];

    /// The name used in benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ExactHost => "exact_host",
            Kind::WildcardHost => "wildcard_host",
            Kind::PathPrefix => "path_prefix",
            Kind::NoMatch => "no_match",
        }
    }

    // The fixed mix: route `i` of a table is of kind `of_route(i)`.
    fn of_route(i: usize) -> Kind {
        match i % 10 {
            0..=3 => Kind::ExactHost,
            4..=5 => Kind::WildcardHost,
            _ => Kind::PathPrefix,
        }
    }
}

/// One request's routing inputs, and the function it must reach.
#[derive(Debug, Clone)]
pub struct Case {
    /// What kind of route it exercises.
    pub kind: Kind,
    /// The `Host`, without port, lowercase as clients send it.
    pub host: String,
    /// The path.
    pub path: String,
    /// The index of the function it is routed to, in configuration order.
    pub expected: Option<usize>,
}

/// The TOML text of a table of `routes` routes: `routes` static functions with one route
/// each.
pub fn config_toml(routes: usize) -> String {
    let mut toml = String::with_capacity(routes * 100);
    for i in 0..routes {
        let route = match Kind::of_route(i) {
            Kind::ExactHost => format!(r#"{{ host = "f{i:04}.example.com" }}"#),
            Kind::WildcardHost => format!(r#"{{ host = "*.t{i:04}.example.net" }}"#),
            _ => format!(r#"{{ path_prefix = "/api/f{i:04}" }}"#),
        };
        toml.push_str(&format!(
            "[functions.f{i:04}]\nendpoints = [\"127.0.0.1:9000\"]\nroutes = [{route}]\n\n"
        ));
    }
    toml
}

/// A validated configuration with a table of `routes` routes.
///
/// # Panics
///
/// If the generated text does not validate, which is a bug in this fixture.
pub fn config(routes: usize) -> Config {
    tidegate_config::parse(&config_toml(routes), Path::new("bench.toml"))
        .expect("the generated routing table is a valid configuration")
}

/// One request per [`Kind`], in [`Kind::ALL`] order, for a table of `routes` routes.
pub fn cases(routes: usize) -> Vec<Case> {
    let median = |kind: Kind| {
        let of_kind: Vec<usize> = (0..routes).filter(|&i| Kind::of_route(i) == kind).collect();
        of_kind[of_kind.len() / 2]
    };
    Kind::ALL
        .into_iter()
        .map(|kind| {
            let (host, path, expected) = match kind {
                Kind::ExactHost => {
                    let i = median(kind);
                    (format!("f{i:04}.example.com"), "/users/42".into(), Some(i))
                }
                Kind::WildcardHost => {
                    let i = median(kind);
                    (
                        format!("acme.t{i:04}.example.net"),
                        "/users/42".into(),
                        Some(i),
                    )
                }
                Kind::PathPrefix => {
                    let i = median(kind);
                    (OTHER_HOST.into(), format!("/api/f{i:04}/users/42"), Some(i))
                }
                Kind::NoMatch => (OTHER_HOST.into(), "/favicon.ico".into(), None),
            };
            Case {
                kind,
                host,
                path,
                expected,
            }
        })
        .collect()
}

/// The exact-host routes of `config` in a plain `std` map, host to function index: the
/// floor under any host-keyed router, one hash and one probe.
pub fn exact_host_map(config: &Config) -> HashMap<Box<str>, usize> {
    let mut map = HashMap::new();
    for (index, function) in config.functions.values().enumerate() {
        for route in &function.routes {
            if let Some(host) = route.host.as_deref().filter(|h| !h.starts_with('*')) {
                map.insert(host.into(), index);
            }
        }
    }
    map
}

/// The naive router: every route in one list, all of them tried on every lookup, the most
/// specific match kept. It gives the router's answers (its unit tests check that on the
/// bench tables) for lowercase hosts, without an index.
#[derive(Debug)]
pub struct LinearRoutes {
    routes: Vec<LinearRoute>,
}

#[derive(Debug)]
struct LinearRoute {
    host: HostPattern,
    prefix: Option<Box<str>>,
    function: usize,
}

#[derive(Debug)]
enum HostPattern {
    Any,
    Exact(Box<str>),
    // `.example.com` for `*.example.com`.
    Suffix(Box<str>),
}

impl LinearRoutes {
    /// Lists the routes of a validated configuration.
    pub fn new(config: &Config) -> Self {
        let mut routes = Vec::new();
        for (function, config) in config.functions.values().enumerate() {
            for route in &config.routes {
                let host = match route.host.as_deref() {
                    None => HostPattern::Any,
                    Some(host) => match host.strip_prefix('*') {
                        Some(suffix) => HostPattern::Suffix(suffix.into()),
                        None => HostPattern::Exact(host.into()),
                    },
                };
                routes.push(LinearRoute {
                    host,
                    prefix: route.path_prefix.as_deref().map(Into::into),
                    function,
                });
            }
        }
        LinearRoutes { routes }
    }

    /// The function for `host` (lowercase, without port) and `path`, by the router's
    /// precedence: exact host, then longest wildcard suffix, then any host; within each,
    /// longest path prefix.
    pub fn lookup(&self, host: Option<&str>, path: &str) -> Option<usize> {
        // Precedence as a rank compared lexicographically: (host class, wildcard suffix
        // length, prefix length + 1, or 0 for a route without prefix).
        let mut best: Option<((u8, usize, usize), usize)> = None;
        for route in &self.routes {
            let (class, suffix) = match (&route.host, host) {
                (HostPattern::Any, _) => (0, 0),
                (HostPattern::Exact(exact), Some(host)) if **exact == *host => (2, 0),
                (HostPattern::Suffix(suffix), Some(host))
                    if host.len() > suffix.len() && host.ends_with(&**suffix) =>
                {
                    (1, suffix.len())
                }
                _ => continue,
            };
            let prefix = match route.prefix.as_deref() {
                None => 0,
                Some(prefix) if prefix_matches(prefix, path) => prefix.len() + 1,
                Some(_) => continue,
            };
            let rank = (class, suffix, prefix);
            if best.is_none_or(|(best, _)| rank > best) {
                best = Some((rank, route.function));
            }
        }
        best.map(|(_, function)| function)
    }
}

// Whole segments, as the router matches them.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use tidegate_proxy::route::Router;

    use super::*;

    #[test]
    fn every_case_reaches_the_function_it_names_in_both_routers() {
        for routes in SIZES {
            let config = config(routes);
            assert_eq!(config.functions.len(), routes);
            let router = Router::new(&config);
            let linear = LinearRoutes::new(&config);
            for case in cases(routes) {
                let host = Some(case.host.as_str());
                let routed = router.lookup(host, &case.path).map(|m| m.function);
                assert_eq!(routed, case.expected, "router, {routes} routes, {case:?}");
                let scanned = linear.lookup(host, &case.path);
                assert_eq!(
                    scanned, case.expected,
                    "linear scan, {routes} routes, {case:?}"
                );
            }
        }
    }

    #[test]
    fn the_linear_scan_keeps_the_routers_precedence() {
        // The router's own precedence cases: exact host over wildcard, longest wildcard,
        // longest prefix, whole segments only.
        let config = tidegate_config::parse(
            r#"
            [functions.a]
            endpoints = ["127.0.0.1:1"]
            routes = [{ host = "api.example.com" }, { path_prefix = "/a" }]
            [functions.b]
            endpoints = ["127.0.0.1:2"]
            routes = [{ host = "*.example.com" }, { path_prefix = "/a/b" }]
            [functions.c]
            endpoints = ["127.0.0.1:3"]
            routes = [{ host = "api.example.com", path_prefix = "/v2" }, { host = "*.deep.example.com" }]
            "#,
            Path::new("test.toml"),
        )
        .expect("valid test config");
        let router = Router::new(&config);
        let linear = LinearRoutes::new(&config);
        let requests = [
            (Some("api.example.com"), "/"),
            (Some("api.example.com"), "/v2/users"),
            (Some("api.example.com"), "/v2x"),
            (Some("www.example.com"), "/"),
            (Some("a.deep.example.com"), "/"),
            (Some("example.com"), "/"),
            (Some("other.test"), "/a/b/c"),
            (Some("other.test"), "/ab"),
            (None, "/a/x"),
            (None, "/"),
        ];
        for (host, path) in requests {
            assert_eq!(
                linear.lookup(host, path),
                router.lookup(host, path).map(|m| m.function),
                "host {host:?} path {path}"
            );
        }
    }

    #[test]
    fn the_mix_has_every_kind_at_every_size() {
        for routes in SIZES {
            let kinds: Vec<Kind> = (0..routes).map(Kind::of_route).collect();
            for kind in [Kind::ExactHost, Kind::WildcardHost, Kind::PathPrefix] {
                assert!(kinds.contains(&kind), "{kind:?} missing at {routes} routes");
            }
        }
    }

    #[test]
    fn the_host_map_holds_exact_hosts_only() {
        let config = config(10);
        let map = exact_host_map(&config);
        assert_eq!(map.len(), 4, "four in ten routes are exact hosts");
        assert_eq!(map.get("f0002.example.com"), Some(&2));
    }
}
