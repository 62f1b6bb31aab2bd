//! Checks of routes: each route's host and path prefix on its own, then that no two routes
//! (in one function or in two) claim the same host and path prefix.

use std::collections::{BTreeMap, HashMap};

use super::{Issues, list};
use crate::locate::KeyPath;
use crate::schema::{Function, Route};

/// Normalises `route` (lowercase host, no trailing `/` on the prefix) and checks it.
pub(super) fn check_route(
    route: &mut Route,
    priorities: &[String],
    path: &KeyPath,
    issues: &mut Issues,
) {
    if let Some(host) = &mut route.host {
        // Hosts are case-insensitive (RFC 9110); the router compares them lowercased.
        host.make_ascii_lowercase();
        if let Err(message) = check_host(host) {
            issues.add(&path.key("host"), message);
        }
    }

    if let Some(prefix) = &mut route.path_prefix {
        // Matching is on whole segments, so "/hello/" means what "/hello" means.
        let trimmed = prefix.trim_end_matches('/');
        if prefix.starts_with('/') && trimmed.len() < prefix.len() {
            *prefix = if trimmed.is_empty() {
                "/".to_owned()
            } else {
                trimmed.to_owned()
            };
        }
        if !prefix.starts_with('/') || prefix.contains(['?', '#']) {
            issues.add(
                &path.key("path_prefix"),
                format!(r#"`{prefix}` is not a path prefix: it must start with '/' and hold no '?' or '#', like "/hello""#),
            );
        }
    }

    if route.strip_prefix && route.path_prefix.is_none() {
        issues.add(
            &path.key("strip_prefix"),
            "`strip_prefix` needs a `path_prefix` to strip; set one, or remove `strip_prefix`",
        );
    }

    let unknown_priority = route.priority.as_ref().filter(|p| !priorities.contains(p));
    if let Some(priority) = unknown_priority {
        issues.add(
            &path.key("priority"),
            format!(
                "`{priority}` is not one of this function's priorities ({}); use one of them, or add it to `queue.priorities`",
                list(priorities)
            ),
        );
    }
}

/// A lowercase DNS name, or `*.` and one: no scheme, no port, no path.
fn check_host(host: &str) -> Result<(), String> {
    if host.contains("://") {
        return Err(format!(
            "`{host}` has a scheme; write the host alone, like \"api.example.com\""
        ));
    }
    if host.contains(':') {
        return Err(format!(
            "`{host}` has a port (or is an IPv6 address); write the host alone: a route matches on every port"
        ));
    }
    if host.contains('/') {
        return Err(format!(
            "`{host}` is not a host name; put paths in `path_prefix`"
        ));
    }
    if host == "*" {
        return Err(
            "`*` alone is not a host pattern; remove `host` to match any host, or write one like \"*.example.com\""
                .to_owned(),
        );
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    if name.contains('*') {
        return Err(format!(
            "`{host}` has `*` in the wrong place; a wildcard is the whole first label, like \"*.example.com\""
        ));
    }
    if name.ends_with('.') {
        return Err(format!(
            "`{host}` ends with '.'; write it without, like \"{}\"",
            host.trim_end_matches('.')
        ));
    }
    if !is_dns_name(name) {
        return Err(format!(
            "`{host}` is not a host name: labels of letters, digits and '-', joined by '.', like \"api.example.com\" or \"*.example.com\"; remove `host` to match any host"
        ));
    }
    Ok(())
}

/// RFC 1123: labels of 1–63 letters, digits or hyphens, not at either end; 253 bytes at most.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Reports each route whose host and path prefix an earlier route already claims, naming
/// the function (and route) that claimed it first.
pub(super) fn check_unique(
    functions: &BTreeMap<String, Function>,
    path: &KeyPath,
    issues: &mut Issues,
) {
    // "/" matches every path, so it claims what no prefix at all claims.
    type Claim<'a> = (Option<&'a str>, Option<&'a str>);
    let mut claimed: HashMap<Claim<'_>, (&str, usize)> = HashMap::new();

    for (name, function) in functions {
        for (i, route) in function.routes.iter().enumerate() {
            let prefix = route.path_prefix.as_deref().filter(|prefix| *prefix != "/");
            let claim = (route.host.as_deref(), prefix);
            let Some(&(owner, owner_route)) = claimed.get(&claim) else {
                claimed.insert(claim, (name.as_str(), i));
                continue;
            };

            let first = if owner == name {
                format!("routes[{owner_route}] of this function")
            } else {
                format!("function `{owner}` (routes[{owner_route}])")
            };
            let message = match claim {
                (None, None) => format!(
                    "a catch-all route (no `host`, no `path_prefix`) is already given to {first}; only one function may have one"
                ),
                (host, prefix) => format!(
                    "host {} with path_prefix {} is already routed to {first}; each host and path prefix pair goes to one function only",
                    host.map_or("(any)".to_owned(), |host| format!("`{host}`")),
                    prefix.map_or("(any)".to_owned(), |prefix| format!("`{prefix}`")),
                ),
            };
            issues.add(&path.key(name.as_str()).key("routes").index(i), message);
        }
    }
}
