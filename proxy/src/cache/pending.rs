//! What a forwarded request carries from the cache lookup to the function's answer:
//! adding validators to the request, and then storing the answer, applying a `304`, or
//! serving the stale copy when the function fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use tokio::time::Instant;

use super::collapse::Leader;
use super::control::{RequestDirectives, ResponseDirectives};
use super::freshness::{self, Policy};
use super::store::Entry;
use super::{CACHE_STATUS, FunctionCache, Outcome, X_TIDEGATE_CACHE, key, respond};
use crate::body::ProxyBody;
use crate::error::ProxyError;

/// A request on its way to the function, as far as the cache is concerned.
pub struct Pending {
    cache: Arc<FunctionCache>,
    primary: String,
    // Not a cacheable request; `Some` for unsafe methods: (scheme, host) to invalidate on.
    bypass: Option<Option<(String, String)>>,
    stale: Option<Arc<Entry>>,
    // The validators this request carries were added by the cache (not the client's).
    conditional: bool,
    request: HeaderMap,
    method: Method,
    directives: RequestDirectives,
    leader: Option<Leader>,
    refresh: bool,
    sent_at: Instant,
}

/// What to answer once the function's response head is in.
pub enum Reply {
    /// Stream the function's answer; copy it into the cache if a capture is given.
    Stream(Option<Capture>),
    /// Answer with this response instead (revalidated, or stale on error); the
    /// function's own response is to be dropped.
    Cached(Response<ProxyBody>),
}

impl Pending {
    pub(super) fn bypass(
        cache: Arc<FunctionCache>,
        primary: String,
        invalidate: Option<(String, String)>,
    ) -> Self {
        Pending {
            cache,
            primary,
            bypass: Some(invalidate),
            stale: None,
            conditional: false,
            request: HeaderMap::new(),
            method: Method::GET,
            directives: RequestDirectives::default(),
            leader: None,
            refresh: false,
            sent_at: Instant::now(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward(
        cache: Arc<FunctionCache>,
        primary: String,
        stale: Option<Arc<Entry>>,
        request: &HeaderMap,
        method: &Method,
        directives: RequestDirectives,
        leader: Option<Leader>,
        refresh: bool,
    ) -> Self {
        // Validate a stored copy ourselves unless the client sent its own conditions,
        // whose 304 is then the client's to receive.
        let own_conditions = request.contains_key(header::IF_NONE_MATCH)
            || request.contains_key(header::IF_MODIFIED_SINCE);
        let conditional = *method == Method::GET
            && !own_conditions
            && stale.as_ref().is_some_and(|e| e.policy.validatable);
        Pending {
            cache,
            primary,
            bypass: None,
            stale,
            conditional,
            request: request.clone(),
            method: method.clone(),
            directives,
            leader,
            refresh,
            sent_at: Instant::now(),
        }
    }

    /// Adds `If-None-Match` / `If-Modified-Since` from the stored copy to the request
    /// sent to the function, and notes when it is sent.
    pub fn prepare(&mut self, headers: &mut HeaderMap) {
        self.sent_at = Instant::now();
        let (true, Some(stale)) = (self.conditional, &self.stale) else {
            return;
        };
        if let Some(etag) = stale.headers.get(header::ETAG) {
            headers.insert(header::IF_NONE_MATCH, etag.clone());
        }
        if let Some(modified) = stale.headers.get(header::LAST_MODIFIED) {
            headers.insert(header::IF_MODIFIED_SINCE, modified.clone());
        }
    }

    /// The function could not be asked (no instance, queue, exchange failure): answer
    /// with the stale copy if `stale-if-error` allows, else with the error.
    pub fn on_error(
        self,
        error: ProxyError,
        request_id: &HeaderValue,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        if let Some(response) = self.stale_on_error(request_id) {
            return Ok(response);
        }
        self.cache.count(if self.bypass.is_some() {
            Outcome::Bypass
        } else {
            Outcome::Miss
        });
        Err(error)
    }

    fn stale_on_error(&self, request_id: &HeaderValue) -> Option<Response<ProxyBody>> {
        let stale = self.stale.as_ref()?;
        let age = stale.age(Instant::now());
        if !stale.policy.serves_on_error(age) {
            return None;
        }
        self.cache.count(Outcome::Stale);
        Some(respond(
            stale,
            age,
            Outcome::Stale,
            "tidegate; fwd=stale; detail=stale-if-error",
            request_id,
        ))
    }

    /// Handles the function's response head: labels it, and decides whether to store it,
    /// apply it to the stored copy (304), or answer with the stale copy instead (5xx).
    pub fn on_response(
        mut self,
        status: StatusCode,
        headers: &mut HeaderMap,
        request_id: &HeaderValue,
    ) -> Reply {
        let cache = self.cache.clone();
        if let Some(invalidate) = self.bypass.take() {
            if let Some((scheme, host)) = invalidate
                && (status.is_success() || status.is_redirection())
            {
                self.invalidate_written(&scheme, &host, headers);
            }
            cache.count(Outcome::Bypass);
            label(headers, Outcome::Bypass, "tidegate; fwd=bypass");
            return Reply::Stream(None);
        }

        // A 304 to our own validators: the stored copy is good again, with new headers.
        if self.conditional
            && status == StatusCode::NOT_MODIFIED
            && let Some(stale) = &self.stale
        {
            let mut stored = stale.headers.clone();
            freshness::merge_not_modified(&mut stored, headers);
            let cc = ResponseDirectives::parse(&stored);
            let lifetime = freshness::storable(
                &Method::GET,
                &self.request,
                &self.directives,
                stale.status,
                &stored,
                &cc,
                cache.default_ttl,
                SystemTime::now(),
            );
            let now = Instant::now();
            let entry = Entry {
                status: stale.status,
                policy: lifetime.map_or(stale.policy, |l| Policy::new(l, &cc, &stored)),
                initial_age: freshness::initial_age(headers, now - self.sent_at, SystemTime::now()),
                headers: stored,
                body: stale.body.clone(),
                stored_at: now,
                tags: stale.tags.clone(),
                generation: 0,
                refreshing: AtomicBool::new(false),
            };
            let response = respond(
                &entry,
                entry.initial_age,
                Outcome::Revalidated,
                "tidegate; fwd=stale; fwd-status=304",
                request_id,
            );
            let vary = key::vary_names(&entry.headers);
            cache
                .store
                .insert(&self.primary, vary, &self.request, entry);
            cache.count(Outcome::Revalidated);
            return Reply::Cached(response);
        }
        if status.is_server_error()
            && let Some(response) = self.stale_on_error(request_id)
        {
            return Reply::Cached(response);
        }

        // A miss: store the answer if the rules allow it.
        cache.count(Outcome::Miss);
        let fwd = if self.stale.is_some() {
            "stale"
        } else if self.directives.no_cache {
            "request"
        } else {
            "uri-miss"
        };
        let cc = ResponseDirectives::parse(headers);
        let lifetime = freshness::storable(
            &self.method,
            &self.request,
            &self.directives,
            status,
            headers,
            &cc,
            cache.default_ttl,
            SystemTime::now(),
        );
        let too_large = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|len| len > cache.object_max);
        let lifetime = match lifetime {
            Ok(_) if too_large => Err("too-large"),
            other => other,
        };
        let lifetime = match lifetime {
            Ok(lifetime) => lifetime,
            Err(reason) => {
                if self.method == Method::GET {
                    // Later requests go straight to the function rather than queueing
                    // behind one another for an answer that will not be stored.
                    cache.collapser.not_storable(&self.primary);
                    if self.stale.is_some() && status.is_success() {
                        cache.store.invalidate(&self.primary);
                    }
                }
                tracing::debug!(key = %self.primary, reason, "response not stored");
                label(headers, Outcome::Miss, fwd_status(fwd, false));
                return Reply::Stream(None);
            }
        };
        label(headers, Outcome::Miss, fwd_status(fwd, true));
        let now = Instant::now();
        let mut stored = headers.clone();
        for name in [
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::AGE,
            crate::headers::X_REQUEST_ID,
            X_TIDEGATE_CACHE,
            CACHE_STATUS,
        ] {
            stored.remove(name);
        }
        let entry = Entry {
            status,
            policy: Policy::new(lifetime, &cc, headers),
            initial_age: freshness::initial_age(headers, now - self.sent_at, SystemTime::now()),
            headers: stored,
            body: Bytes::new(),
            stored_at: now,
            tags: tags(headers),
            generation: 0,
            refreshing: AtomicBool::new(false),
        };
        cache.collapser.storable(&self.primary);
        Reply::Stream(Some(Capture {
            vary: key::vary_names(headers),
            cache,
            primary: std::mem::take(&mut self.primary),
            request: std::mem::take(&mut self.request),
            entry: Some(entry),
            chunks: BytesMut::new(),
            _leader: self.leader.take(),
        }))
    }

    /// Invalidates the target and the `Location` / `Content-Location` of a successful
    /// unsafe request, when on the same host (RFC 9111 §4.4).
    fn invalidate_written(&self, scheme: &str, host: &str, headers: &HeaderMap) {
        self.cache.store.invalidate(&self.primary);
        for name in [header::LOCATION, header::CONTENT_LOCATION] {
            let Some(target) = headers.get(name).and_then(|v| v.to_str().ok()) else {
                continue;
            };
            let Ok(uri) = target.parse::<http::Uri>() else {
                continue;
            };
            if uri
                .host()
                .is_some_and(|h| !h.eq_ignore_ascii_case(host.split(':').next().unwrap_or(host)))
            {
                continue;
            }
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            let url = key::url_key(scheme, host, path);
            let primary = key::primary_key(url, &self.cache.key_headers, &self.request);
            self.cache.store.invalidate(&primary);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        // A refresh that did not store a new copy lets the next request try again.
        if self.refresh
            && let Some(stale) = &self.stale
        {
            stale.refreshing.store(false, Ordering::Release);
        }
    }
}

fn fwd_status(fwd: &'static str, stored: bool) -> &'static str {
    match (fwd, stored) {
        ("stale", true) => "tidegate; fwd=stale; stored",
        ("stale", false) => "tidegate; fwd=stale",
        ("request", true) => "tidegate; fwd=request; stored",
        ("request", false) => "tidegate; fwd=request",
        (_, true) => "tidegate; fwd=uri-miss; stored",
        (_, false) => "tidegate; fwd=uri-miss",
    }
}

/// Sets `x-tidegate-cache` and `Cache-Status` on a response.
pub fn label(headers: &mut HeaderMap, outcome: Outcome, cache_status: &'static str) {
    headers.insert(X_TIDEGATE_CACHE, outcome.header());
    headers.insert(CACHE_STATUS, HeaderValue::from_static(cache_status));
}

/// Purge tags from `Cache-Tag` (comma-separated) and `Surrogate-Key` (space-separated).
fn tags(headers: &HeaderMap) -> Box<[Box<str>]> {
    const CACHE_TAG: HeaderName = HeaderName::from_static("cache-tag");
    const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
    let mut tags: Vec<Box<str>> = Vec::new();
    for name in [CACHE_TAG, SURROGATE_KEY] {
        for value in headers.get_all(name).iter().filter_map(|v| v.to_str().ok()) {
            for tag in value
                .split([',', ' '])
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                tags.push(tag.into());
            }
        }
    }
    tags.into_boxed_slice()
}

/// A copy of a streaming answer, stored once the body is complete. Dropped before then
/// (the client left, the body failed, it grew too large), it stores nothing; dropping it
/// releases the collapsed waiters either way.
pub struct Capture {
    cache: Arc<FunctionCache>,
    primary: String,
    vary: Vec<HeaderName>,
    request: HeaderMap,
    entry: Option<Entry>,
    chunks: BytesMut,
    _leader: Option<Leader>,
}

impl Capture {
    /// Copies one piece of the body; false when the object outgrew the per-object limit
    /// (the capture should then be dropped).
    pub fn push(&mut self, data: &Bytes) -> bool {
        if (self.chunks.len() + data.len()) as u64 > self.cache.object_max {
            self.cache.collapser.not_storable(&self.primary);
            return false;
        }
        self.chunks.extend_from_slice(data);
        true
    }

    /// The body is complete: store the response.
    pub fn complete(mut self) {
        let Some(mut entry) = self.entry.take() else {
            return;
        };
        entry.body = std::mem::take(&mut self.chunks).freeze();
        let vary = std::mem::take(&mut self.vary);
        self.cache
            .store
            .insert(&self.primary, vary, &self.request, entry);
        // `self` drops here, after the insert: waiters woken now find the entry.
    }
}
