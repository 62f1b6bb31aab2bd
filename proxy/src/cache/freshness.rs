//! Whether a response may be stored, how long it stays fresh, how old it is, and what a
//! stored response may be used for (RFC 9111 §3, §4.2, §4.3; RFC 5861).
//!
//! Pure functions over headers, directives and times: the table tests below need no
//! socket and no clock. Wall-clock time enters only where HTTP dates do (`Date`,
//! `Expires`, `Last-Modified`), and only at storing time; ages afterwards grow with
//! tokio's clock.

use std::time::{Duration, SystemTime};

use http::header::{
    AGE, AUTHORIZATION, DATE, ETAG, EXPIRES, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
    SET_COOKIE, VARY,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::control::{RequestDirectives, ResponseDirectives};

/// Heuristic freshness is this fraction of the time since `Last-Modified` (RFC 9111
/// §4.2.2 suggests 10 %)...
const HEURISTIC_FRACTION: u32 = 10;
/// ...and never more than a day, so a file untouched for years is still re-checked daily.
pub const HEURISTIC_CAP: Duration = Duration::from_secs(24 * 3600);

/// Why a response is not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// Not an answer to GET.
    Method,
    /// A status never stored (1xx, 206, a 304 no conditional request asked for).
    Status,
    /// A 304 answering the client's own `If-None-Match` / `If-Modified-Since`.
    ClientConditional,
    /// `no-store` in the request.
    RequestNoStore,
    /// `no-store` in the response.
    NoStore,
    /// `private`.
    Private,
    /// A request with `Authorization`, and a response that does not allow sharing it.
    Authorization,
    /// `Set-Cookie`.
    SetCookie,
    /// `Vary: *`.
    VaryStar,
    /// No freshness lifetime, no validator and no stale use allowed: nothing to reuse.
    NoFreshness,
    /// Over the per-object limit.
    TooLarge,
}

impl NotStored {
    /// The reason as the debug log names it.
    pub fn reason(self) -> &'static str {
        match self {
            NotStored::Method => "method",
            NotStored::Status => "status",
            NotStored::ClientConditional => "client-conditional",
            NotStored::RequestNoStore => "request-no-store",
            NotStored::NoStore => "no-store",
            NotStored::Private => "private",
            NotStored::Authorization => "authorization",
            NotStored::SetCookie => "set-cookie",
            NotStored::VaryStar => "vary-star",
            NotStored::NoFreshness => "no-freshness",
            NotStored::TooLarge => "too-large",
        }
    }

    /// Whether the refusal comes from the response, so that every request for the key
    /// would meet it. Only such a refusal says something about the resource: it may mark
    /// the key hit-for-miss and drop a stored copy. A refusal that comes from one
    /// request (its method, `Authorization`, `no-store`, its own conditions) does
    /// neither, or one client could turn collapsing off, or evict the copy, for everyone.
    pub fn depends_on_response(self) -> bool {
        !matches!(
            self,
            NotStored::Method
                | NotStored::ClientConditional
                | NotStored::RequestNoStore
                | NotStored::Authorization
        )
    }
}

/// How a storable response will be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// The freshness lifetime (may be zero for a response stored only to be validated).
    pub fresh_for: Duration,
    /// Whether the lifetime was guessed (from `Last-Modified`, or the configured
    /// `default_ttl`) rather than given by the origin.
    pub heuristic: bool,
}

/// Status codes cacheable by default (RFC 9110 §15.1), less 206: ranges are not
/// assembled here, so a partial answer is never stored.
fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(
        status.as_u16(),
        200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501
    )
}

/// Decides whether the answer to a request may be stored by a shared cache (RFC 9111 §3,
/// §3.5), and for how long it is fresh (§4.2.1). `now` is the wall-clock time the
/// response arrived, used when it carries no `Date`.
// The RFC's inputs, each named: a struct of them would only be built to be taken apart.
#[allow(clippy::too_many_arguments)]
pub fn storable(
    method: &Method,
    request: &HeaderMap,
    request_cc: &RequestDirectives,
    status: StatusCode,
    response: &HeaderMap,
    cc: &ResponseDirectives,
    default_ttl: Duration,
    now: SystemTime,
) -> Result<Lifetime, NotStored> {
    // What may never be stored.
    if method != Method::GET {
        return Err(NotStored::Method);
    }
    if status.is_informational() || status == StatusCode::PARTIAL_CONTENT {
        return Err(NotStored::Status);
    }
    if status == StatusCode::NOT_MODIFIED {
        // A 304 that reaches here answers the client's own conditions, not the cache's.
        let asked = request.contains_key(IF_NONE_MATCH) || request.contains_key(IF_MODIFIED_SINCE);
        return Err(if asked {
            NotStored::ClientConditional
        } else {
            NotStored::Status
        });
    }
    if request_cc.no_store {
        return Err(NotStored::RequestNoStore);
    }
    if cc.no_store {
        return Err(NotStored::NoStore);
    }
    if cc.private {
        return Err(NotStored::Private);
    }
    if request.contains_key(AUTHORIZATION)
        && !(cc.public || cc.s_maxage.is_some() || cc.must_revalidate)
    {
        return Err(NotStored::Authorization);
    }
    // A response that sets a cookie is one client's; nginx and most CDNs keep it back too.
    if response.contains_key(SET_COOKIE) {
        return Err(NotStored::SetCookie);
    }
    // `Vary: *` never matches a later request (RFC 9111 §4.1): storing it wastes memory.
    if vary_star(response) {
        return Err(NotStored::VaryStar);
    }

    // Explicit freshness, in the order of RFC 9111 §4.2.1. `no-cache` keeps the response
    // but makes every use a validation: a lifetime of zero.
    if let Some(fresh_for) = explicit_lifetime(response, cc, now) {
        let fresh_for = if cc.no_cache {
            Duration::ZERO
        } else {
            fresh_for
        };
        return kept_for(fresh_for, response, cc);
    }

    // No explicit lifetime: the operator's `default_ttl` for plain successful answers...
    if !default_ttl.is_zero() && !cc.present && status.is_success() {
        return Ok(Lifetime {
            fresh_for: default_ttl,
            heuristic: true,
        });
    }
    // ...or the RFC's heuristic from `Last-Modified`, for statuses that allow one.
    if heuristically_cacheable(status)
        && !cc.no_cache
        && let Some(modified) = response.get(LAST_MODIFIED).and_then(http_date)
    {
        let date = response.get(DATE).and_then(http_date).unwrap_or(now);
        let since = date.duration_since(modified).unwrap_or(Duration::ZERO);
        let fresh_for = (since / HEURISTIC_FRACTION).min(HEURISTIC_CAP);
        return Ok(Lifetime {
            fresh_for,
            heuristic: true,
        });
    }
    if cc.public || cc.no_cache || heuristically_cacheable(status) {
        // Storable, but with no lifetime: useful only if it can be validated.
        return kept_for(Duration::ZERO, response, cc);
    }
    Err(NotStored::NoFreshness)
}

/// The lifetime the origin gave: `s-maxage`, else `max-age`, else `Expires` minus `Date`.
fn explicit_lifetime(
    response: &HeaderMap,
    cc: &ResponseDirectives,
    now: SystemTime,
) -> Option<Duration> {
    if let Some(age) = cc.s_maxage.or(cc.max_age) {
        return Some(age);
    }
    let expires = response.get(EXPIRES)?;
    // An invalid `Expires` (such as "0") means already expired (§5.3).
    let Some(expires) = http_date(expires) else {
        return Some(Duration::ZERO);
    };
    let date = response.get(DATE).and_then(http_date).unwrap_or(now);
    Some(expires.duration_since(date).unwrap_or(Duration::ZERO))
}

/// A response fresh for `fresh_for`. With a lifetime of zero it is worth storing only if
/// it can be revalidated or served stale; otherwise no request could ever use it, and
/// storing it would only line later requests up behind one another (collapsing) for an
/// answer each of them has to fetch anyway. Such a response is `no-freshness`, and its
/// key goes hit-for-miss: `max-age=0` and `no-cache` are the usual ways to say "do not
/// cache".
fn kept_for(
    fresh_for: Duration,
    response: &HeaderMap,
    cc: &ResponseDirectives,
) -> Result<Lifetime, NotStored> {
    let validatable = response.contains_key(ETAG) || response.contains_key(LAST_MODIFIED);
    let grants = |window: Option<Duration>| window.is_some_and(|w| !w.is_zero());
    let servable_stale =
        !cc.forbids_stale() && (grants(cc.stale_while_revalidate) || grants(cc.stale_if_error));
    if fresh_for.is_zero() && !validatable && !servable_stale {
        return Err(NotStored::NoFreshness);
    }
    Ok(Lifetime {
        fresh_for,
        heuristic: false,
    })
}

/// Whether `Vary` lists `*`.
pub fn vary_star(response: &HeaderMap) -> bool {
    response
        .get_all(VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|name| name.trim() == "*")
}

/// The age of a response when it arrived (RFC 9111 §4.2.3: `corrected_initial_age`).
/// `delay` is how long the exchange took (response time − request time); `now` the
/// wall-clock time it arrived.
pub fn initial_age(response: &HeaderMap, delay: Duration, now: SystemTime) -> Duration {
    let age_value = response
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::ZERO, Duration::from_secs);
    let apparent_age = response
        .get(DATE)
        .and_then(http_date)
        .and_then(|date| now.duration_since(date).ok())
        .unwrap_or(Duration::ZERO);
    apparent_age.max(age_value + delay)
}

/// What a stored response's freshness policy is, kept with it so a hit decides without
/// re-parsing directives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Freshness lifetime.
    pub fresh_for: Duration,
    /// Never served stale without validation (`must-revalidate`, `proxy-revalidate`,
    /// `s-maxage`, `no-cache`).
    pub forbids_stale: bool,
    /// `stale-while-revalidate` window.
    pub stale_while_revalidate: Duration,
    /// `stale-if-error` window.
    pub stale_if_error: Duration,
    /// Whether the response carries `ETag` or `Last-Modified`.
    pub validatable: bool,
}

impl Policy {
    /// The policy of a response that [`storable`] accepted.
    pub fn new(lifetime: Lifetime, cc: &ResponseDirectives, response: &HeaderMap) -> Self {
        Policy {
            // `no-cache`: stored, but every use is validated first.
            fresh_for: if cc.no_cache {
                Duration::ZERO
            } else {
                lifetime.fresh_for
            },
            forbids_stale: cc.forbids_stale(),
            stale_while_revalidate: cc.stale_while_revalidate.unwrap_or_default(),
            stale_if_error: cc.stale_if_error.unwrap_or_default(),
            validatable: response.contains_key(ETAG) || response.contains_key(LAST_MODIFIED),
        }
    }

    /// How a request may use a stored response of `age` (RFC 9111 §4.2, §5.2.1; RFC 5861).
    pub fn decide(&self, age: Duration, request: &RequestDirectives) -> Use {
        // The client's own limits first: they can make a fresh response unusable.
        let mut fresh = age < self.fresh_for;
        if request.no_cache || request.max_age.is_some_and(|max| age > max) {
            fresh = false;
        }
        if let Some(min_fresh) = request.min_fresh
            && self.fresh_for.saturating_sub(age) < min_fresh
        {
            fresh = false;
        }
        if fresh {
            return Use::Fresh;
        }
        if request.no_cache || self.forbids_stale {
            return Use::Forward;
        }
        let staleness = age.saturating_sub(self.fresh_for);
        if request.max_stale.is_some_and(|max| staleness <= max)
            && request.max_age.is_none_or(|max| age <= max)
        {
            return Use::Stale;
        }
        if !self.stale_while_revalidate.is_zero()
            && staleness <= self.stale_while_revalidate
            && request.max_age.is_none()
        {
            return Use::StaleWhileRevalidate;
        }
        Use::Forward
    }

    /// Whether a stale response of `age` may answer when the origin fails (RFC 5861 §4).
    pub fn serves_on_error(&self, age: Duration) -> bool {
        !self.forbids_stale
            && !self.stale_if_error.is_zero()
            && age.saturating_sub(self.fresh_for) <= self.stale_if_error
    }
}

/// What a request may do with a stored response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// Serve it: it is fresh enough for this request.
    Fresh,
    /// Serve it stale: the client accepts the staleness (`max-stale`).
    Stale,
    /// Serve it stale now and refresh it in the background (`stale-while-revalidate`).
    StaleWhileRevalidate,
    /// Ask the function (conditionally when the response has validators).
    Forward,
}

/// Whether a client's own conditions (`If-None-Match`, else `If-Modified-Since`) find the
/// stored response unchanged, so that a `304` answers it (RFC 9111 §4.3.2, RFC 9110
/// §13.1.1, §13.1.3). Only a 2xx is ever compared (RFC 9110 §13.2.1): the conditions
/// apply to a representation.
pub fn not_modified_for(request: &HeaderMap, status: StatusCode, stored: &HeaderMap) -> bool {
    if !status.is_success() {
        return false;
    }
    // `If-None-Match` wins: `If-Modified-Since` is ignored when it is present.
    if request.contains_key(IF_NONE_MATCH) {
        let Some(etag) = stored.get(ETAG).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        return request
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(entity_tags)
            .any(|asked| asked == "*" || weak_match(asked, etag));
    }
    let Some(since) = request.get(IF_MODIFIED_SINCE).and_then(http_date) else {
        return false;
    };
    // The stored response's Last-Modified, else its Date (RFC 9111 §4.3.2).
    let modified = stored.get(LAST_MODIFIED).or_else(|| stored.get(DATE));
    modified
        .and_then(http_date)
        .is_some_and(|modified| modified <= since)
}

/// The members of an `If-None-Match` list. An entity tag is quoted and may hold commas,
/// so the list is split on the commas between quotes only.
fn entity_tags(list: &str) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    list.split(move |c| {
        if c == '"' {
            quoted = !quoted;
        }
        c == ',' && !quoted
    })
    .map(str::trim)
    .filter(|tag| !tag.is_empty())
}

/// RFC 9110 §8.8.3.2 weak comparison: the opaque tags are equal, `W/` or not.
fn weak_match(a: &str, b: &str) -> bool {
    fn opaque(tag: &str) -> &str {
        let tag = tag.trim();
        tag.strip_prefix("W/").unwrap_or(tag)
    }
    opaque(a) == opaque(b)
}

/// Parses an HTTP date.
pub fn http_date(value: &HeaderValue) -> Option<SystemTime> {
    httpdate::parse_http_date(value.to_str().ok()?).ok()
}

/// Updates a stored response's headers from a `304 Not Modified` (RFC 9111 §3.2): every
/// field the 304 carries replaces the stored one, except those describing the stored body.
pub fn merge_not_modified(stored: &mut HeaderMap, not_modified: &HeaderMap) {
    use http::header::{CONTENT_LENGTH, CONTENT_RANGE, TRANSFER_ENCODING};
    let mut replaced = Vec::new();
    for (name, value) in not_modified {
        if name == CONTENT_LENGTH
            || name == TRANSFER_ENCODING
            || name == CONTENT_RANGE
            || name == crate::headers::X_REQUEST_ID
        {
            continue;
        }
        if !replaced.contains(name) {
            stored.remove(name);
            replaced.push(name.clone());
        }
        stored.append(name.clone(), value.clone());
    }
}

#[cfg(test)]
#[path = "freshness_tests/mod.rs"]
mod tests;
