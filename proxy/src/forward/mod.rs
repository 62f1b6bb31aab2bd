//! The request path: route, wait for an instance slot, forward, stream the answer back.
//!
//! [`handle`] is the service every client request goes through. It never fails: every
//! problem becomes a [`ProxyError`], turned into a response in one place
//! ([`ProxyError::to_response`]). The instance's slot ([`Lease`]) and its connection travel
//! inside the response body and are released by [`Completion`] once the body is sent.

pub mod pool;
mod refresh;
mod upgrade;
pub mod upstream;

pub use upgrade::Tunnel;

use std::convert::Infallible;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tidegate_scaler::Lease;
use tokio::time::Instant;

use crate::body::{BodyLimitExceeded, ClientBody, ProxyBody, RequestBody, WatchHangup};
use crate::cache::{ErrorLabel, Lookup, Outcome, Pending, Reply};
use crate::error::ProxyError;
use crate::headers::{self, X_REQUEST_ID};

/// The `Server-Timing` response header (W3C Server Timing).
const SERVER_TIMING: header::HeaderName = header::HeaderName::from_static("server-timing");
use crate::http1;
use crate::route::{RouteMatch, host_without_port, stripped_path};
use crate::server::{ActiveRequest, ConnState, Worker};

use upgrade::forward_upgrade;
use upstream::{ExchangeError, UpstreamBody, UpstreamConn};

/// Serves one client request that arrived through hyper (HTTP/2, or HTTP/1.1 over TLS).
///
/// The returned future is hyper's service future for the request, kept for as long as the
/// request lives, queued or not. So are the futures it holds: see [`handle_direct`].
pub fn handle(
    worker: Rc<Worker>,
    conn: Arc<ConnState>,
    request: Request<Incoming>,
) -> impl Future<Output = Result<Response<ProxyBody>, Infallible>> {
    let mut request = request.map(ClientBody::Hyper);
    let client_upgrade = asks_protocol_switch(&request).then(|| hyper::upgrade::on(&mut request));
    let direct = handle_direct(worker, conn, request);
    async move {
        let (response, tunnel) = direct.await;
        if let (Some(tunnel), Some(client_upgrade)) = (tunnel, client_upgrade) {
            tokio::task::spawn_local(async move {
                match client_upgrade.await {
                    Ok(client) => tunnel.run(TokioIo::new(client)).await,
                    Err(error) => tracing::debug!(%error, "the client's protocol switch failed"),
                }
            });
        }
        Ok(response)
    }
}

/// Serves one client request. Never fails: every problem is answered with an error
/// response. A `101 Switching Protocols` answer comes with the [`Tunnel`] to the instance,
/// for the caller to join to the client's connection.
///
/// Memory: a request waiting in the queue holds this future, so it is kept small. The
/// request moves into the boxed [`forward`] future here, before the first await, rather
/// than being captured by an async block that would keep a second copy of it alive
/// (100,000 queued requests would each carry that dead copy).
pub fn handle_direct(
    worker: Rc<Worker>,
    conn: Arc<ConnState>,
    mut request: Request<ClientBody>,
) -> impl Future<Output = (Response<ProxyBody>, Option<Tunnel>)> {
    let active = ActiveRequest::new(&conn, request.version() == Version::HTTP_2);
    let started = Instant::now();
    let request_id = match request.headers().get(X_REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let id = worker.ids.next();
            request.headers_mut().insert(X_REQUEST_ID, id.clone());
            id
        }
    };
    let cacheable_method = matches!(*request.method(), Method::GET | Method::HEAD);
    let forwarding = Box::pin(forward(
        worker.clone(),
        conn,
        request,
        request_id.clone(),
        started,
    ));
    async move {
        let (learned, result) = forwarding.await;
        let (response, tunnel) = match result {
            Ok(forwarded) => forwarded,
            Err(error) => {
                let response = refused(
                    &worker,
                    learned,
                    cacheable_method,
                    error,
                    &request_id,
                    started,
                );
                (response, None)
            }
        };
        (response.map(|body| body.with_active(active)), tunnel)
    }
}

/// The answer to a request refused with `error`, counted and logged.
fn refused(
    worker: &Worker,
    learned: Learned,
    cacheable_method: bool,
    error: ProxyError,
    request_id: &HeaderValue,
    started: Instant,
) -> Response<ProxyBody> {
    let function = learned.function;
    let name = function.map(|i| &*worker.shared.functions[i].name);
    tracing::debug!(function = name, code = error.code(), request_id = ?request_id, "request refused");
    worker
        .metrics
        .record(function, error.status(), started.elapsed());
    let mut response = error.to_response(name, Some(request_id));
    // Every answer of a cache-enabled function says what the cache did; an error the
    // cache never saw forwarded nothing.
    if function.is_some_and(|i| worker.shared.functions[i].cache.is_some()) {
        let label = learned.cache.unwrap_or_else(|| {
            ErrorLabel::unforwarded(if cacheable_method {
                Outcome::Miss
            } else {
                Outcome::Bypass
            })
        });
        label.apply(response.headers_mut());
    }
    response
}

/// What [`forward`] learned about a request before it failed, for the error response.
#[derive(Default)]
struct Learned {
    /// The function the request was routed to.
    function: Option<usize>,
    /// How the cache labels the error, once it has seen the request.
    cache: Option<ErrorLabel>,
}

type Forwarded = (Response<ProxyBody>, Option<Tunnel>);

/// Routes and forwards the request; says what it learned of it, for an error response.
///
/// This and the functions below return `async move` blocks rather than being `async fn`s:
/// an `async fn` keeps a copy of each argument beside the local it moves it into, and for
/// the request head (~260 bytes) that dead copy would be held by every queued request.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps a second copy of the request"
)]
fn forward(
    worker: Rc<Worker>,
    conn: Arc<ConnState>,
    request: Request<ClientBody>,
    request_id: HeaderValue,
    started: Instant,
) -> impl Future<Output = (Learned, Result<Forwarded, ProxyError>)> {
    async move {
        let mut learned = Learned::default();
        let result = forward_to(&worker, &conn, request, &request_id, started, &mut learned).await;
        (learned, result)
    }
}

#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps a second copy of the request"
)]
fn forward_to<'a>(
    worker: &'a Rc<Worker>,
    conn: &'a ConnState,
    mut request: Request<ClientBody>,
    request_id: &'a HeaderValue,
    started: Instant,
    learned: &'a mut Learned,
) -> impl Future<Output = Result<Forwarded, ProxyError>> + 'a {
    async move {
        let shared = &worker.shared;
        if shared.shutdown.has_expired() {
            return Err(ProxyError::ShuttingDown);
        }
        if request.method() == Method::CONNECT {
            return Err(ProxyError::BadRequest(
                "CONNECT cannot be proxied to a function",
            ));
        }

        // Route. HTTP/2 carries the host in the URI (`:authority`), HTTP/1.1 in `Host` or,
        // in absolute form, in the URI, which then wins over `Host` (RFC 9112 §3.2.2). Two
        // `Host` lines are refused: routing would read one, the instance perhaps the other.
        if request
            .headers()
            .get_all(header::HOST)
            .iter()
            .nth(1)
            .is_some()
        {
            return Err(ProxyError::BadRequest(
                "the request has more than one Host header",
            ));
        }
        let host_in_uri = request.uri().authority().is_some();
        let host_value = match request.uri().authority() {
            Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
            None => request.headers().get(header::HOST).cloned(),
        };
        let Some(host_value) = host_value else {
            return Err(ProxyError::BadRequest("the request has no Host header"));
        };
        let host = host_value.to_str().map(host_without_port).ok();
        let path = request.uri().path();
        let Some(route) = shared.router.lookup(host, path) else {
            return Err(ProxyError::NoRoute);
        };
        learned.function = Some(route.function);

        // Refuse a body declared too large before taking an instance slot for it.
        let limit = shared.limits.max_body_bytes;
        let declared = http1::content_length(request.headers_mut()).map_err(|_| {
            ProxyError::BadRequest("the Content-Length header is not one decimal number")
        })?;
        if declared.is_some_and(|len| len > limit) {
            return Err(ProxyError::BodyTooLarge { limit });
        }

        // Answer from the response cache when it can, before any instance slot is taken: a
        // hit never queues, never starts an instance, and is not an execution.
        let mut cached = None;
        if let Some(cache) = &shared.functions[route.function].cache {
            let scheme = conn.forwarded.proto.to_str().unwrap_or("http");
            let host = host_value.to_str().unwrap_or("");
            // Boxed: only cache-enabled functions pay for the lookup's state.
            match Box::pin(cache.lookup(&request, scheme, host, request_id)).await? {
                Lookup::Answer(response) => {
                    let elapsed = started.elapsed();
                    worker
                        .metrics
                        .record(Some(route.function), response.status(), elapsed);
                    return Ok((response, None));
                }
                Lookup::Refresh(response, pending) => {
                    // Served stale at once; one background request refreshes the stored copy.
                    let head = Rewrite {
                        conn,
                        new_uri: upstream_uri(request.uri(), route.strip)?,
                        host_value,
                        host_in_uri,
                        declared,
                        limit,
                    };
                    // It is a GET even for a HEAD client, since only a GET's answer can be
                    // stored, and it carries the cache's validators rather than the client's.
                    let mut request = head.apply(request).map(|_| RequestBody::empty());
                    *request.method_mut() = Method::GET;
                    for name in [
                        header::IF_NONE_MATCH,
                        header::IF_MODIFIED_SINCE,
                        header::IF_MATCH,
                        header::IF_UNMODIFIED_SINCE,
                        header::IF_RANGE,
                    ] {
                        request.headers_mut().remove(name);
                    }
                    let task = refresh::run(
                        worker.clone(),
                        route.clone(),
                        request,
                        pending,
                        request_id.clone(),
                    );
                    tokio::task::spawn_local(task);
                    worker.metrics.record(
                        Some(route.function),
                        response.status(),
                        started.elapsed(),
                    );
                    return Ok((response, None));
                }
                Lookup::Forward(pending) => cached = Some(pending),
            }
        }

        // A target that cannot be forwarded is refused now, not after waiting for a slot.
        let head = Rewrite {
            conn,
            new_uri: upstream_uri(request.uri(), route.strip)?,
            host_value,
            host_in_uri,
            declared,
            limit,
        };
        // Boxed, so that a request waiting in the queue holds that state only, not also the
        // routing and lookup state above (see `handle_direct`).
        Box::pin(dispatch(
            worker, route, request, head, cached, request_id, started, learned,
        ))
        .await
    }
}

/// Whether the request asks to switch protocols (WebSocket and the like), which exists in
/// HTTP/1.1 only (RFC 9110 §7.8).
fn asks_protocol_switch<B>(request: &Request<B>) -> bool {
    request.version() == Version::HTTP_11 && headers::is_upgrade(request.headers())
}

/// What rewriting a request's head for the instance needs to know.
struct Rewrite<'a> {
    conn: &'a ConnState,
    // The target with the route's prefix stripped, when it strips one.
    new_uri: Option<Uri>,
    host_value: HeaderValue,
    host_in_uri: bool,
    declared: Option<u64>,
    limit: u64,
}

impl Rewrite<'_> {
    /// The request as the instance gets it: HTTP/1.1, the prefix stripped, hop-by-hop
    /// fields gone (but those of a protocol switch), `Forwarded` set, and its body
    /// counted against the limit unless its declared length was already checked.
    fn apply(self, request: Request<ClientBody>) -> Request<RequestBody> {
        let upgrade = asks_protocol_switch(&request);
        let http2 = request.version() == Version::HTTP_2;
        let (mut parts, body) = request.into_parts();
        if let Some(uri) = self.new_uri {
            parts.uri = uri;
        }
        parts.version = Version::HTTP_11;
        headers::remove_hop_by_hop(&mut parts.headers, upgrade);
        headers::set_forwarded(
            &mut parts.headers,
            &self.conn.forwarded,
            Some(&self.host_value),
            http2,
        );
        if self.host_in_uri {
            // The instance sees the host the request was routed by.
            parts.headers.insert(header::HOST, self.host_value);
        }
        let body = match self.declared {
            Some(_) => RequestBody::checked(body),
            None => RequestBody::limited(body, self.limit),
        };
        Request::from_parts(parts, body)
    }
}

/// Takes a slot on the least-loaded instance, waiting in the queue if all are busy, and
/// sends the request (already rewritten for the instance) to it, or switches protocols
/// when `upgrade`.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps a second copy of the request"
)]
#[expect(
    clippy::too_many_arguments,
    reason = "the state of one request, passed on once"
)]
fn dispatch<'a>(
    worker: &'a Rc<Worker>,
    route: &'a RouteMatch,
    request: Request<ClientBody>,
    head: Rewrite<'a>,
    mut cached: Option<Box<Pending>>,
    request_id: &'a HeaderValue,
    started: Instant,
    learned: &'a mut Learned,
) -> impl Future<Output = Result<Forwarded, ProxyError>> + 'a {
    async move {
        let shared = &worker.shared;
        let upgrade = asks_protocol_switch(&request);
        let failed = |forwarded| Failed {
            function: route.function,
            started,
            forwarded,
        };
        let (mut lease, waited) = match acquire(worker, route, &request, request_id).await {
            Ok(acquired) => acquired,
            Err(error) => {
                return stale_or(worker, failed(false), cached, error, request_id, learned);
            }
        };
        // Rewritten only now: a queued request keeps the head it came with, which is
        // smaller than the instance's (the forwarding fields would grow its header map).
        let mut upstream_request = head.apply(request);
        if let Some(pending) = &mut cached {
            pending.prepare(upstream_request.headers_mut());
        }
        let instance = lease.instance().clone();
        let deadline = Instant::now() + shared.limits.request_timeout;

        // The exchange and the upgrade are boxed: their state is most of this future's size,
        // and a request waiting in the queue would otherwise hold it unused (100,000 queued
        // requests held 3.9 KB of future each). One allocation per request buys that back.
        if upgrade {
            let switched = Box::pin(forward_upgrade(
                upstream_request,
                lease,
                instance.addr(),
                deadline,
                request_id,
            ))
            .await;
            let (mut response, tunnel) = match switched {
                Ok(switched) => switched,
                Err(error) => {
                    return stale_or(worker, failed(true), cached, error, request_id, learned);
                }
            };
            // The cache did not take part, and says so like on every answer.
            if let Some(pending) = cached {
                pending.on_response(response.status(), response.headers_mut(), request_id);
            }
            // A switched connection has no response body to complete: count it at the
            // answer. Its duration is the time to the switch, not the tunnel's life.
            worker
                .metrics
                .record(Some(route.function), response.status(), started.elapsed());
            return Ok((response, tunnel));
        }

        let mut response =
            match Box::pin(send(worker, &mut lease, upstream_request, deadline)).await {
                Ok(response) => response,
                Err(error) => {
                    return stale_or(worker, failed(true), cached, error, request_id, learned);
                }
            };
        headers::remove_hop_by_hop(response.headers_mut(), false);
        let reply =
            cached.map(|p| p.on_response(response.status(), response.headers_mut(), request_id));
        response
            .headers_mut()
            .insert(X_REQUEST_ID, request_id.clone());
        if let Some(waited) = waited {
            response
                .headers_mut()
                .append(SERVER_TIMING, server_timing(waited));
        }
        let status = response.status();
        let completion = Completion {
            worker: worker.clone(),
            lease,
            function: route.function,
            status,
            started,
        };
        let capture = match reply {
            Some(Reply::Cached(answer)) => {
                // Answered from the cache after all (304, or stale on a 5xx): the function's
                // own response ends here.
                drop(ProxyBody::upstream(response.into_body(), completion));
                return Ok((answer, None));
            }
            Some(Reply::Stream(capture)) => capture,
            None => None,
        };
        Ok((
            response.map(|body| ProxyBody::upstream_captured(body, completion, capture)),
            None,
        ))
    }
}

/// A request the function could not answer.
struct Failed {
    function: usize,
    started: Instant,
    /// Whether the request was sent to an instance (the exchange failed) or not (no slot).
    forwarded: bool,
}

/// The function could not be asked: the cache's stale copy if `stale-if-error` allows,
/// else the error, with the cache's label for it in `learned`.
fn stale_or(
    worker: &Worker,
    failed: Failed,
    pending: Option<Box<Pending>>,
    error: ProxyError,
    request_id: &HeaderValue,
    learned: &mut Learned,
) -> Result<(Response<ProxyBody>, Option<Tunnel>), ProxyError> {
    let Some(pending) = pending else {
        return Err(error);
    };
    match pending.on_error(error, failed.forwarded, request_id) {
        Ok(response) => {
            let elapsed = failed.started.elapsed();
            worker
                .metrics
                .record(Some(failed.function), response.status(), elapsed);
            Ok((response, None))
        }
        Err((error, label)) => {
            learned.cache = Some(label);
            Err(error)
        }
    }
}

/// The origin-form URI to send upstream, or `None` when the client's can be sent as is.
fn upstream_uri(uri: &Uri, strip: Option<usize>) -> Result<Option<Uri>, ProxyError> {
    let invalid = |_| ProxyError::BadRequest("the request target cannot be forwarded");
    if let Some(strip) = strip {
        let path = stripped_path(uri.path(), strip);
        let target = match uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        return Uri::try_from(target).map(Some).map_err(invalid);
    }
    if uri.scheme().is_none() && uri.authority().is_none() {
        return Ok(None);
    }
    // Absolute-form (HTTP/2, or an HTTP/1.1 proxy-style request): keep path and query.
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Ok(Some(Uri::from(path)))
}

/// How a request came by its instance slot, for the `Server-Timing` header.
#[derive(Debug, Clone, Copy)]
struct Waited {
    /// Time spent waiting for a slot.
    wait: Duration,
    /// Whether the slot is on an instance that became ready during that wait: the wait
    /// was (at least partly) a cold start.
    cold: bool,
}

/// A slot on one of the function's instances, waiting in the function's queue when all
/// are busy or none is ready yet. Returns `None` for the wait when a slot was free at once.
async fn acquire<B: WatchHangup>(
    worker: &Worker,
    route: &RouteMatch,
    request: &Request<B>,
    request_id: &HeaderValue,
) -> Result<(Lease, Option<Waited>), ProxyError> {
    let runtime = &worker.shared.functions[route.function];
    let fleet = &runtime.fleet;
    let queue = &runtime.queue;
    if let Some(lease) = queue.try_now(fleet) {
        return Ok((lease, None));
    }
    if runtime.scale.is_none() && fleet.instances().is_empty() {
        return Err(ProxyError::ScaleFailed);
    }
    if fleet.counts().ready == 0 {
        // Nothing can take this request soon: wake the controller now, not at its tick.
        fleet.want_capacity();
        if fleet.is_failing() {
            return Err(ProxyError::ScaleFailed);
        }
    }
    if worker.shared.shutdown.has_expired() {
        return Err(ProxyError::ShuttingDown);
    }

    // Queue it. Only a queued request's class and wait limit matter, so only it pays
    // for reading them (and for watching its connection).
    let headers = request.headers();
    let class = queue.class_of(headers, route.priority.as_deref());
    let limit = crate::queue::wait_limit(headers, queue.timeout());
    let hangup = request.body().hangup();
    let mut waiter = queue.enqueue(fleet, class, limit)?;
    tracing::debug!(
        function = %runtime.name,
        request_id = ?request_id,
        priority = %queue.class_names()[class],
        depth = queue.depth(),
        "waiting for a free instance"
    );
    let hung_up = async {
        match &hangup {
            Some(hangup) => hangup.closed().await,
            None => std::future::pending().await,
        }
    };
    let lease = tokio::select! {
        granted = waiter.granted() => granted?,
        () = hung_up => {
            // Dropping the waiter withdraws it; nothing is forwarded for this client.
            tracing::debug!(function = %runtime.name, request_id = ?request_id, "client left the queue");
            return Err(ProxyError::ClientGone);
        }
    };
    let cold = lease
        .instance()
        .ready_at()
        .is_some_and(|ready| ready > waiter.since());
    let waited = Waited {
        wait: waiter.since().elapsed(),
        cold,
    };
    Ok((lease, Some(waited)))
}

/// `Server-Timing` for a request that waited: `queue` always, `cold` when the wait ended
/// on an instance that had just started. Durations in milliseconds (RFC 9110 does not
/// define the header; the W3C Server Timing draft does, with `dur` in milliseconds).
fn server_timing(waited: Waited) -> HeaderValue {
    let ms = waited.wait.as_secs_f64() * 1e3;
    let value = if waited.cold {
        format!("queue;dur={ms:.1}, cold;dur={ms:.1}")
    } else {
        format!("queue;dur={ms:.1}")
    };
    HeaderValue::try_from(value).expect("digits and ASCII punctuation")
}

/// How many other instances a request may try when its instance refuses connections.
const MAX_REROUTES: u32 = 2;

/// Sends the request on a pooled connection, retrying once on a fresh connection when a
/// reused one turns out closed before anything of the request was processed, and on
/// another instance (moving `lease`) when the instance cannot be connected to at all.
async fn send(
    worker: &Worker,
    lease: &mut Lease,
    request: Request<RequestBody>,
    deadline: Instant,
) -> Result<Response<UpstreamBody>, ProxyError> {
    let (parts, mut body) = request.into_parts();
    let exchange = async {
        let mut retried = false;
        let mut reroutes = 0;
        loop {
            let instance = lease.instance().clone();
            let (conn, reused) = match worker.pools.checkout(instance.id(), instance.addr()).await {
                Ok(checked_out) => checked_out,
                Err(error) => {
                    tracing::debug!(instance = %instance.id(), %error, "cannot connect to instance");
                    // Nothing was sent, so another instance may take the request: the
                    // instance may have just died, before its provider noticed.
                    if reroutes < MAX_REROUTES && lease.reroute() {
                        reroutes += 1;
                        continue;
                    }
                    return Err(ProxyError::UpstreamUnavailable);
                }
            };
            // A retry needs the body again; only an empty one can be replayed, and only
            // an empty one is retryable anyway.
            let this_body = std::mem::replace(&mut body, RequestBody::empty());
            match conn.exchange(&parts, this_body).await {
                Ok(response) => return Ok(response),
                Err(ExchangeError::Io {
                    retryable: true, ..
                }) if reused && !retried => retried = true,
                Err(error) => return Err(classify(error)),
            }
        }
    };
    match tokio::time::timeout_at(deadline, exchange).await {
        Ok(result) => result,
        Err(_) => Err(ProxyError::UpstreamTimeout),
    }
}

/// Maps a failed exchange to what the client is told.
fn classify(error: ExchangeError) -> ProxyError {
    match error {
        ExchangeError::Body(cause) => {
            if let Some(exceeded) = cause.downcast_ref::<BodyLimitExceeded>() {
                return ProxyError::BodyTooLarge {
                    limit: exceeded.limit,
                };
            }
            // The client's own body failed (it disconnected, or sent a malformed chunk).
            ProxyError::BadRequest("the request body could not be read")
        }
        error => {
            tracing::debug!(%error, "instance exchange failed");
            ProxyError::UpstreamUnavailable
        }
    }
}

/// What happens once a response has been sent: the slot is freed, the connection goes back
/// to the pool if the exchange ended cleanly, and the request is counted and logged.
pub struct Completion {
    worker: Rc<Worker>,
    lease: Lease,
    function: usize,
    status: StatusCode,
    started: Instant,
}

impl Completion {
    /// Runs the completion; `conn` is the instance connection when the response was read
    /// whole and the connection may carry another request.
    pub fn finish(self, conn: Option<UpstreamConn>) {
        let clean = conn.is_some();
        if let Some(conn) = conn {
            self.worker.pools.checkin(conn);
        }
        let elapsed = self.started.elapsed();
        self.worker
            .metrics
            .record(Some(self.function), self.status, elapsed);
        tracing::debug!(
            function = %self.worker.shared.functions[self.function].name,
            instance = %self.lease.instance().id(),
            status = self.status.as_u16(),
            duration_us = elapsed.as_micros() as u64,
            complete = clean,
            "request finished"
        );
        // Dropping the lease frees the slot.
    }
}
