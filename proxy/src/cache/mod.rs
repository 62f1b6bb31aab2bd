//! The response cache: an RFC 9111 shared cache in front of each function, with RFC 5861
//! stale serving, collapsed executions and purging.
//!
//! How the parts fit: [`key`] turns a request into a key; [`control`] parses
//! `Cache-Control`; [`freshness`] holds the rules (storable? fresh? usable?) as pure
//! functions; [`store`] keeps responses in moka, weighed in bytes; [`collapse`] makes
//! concurrent misses wait for one execution; [`pending`] is what a forwarded request
//! carries to the response: it stores the answer, revalidates, or serves stale on error;
//! [`capture`] copies a streaming answer's body into the store.
//!
//! [`FunctionCache::lookup`] runs in `forward()` before an instance slot is taken, so a
//! hit never touches the fleet, the queue or the scaler, and is not an execution.

pub mod capture;
pub mod collapse;
pub mod control;
pub mod freshness;
pub mod key;
pub mod pending;
pub mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response};
use tidegate_config::Cache as CacheConfig;
use tokio::time::Instant;

use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::headers::X_REQUEST_ID;
pub use capture::Capture;
use collapse::{Collapser, Role};
use control::RequestDirectives;
use freshness::Use;
pub use pending::{ErrorLabel, Pending, Reply};
use store::{Entry, Store};

/// The `x-tidegate-cache` response header.
pub const X_TIDEGATE_CACHE: HeaderName = HeaderName::from_static("x-tidegate-cache");
/// The RFC 9211 `Cache-Status` response header.
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// A stored object may be at most this fraction of `max_bytes`: one large answer must
/// not push out everything else.
const OBJECT_FRACTION: u64 = 8;

/// What the cache did for a request; the `x-tidegate-cache` value and the `result`
/// label of `tidegate_cache_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served from the cache, fresh.
    Hit = 0,
    /// Forwarded to the function (nothing usable stored).
    Miss = 1,
    /// Served from the cache, stale (`max-stale`, `stale-while-revalidate`, `stale-if-error`).
    Stale = 2,
    /// Validated with the function (304) and served from the cache.
    Revalidated = 3,
    /// Not a cacheable request (method, `Range`, upgrade): forwarded as is.
    Bypass = 4,
}

impl Outcome {
    /// Every outcome, in index order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Hit,
        Outcome::Miss,
        Outcome::Stale,
        Outcome::Revalidated,
        Outcome::Bypass,
    ];

    /// The `x-tidegate-cache` value.
    pub fn header(self) -> HeaderValue {
        HeaderValue::from_static(self.as_str())
    }

    /// Upper-case name, as in the header.
    pub fn as_str(self) -> &'static str {
        ["HIT", "MISS", "STALE", "REVALIDATED", "BYPASS"][self as usize]
    }

    /// Lower-case name, as in the metric label.
    pub fn label(self) -> &'static str {
        ["hit", "miss", "stale", "revalidated", "bypass"][self as usize]
    }
}

/// One function's cache, shared by every worker thread.
#[derive(Debug)]
pub struct FunctionCache {
    store: Store,
    collapser: Collapser,
    default_ttl: Duration,
    key_headers: Vec<HeaderName>,
    object_max: u64,
    // Longest wait of a collapsed miss for its leader.
    collapse_limit: Duration,
    counts: [AtomicU64; 5],
}

/// What the lookup decided.
pub enum Lookup {
    /// Answer with this response; the function is not asked.
    Answer(Response<ProxyBody>),
    /// Answer with this (stale) response, and refresh the entry in the background.
    Refresh(Response<ProxyBody>, Box<Pending>),
    /// Ask the function; the [`Pending`] handles its answer.
    Forward(Box<Pending>),
}

impl FunctionCache {
    /// A cache for `config`; `collapse_limit` bounds how long a collapsed miss waits.
    pub fn new(config: &CacheConfig, collapse_limit: Duration) -> Self {
        FunctionCache {
            store: Store::new(config.max_bytes),
            collapser: Collapser::default(),
            default_ttl: config.default_ttl,
            key_headers: config
                .key_headers
                .iter()
                .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
                .collect(),
            object_max: (config.max_bytes / OBJECT_FRACTION).max(1),
            collapse_limit,
            counts: Default::default(),
        }
    }

    /// Looks `request` up. `scheme` and `host` are as the client sent them.
    pub async fn lookup<B>(
        self: &Arc<Self>,
        request: &Request<B>,
        scheme: &str,
        host: &str,
        request_id: &HeaderValue,
    ) -> Result<Lookup, ProxyError> {
        let method = request.method();
        let headers = request.headers();
        let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let primary = key::primary_key(
            key::url_key(scheme, host, target),
            &self.key_headers,
            headers,
        );
        let head = method == Method::HEAD;
        let conditional = headers.contains_key(header::IF_NONE_MATCH)
            || headers.contains_key(header::IF_MODIFIED_SINCE);
        if !(method == Method::GET || head) {
            // Unsafe methods invalidate what they may have changed (RFC 9111 §4.4).
            let unsafe_method = !matches!(*method, Method::OPTIONS | Method::TRACE);
            let invalidate = unsafe_method.then(|| (scheme.to_owned(), host.to_owned()));
            let pending = Pending::bypass(self.clone(), primary, "method", invalidate);
            return Ok(Lookup::Forward(Box::new(pending)));
        }
        if headers.contains_key(header::RANGE) || headers.contains_key(header::UPGRADE) {
            let pending = Pending::bypass(self.clone(), primary, "bypass", None);
            return Ok(Lookup::Forward(Box::new(pending)));
        }
        let directives = if headers.contains_key(header::CACHE_CONTROL)
            || headers.contains_key(header::PRAGMA)
        {
            RequestDirectives::parse(headers)
        } else {
            RequestDirectives::default()
        };

        // At most two looks: before and after waiting for a collapsed miss's leader.
        let mut waited = false;
        loop {
            let stale = match self.store.get(&primary, headers) {
                Some(entry) => {
                    let age = entry.age(Instant::now());
                    // A client's own conditions that the copy meets get a 304 (RFC 9111
                    // §4.3.2). A HEAD is answered from the stored GET: its head, with the
                    // Content-Length the GET's body has (RFC 9110 §9.3.2).
                    let answer = |outcome, cache_status| {
                        let mut response = respond(&entry, age, outcome, cache_status, request_id);
                        if conditional
                            && freshness::not_modified_for(headers, entry.status, &entry.headers)
                        {
                            not_modified(&mut response);
                        } else if head {
                            head_only(&mut response, &entry);
                        }
                        response
                    };
                    match entry.policy.decide(age, &directives) {
                        Use::Fresh => {
                            self.count(Outcome::Hit);
                            let status = if waited {
                                "tidegate; hit; collapsed"
                            } else {
                                "tidegate; hit"
                            };
                            return Ok(Lookup::Answer(answer(Outcome::Hit, status)));
                        }
                        Use::Stale => {
                            self.count(Outcome::Stale);
                            let status = "tidegate; hit; detail=stale";
                            return Ok(Lookup::Answer(answer(Outcome::Stale, status)));
                        }
                        Use::StaleWhileRevalidate => {
                            self.count(Outcome::Stale);
                            let status = "tidegate; hit; detail=stale-while-revalidate";
                            let response = answer(Outcome::Stale, status);
                            // One background refresh per entry at a time.
                            if entry.refreshing.swap(true, Ordering::AcqRel) {
                                return Ok(Lookup::Answer(response));
                            }
                            // The refresh is a GET whatever the client asked: a HEAD's
                            // answer could not be stored, and the refresh would be spent.
                            let pending = Box::new(Pending::forward(
                                self.clone(),
                                primary,
                                "stale",
                                Some(entry),
                                headers,
                                &Method::GET,
                                directives,
                                None,
                                true,
                            ));
                            return Ok(Lookup::Refresh(response, pending));
                        }
                        Use::Forward => Some(entry),
                    }
                }
                None => None,
            };
            if directives.only_if_cached {
                return Err(ProxyError::NotCached);
            }
            // HEAD is never stored, so it has nothing to collapse on; a request that
            // already waited once goes on rather than waiting again.
            let leader = if method == Method::HEAD || waited {
                None
            } else {
                match self.collapser.join(&primary) {
                    Role::Leader(leader) => Some(leader),
                    Role::Alone => None,
                    Role::Waiter(done) => {
                        collapse::wait(done, self.collapse_limit).await;
                        waited = true;
                        continue;
                    }
                }
            };
            // RFC 9211's reason for going to the function.
            let fwd = if stale.is_some() {
                "stale"
            } else if directives.no_cache {
                "request"
            } else if self.store.varies(&primary) {
                "vary-miss"
            } else {
                "uri-miss"
            };
            return Ok(Lookup::Forward(Box::new(Pending::forward(
                self.clone(),
                primary,
                fwd,
                stale,
                headers,
                method,
                directives,
                leader,
                false,
            ))));
        }
    }

    /// Counts one request's outcome.
    pub fn count(&self, outcome: Outcome) {
        self.counts[outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// How many requests had `outcome`.
    pub fn counted(&self, outcome: Outcome) -> u64 {
        self.counts[outcome as usize].load(Ordering::Relaxed)
    }

    /// Hits (fresh or stale, served without an execution) and misses (executions,
    /// revalidations included), for the admin API's hit ratio; bypasses count in neither.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (
            self.counted(Outcome::Hit) + self.counted(Outcome::Stale),
            self.counted(Outcome::Miss) + self.counted(Outcome::Revalidated),
        )
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.store.bytes()
    }

    /// Removes stored responses that `matches` (key, entry); returns how many.
    pub fn purge(&self, matches: impl Fn(&str, &Entry) -> bool) -> usize {
        self.store.purge(matches)
    }
}

/// A response served from `entry`, `age` old. Cloning the stored head and body is the
/// whole cost: nothing is parsed on a hit.
pub fn respond(
    entry: &Entry,
    age: Duration,
    outcome: Outcome,
    cache_status: &'static str,
    request_id: &HeaderValue,
) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(entry.body.clone()));
    *response.status_mut() = entry.status;
    let headers: &mut HeaderMap = response.headers_mut();
    *headers = entry.headers.clone();
    headers.insert(header::AGE, HeaderValue::from(age.as_secs()));
    headers.insert(X_TIDEGATE_CACHE, outcome.header());
    headers.insert(
        CACHE_STATUS,
        with_ttl(cache_status, entry.policy.fresh_for, age),
    );
    headers.insert(X_REQUEST_ID, request_id.clone());
    response
}

/// `cache_status` with RFC 9211's `ttl`: the seconds of freshness left, negative once
/// the copy is stale.
fn with_ttl(cache_status: &str, fresh_for: Duration, age: Duration) -> HeaderValue {
    let seconds = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let ttl = match fresh_for.checked_sub(age) {
        Some(left) if !left.is_zero() => seconds(left),
        // Stale: by how much, rounded up, so a copy stale by half a second shows -1.
        _ => -seconds((age - fresh_for) + Duration::from_nanos(999_999_999)),
    };
    // Assembled by hand: on every hit, `format!` cost about as much as the lookup.
    let mut value = Vec::with_capacity(cache_status.len() + 26);
    value.extend_from_slice(cache_status.as_bytes());
    value.extend_from_slice(b"; ttl=");
    if ttl < 0 {
        value.push(b'-');
    }
    value.extend_from_slice(crate::headers::decimal(ttl.unsigned_abs(), &mut [0; 20]));
    HeaderValue::from_maybe_shared(Bytes::from(value))
        .expect("Cache-Status is built from ASCII tokens and digits")
}

/// Turns an answer from a stored copy into a `304 Not Modified`: no body, and only the
/// header fields RFC 9110 §15.4.5 has a 304 repeat (with `Last-Modified`, which guides
/// caches without an `ETag`), besides the cache's own.
fn not_modified(response: &mut Response<ProxyBody>) {
    const KEPT: [HeaderName; 11] = [
        header::CACHE_CONTROL,
        header::CONTENT_LOCATION,
        header::DATE,
        header::ETAG,
        header::EXPIRES,
        header::VARY,
        header::LAST_MODIFIED,
        header::AGE,
        X_TIDEGATE_CACHE,
        CACHE_STATUS,
        X_REQUEST_ID,
    ];
    let full = std::mem::take(response.headers_mut());
    let headers = response.headers_mut();
    for name in KEPT {
        for value in full.get_all(&name) {
            headers.append(name.clone(), value.clone());
        }
    }
    *response.status_mut() = http::StatusCode::NOT_MODIFIED;
    *response.body_mut() = ProxyBody::empty();
}

/// Turns an answer from `entry` into the answer to a HEAD: no body, and the
/// `Content-Length` of the stored one.
pub(crate) fn head_only(response: &mut Response<ProxyBody>, entry: &Entry) {
    *response.body_mut() = ProxyBody::empty();
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(entry.body.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_status_carries_the_freshness_left_or_the_staleness() {
        let s = Duration::from_secs;
        let status = "tidegate; hit";
        assert_eq!(with_ttl(status, s(60), s(0)), "tidegate; hit; ttl=60");
        assert_eq!(with_ttl(status, s(60), s(59)), "tidegate; hit; ttl=1");
        // Stale, rounded up: half a second past counts as one.
        let half = Duration::from_millis(60_500);
        assert_eq!(with_ttl(status, s(60), half), "tidegate; hit; ttl=-1");
        assert_eq!(with_ttl(status, s(60), s(60)), "tidegate; hit; ttl=0");
        assert_eq!(with_ttl(status, s(0), s(1234)), "tidegate; hit; ttl=-1234");
    }
}
