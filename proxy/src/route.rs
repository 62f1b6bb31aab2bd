//! Routing: which function a request is for, from its host and path.
//!
//! Precedence, most specific first: routes for the exact host, then for the longest
//! matching `*.suffix` wildcard, then routes without a host. Within each, the longest
//! matching path prefix wins. A prefix matches whole path segments: `/hello` matches
//! `/hello` and `/hello/x` but not `/helloworld`.
//!
//! The table is built once from the configuration and only read afterwards, so lookups
//! take no lock and, for the usual lowercase host, allocate nothing.

use std::collections::HashMap;

use tidegate_config::Config;

/// What a matched route says about the request.
#[derive(Debug, Clone)]
pub struct RouteMatch {
    /// Index of the function in configuration order (functions sorted by name).
    pub function: usize,
    /// Length of the path prefix to remove before forwarding, when `strip_prefix` is set.
    pub strip: Option<usize>,
    /// The route's priority class, if it names one.
    pub priority: Option<Box<str>>,
}

#[derive(Debug, Default)]
struct PathTable {
    // Longest prefix first; `None` (any path) last.
    routes: Vec<(Option<Box<str>>, RouteMatch)>,
}

impl PathTable {
    fn insert(&mut self, prefix: Option<&str>, route: RouteMatch) {
        self.routes.push((prefix.map(Into::into), route));
        self.routes.sort_by_key(|(prefix, _)| {
            std::cmp::Reverse(prefix.as_ref().map_or(0, |p| p.len() + 1))
        });
    }

    fn lookup(&self, path: &str) -> Option<&RouteMatch> {
        self.routes.iter().find_map(|(prefix, route)| match prefix {
            None => Some(route),
            Some(prefix) if prefix_matches(prefix, path) => Some(route),
            Some(_) => None,
        })
    }
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The routing table.
#[derive(Debug, Default)]
pub struct Router {
    exact: HashMap<Box<str>, PathTable>,
    // (".example.com", table), longest suffix first.
    wildcard: Vec<(Box<str>, PathTable)>,
    any_host: PathTable,
}

impl Router {
    /// Builds the table from validated configuration.
    pub fn new(config: &Config) -> Self {
        let mut router = Router::default();
        for (index, function) in config.functions.values().enumerate() {
            for route in &function.routes {
                let prefix = route.path_prefix.as_deref();
                let matched = RouteMatch {
                    function: index,
                    strip: route
                        .strip_prefix
                        .then(|| prefix.filter(|p| *p != "/").map_or(0, str::len)),
                    priority: route.priority.as_deref().map(Into::into),
                };
                let table = match route.host.as_deref() {
                    None => &mut router.any_host,
                    Some(host) => match host.strip_prefix('*') {
                        Some(suffix) => router.wildcard_table(suffix),
                        None => router
                            .exact
                            .entry(host.to_ascii_lowercase().into())
                            .or_default(),
                    },
                };
                table.insert(prefix, matched);
            }
        }
        router
    }

    fn wildcard_table(&mut self, suffix: &str) -> &mut PathTable {
        let suffix = suffix.to_ascii_lowercase();
        let at = match self.wildcard.iter().position(|(s, _)| **s == *suffix) {
            Some(at) => at,
            None => {
                self.wildcard
                    .push((suffix.clone().into(), PathTable::default()));
                self.wildcard
                    .sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
                self.wildcard
                    .iter()
                    .position(|(s, _)| **s == *suffix)
                    .expect("just inserted")
            }
        };
        &mut self.wildcard[at].1
    }

    /// The route for `host` (without port, any case) and `path`.
    pub fn lookup(&self, host: Option<&str>, path: &str) -> Option<&RouteMatch> {
        if let Some(host) = host {
            let lowered;
            let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
                lowered = host.to_ascii_lowercase();
                lowered.as_str()
            } else {
                host
            };
            if let Some(found) = self.exact.get(host).and_then(|t| t.lookup(path)) {
                return Some(found);
            }
            for (suffix, table) in &self.wildcard {
                // `*.example.com` matches `a.example.com` and `a.b.example.com`, not the
                // bare `example.com`.
                if host.len() > suffix.len()
                    && host.ends_with(&**suffix)
                    && let Some(found) = table.lookup(path)
                {
                    return Some(found);
                }
            }
        }
        self.any_host.lookup(path)
    }
}

/// Splits a `Host` header value into the host, without its port.
pub fn host_without_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        // An IPv6 literal: `[::1]:8080`.
        return rest.split(']').next().unwrap_or(rest);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                host
            } else {
                authority
            }
        })
}

/// The path after removing `strip` bytes of prefix; never empty.
pub fn stripped_path(path: &str, strip: usize) -> &str {
    let rest = &path[strip.min(path.len())..];
    if rest.is_empty() { "/" } else { rest }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(toml: &str) -> Router {
        let config = tidegate_config::parse(toml, std::path::Path::new("test.toml"))
            .expect("valid test config");
        Router::new(&config)
    }

    const CONFIG: &str = r#"
        [functions.a]
        endpoints = ["127.0.0.1:1"]
        routes = [{ host = "api.example.com" }, { path_prefix = "/a", strip_prefix = true }]
        [functions.b]
        endpoints = ["127.0.0.1:2"]
        routes = [{ host = "*.example.com" }, { path_prefix = "/a/b" }]
        [functions.c]
        endpoints = ["127.0.0.1:3"]
        routes = [{ host = "api.example.com", path_prefix = "/v2" }, { host = "*.deep.example.com" }]
    "#;

    #[test]
    fn routes_by_precedence() {
        let r = router(CONFIG);
        let f = |host: Option<&str>, path: &str| r.lookup(host, path).map(|m| m.function);
        // Functions are indexed in name order: a = 0, b = 1, c = 2.
        let cases: &[(Option<&str>, &str, Option<usize>)] = &[
            (Some("api.example.com"), "/", Some(0)),
            (Some("API.Example.com"), "/x", Some(0)),
            (Some("api.example.com"), "/v2/users", Some(2)),
            (Some("api.example.com"), "/v2x", Some(0)),
            (Some("www.example.com"), "/", Some(1)),
            (Some("a.deep.example.com"), "/", Some(2)),
            (Some("example.com"), "/", None),
            (Some("other.test"), "/a", Some(0)),
            (Some("other.test"), "/a/b/c", Some(1)),
            (Some("other.test"), "/ab", None),
            (None, "/a/x", Some(0)),
            (None, "/", None),
        ];
        for (host, path, want) in cases {
            assert_eq!(f(*host, path), *want, "host {host:?} path {path}");
        }
    }

    #[test]
    fn strip_prefix_keeps_a_leading_slash() {
        let r = router(CONFIG);
        let m = r.lookup(None, "/a/x").expect("routed");
        assert_eq!(stripped_path("/a/x", m.strip.expect("strip set")), "/x");
        assert_eq!(stripped_path("/a", m.strip.expect("strip set")), "/");
    }

    #[test]
    fn host_ports_are_ignored() {
        assert_eq!(host_without_port("example.com:8080"), "example.com");
        assert_eq!(host_without_port("example.com"), "example.com");
        assert_eq!(host_without_port("[::1]:80"), "::1");
    }
}
