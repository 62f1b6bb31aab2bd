//! What a forwarded request carries from the cache lookup to the function's answer:
//! adding validators to the request, and then storing the answer, applying a `304`, or
//! serving the stale copy when the function fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Response, StatusCode};
use tokio::time::Instant;

use super::capture::Capture;
use super::collapse::Leader;
use super::control::{RequestDirectives, ResponseDirectives};
use super::freshness::{self, NotStored, Policy};
use super::store::Entry;
use super::{CACHE_STATUS, FunctionCache, Outcome, X_TIDEGATE_CACHE, head_only, key, respond};
use crate::body::ProxyBody;
use crate::error::ProxyError;

/// A request on its way to the function, as far as the cache is concerned.
pub struct Pending {
    cache: Arc<FunctionCache>,
    primary: String,
    // Not a cacheable request; `Some` for unsafe methods: (scheme, host) to invalidate on.
    bypass: Option<Option<(String, String)>>,
    // Why the request goes to the function: RFC 9211's `fwd` value.
    fwd: &'static str,
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

/// How a request that ends in an error of tidegate's own is labelled: what the cache did
/// for it, and its `Cache-Status`.
#[derive(Debug, Clone)]
pub struct ErrorLabel {
    /// The `x-tidegate-cache` value.
    pub outcome: Outcome,
    /// The `Cache-Status` value.
    pub cache_status: HeaderValue,
}

impl ErrorLabel {
    /// An error before anything was sent to the function: no `fwd`, since nothing was
    /// forwarded.
    pub fn unforwarded(outcome: Outcome) -> Self {
        ErrorLabel {
            outcome,
            cache_status: HeaderValue::from_static("tidegate; detail=error"),
        }
    }

    /// Sets `x-tidegate-cache` and `Cache-Status` on the error response.
    pub fn apply(self, headers: &mut HeaderMap) {
        label(headers, self.outcome, self.cache_status);
    }
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
    /// A request forwarded as it is; `fwd` says why (`method`, or `bypass` for `Range`
    /// and `Upgrade`).
    pub(super) fn bypass(
        cache: Arc<FunctionCache>,
        primary: String,
        fwd: &'static str,
        invalidate: Option<(String, String)>,
    ) -> Self {
        Pending {
            cache,
            primary,
            bypass: Some(invalidate),
            fwd,
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

    /// A cacheable request on its way to the function; `fwd` says why it goes there.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward(
        cache: Arc<FunctionCache>,
        primary: String,
        fwd: &'static str,
        stale: Option<Arc<Entry>>,
        request: &HeaderMap,
        method: &Method,
        directives: RequestDirectives,
        leader: Option<Leader>,
        refresh: bool,
    ) -> Self {
        // Validate a stored copy ourselves unless the client sent its own conditions,
        // whose 304 is then the client's to receive. A background refresh is the cache's
        // own request: the client's conditions are taken off it (`forward()`).
        let own_conditions = !refresh
            && (request.contains_key(header::IF_NONE_MATCH)
                || request.contains_key(header::IF_MODIFIED_SINCE));
        let conditional = *method == Method::GET
            && !own_conditions
            && stale.as_ref().is_some_and(|e| e.policy.validatable);
        Pending {
            cache,
            primary,
            bypass: None,
            fwd,
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
    /// with the stale copy if `stale-if-error` allows, else with the error and how to
    /// label it. `forwarded` says whether the request was sent to an instance at all.
    pub fn on_error(
        self,
        error: ProxyError,
        forwarded: bool,
        request_id: &HeaderValue,
    ) -> Result<Response<ProxyBody>, (ProxyError, ErrorLabel)> {
        if let Some(response) = self.stale_on_error(request_id) {
            return Ok(response);
        }
        let outcome = if self.bypass.is_some() {
            Outcome::Bypass
        } else {
            Outcome::Miss
        };
        self.cache.count(outcome);
        let label = if forwarded {
            ErrorLabel {
                outcome,
                cache_status: cache_status(format!("tidegate; fwd={}; detail=error", self.fwd)),
            }
        } else {
            ErrorLabel::unforwarded(outcome)
        };
        Err((error, label))
    }

    fn stale_on_error(&self, request_id: &HeaderValue) -> Option<Response<ProxyBody>> {
        let stale = self.stale.as_ref()?;
        let age = stale.age(Instant::now());
        if !stale.policy.serves_on_error(age) {
            return None;
        }
        self.cache.count(Outcome::Stale);
        let mut response = respond(
            stale,
            age,
            Outcome::Stale,
            "tidegate; fwd=stale; detail=stale-if-error",
            request_id,
        );
        if self.method == Method::HEAD {
            head_only(&mut response, stale);
        }
        Some(response)
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
            let status = cache_status(format!("tidegate; fwd={}", self.fwd));
            label(headers, Outcome::Bypass, status);
            return Reply::Stream(None);
        }

        // A 304 to our own validators: the stored copy is good again, with new headers.
        if self.conditional && status == StatusCode::NOT_MODIFIED {
            return self.on_not_modified(headers, request_id);
        }
        if status.is_server_error()
            && let Some(response) = self.stale_on_error(request_id)
        {
            return Reply::Cached(response);
        }

        // A miss: store the answer if the rules allow it.
        cache.count(Outcome::Miss);
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
            Ok(_) if too_large => Err(NotStored::TooLarge),
            other => other,
        };
        let lifetime = match lifetime {
            Ok(lifetime) => lifetime,
            Err(refusal) => {
                if refusal.depends_on_response() {
                    // Later requests go straight to the function rather than queueing
                    // behind one another for an answer that will not be stored; and a
                    // successful answer that may not be stored replaces the old copy.
                    cache.collapser.not_storable(&self.primary);
                    if self.stale.is_some() && status.is_success() {
                        cache.store.invalidate(&self.primary);
                    }
                }
                let reason = refusal.reason();
                tracing::debug!(key = %self.primary, reason, "response not stored");
                label(headers, Outcome::Miss, self.forwarded_status(false));
                return Reply::Stream(None);
            }
        };
        label(headers, Outcome::Miss, self.forwarded_status(true));
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
        Reply::Stream(Some(Capture::new(
            cache,
            std::mem::take(&mut self.primary),
            key::vary_names(headers),
            std::mem::take(&mut self.request),
            entry,
            self.leader.take(),
        )))
    }

    /// A 304 to the validators the cache added: the client gets the stored body with the
    /// 304's headers merged in (RFC 9111 §4.3.4). The merged response is stored again
    /// only if the rules allow it: a 304 may bring `Set-Cookie`, `private` or
    /// `no-store`, and storing those would hand one client's answer to everyone.
    fn on_not_modified(&mut self, not_modified: &HeaderMap, request_id: &HeaderValue) -> Reply {
        let cache = self.cache.clone();
        let stale = self
            .stale
            .clone()
            .expect("a conditional request has a stored copy");
        let mut merged = stale.headers.clone();
        freshness::merge_not_modified(&mut merged, not_modified);
        let cc = ResponseDirectives::parse(&merged);
        let lifetime = freshness::storable(
            &Method::GET,
            &self.request,
            &self.directives,
            stale.status,
            &merged,
            &cc,
            cache.default_ttl,
            SystemTime::now(),
        );
        let now = Instant::now();
        let entry = Entry {
            status: stale.status,
            policy: match lifetime {
                Ok(lifetime) => Policy::new(lifetime, &cc, &merged),
                Err(_) => stale.policy,
            },
            initial_age: freshness::initial_age(
                not_modified,
                now - self.sent_at,
                SystemTime::now(),
            ),
            headers: merged,
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
        cache.count(Outcome::Revalidated);
        match lifetime {
            Ok(_) => {
                let vary = key::vary_names(&entry.headers);
                cache
                    .store
                    .insert(&self.primary, vary, &self.request, entry);
                cache.collapser.storable(&self.primary);
            }
            Err(refusal) => {
                // The old copy no longer matches what the function says about the
                // resource; a refusal of this one request's (its `no-store`) leaves it be.
                if refusal.depends_on_response() {
                    cache.store.invalidate(&self.primary);
                    cache.collapser.not_storable(&self.primary);
                }
                let reason = refusal.reason();
                tracing::debug!(key = %self.primary, reason, "revalidated response not stored");
            }
        }
        Reply::Cached(response)
    }

    /// `Cache-Status` of an answer from the function, stored or not.
    fn forwarded_status(&self, stored: bool) -> HeaderValue {
        let stored = if stored { "; stored" } else { "" };
        cache_status(format!("tidegate; fwd={}{stored}", self.fwd))
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

/// A `Cache-Status` value built from the cache's own tokens.
fn cache_status(value: String) -> HeaderValue {
    HeaderValue::try_from(value).expect("Cache-Status is built from ASCII tokens")
}

/// Sets `x-tidegate-cache` and `Cache-Status` on a response.
fn label(headers: &mut HeaderMap, outcome: Outcome, cache_status: HeaderValue) {
    headers.insert(X_TIDEGATE_CACHE, outcome.header());
    headers.insert(CACHE_STATUS, cache_status);
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
