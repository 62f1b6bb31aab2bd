//! The request path: route, wait for an instance slot, forward, stream the answer back.
//!
//! [`handle`] is the service every client request goes through. It never fails: every
//! problem becomes a [`ProxyError`], turned into a response in one place
//! ([`ProxyError::to_response`]). The instance's slot ([`Lease`]) and its connection travel
//! inside the response body and are released by [`Completion`] once the body is sent.
//!
//! This file routes a request and consults the cache; `rewrite` turns the client's head
//! into the instance's, `dispatch` takes a slot (queueing if need be) and asks the
//! instance, `send` does the exchange itself, `upgrade` switches protocols, `refresh`
//! renews a stale cached copy in the background, and `pool`/`upstream` are the
//! connections to instances.

mod dispatch;
pub mod pool;
mod refresh;
mod rewrite;
mod send;
mod upgrade;
pub mod upstream;

pub use send::Completion;
pub use upgrade::Tunnel;

use std::convert::Infallible;
use std::rc::Rc;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::time::Instant;

use crate::body::{ClientBody, ProxyBody, RequestBody};
use crate::cache::{ErrorLabel, Lookup, Outcome};
use crate::error::ProxyError;
use crate::headers::X_REQUEST_ID;

/// The `Server-Timing` response header (W3C Server Timing).
const SERVER_TIMING: header::HeaderName = header::HeaderName::from_static("server-timing");
use crate::http1;
use crate::route::host_without_port;
use crate::server::{ActiveRequest, ConnState, Worker};

use dispatch::dispatch;
use rewrite::{Rewrite, asks_protocol_switch, upstream_uri};

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
        let (response, tunnel) = match forwarding.await {
            Ok(forwarded) => forwarded,
            Err(refusal) => {
                let response = refused(&worker, refusal, cacheable_method, &request_id, started);
                (response, None)
            }
        };
        (response.map(|body| body.with_active(active)), tunnel)
    }
}

/// The answer to a refused request, counted and logged.
fn refused(
    worker: &Worker,
    refusal: Refusal,
    cacheable_method: bool,
    request_id: &HeaderValue,
    started: Instant,
) -> Response<ProxyBody> {
    let Refusal {
        error,
        function,
        cache,
    } = refusal;
    let name = function.map(|i| &*worker.shared.functions[i].name);
    tracing::debug!(
        function = name,
        code = error.code(),
        request_id = ?request_id,
        "request refused",
    );
    worker
        .metrics
        .record(function, error.status(), started.elapsed());
    let mut response = error.to_response(name, Some(request_id));
    // Every answer of a cache-enabled function says what the cache did; an error the
    // cache never saw forwarded nothing.
    if function.is_some_and(|i| worker.shared.functions[i].cache.is_some()) {
        let label = cache.unwrap_or_else(|| {
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

/// Why a request was refused, with what the error response needs to know of it.
struct Refusal {
    error: ProxyError,
    /// The function the request was routed to, if it got that far.
    function: Option<usize>,
    /// How the cache labels the error, once it has seen the request.
    cache: Option<ErrorLabel>,
}

impl Refusal {
    /// A request routed to `function` and refused before the cache could label it.
    fn routed(error: ProxyError, function: usize) -> Self {
        Refusal {
            error,
            function: Some(function),
            cache: None,
        }
    }
}

/// A request refused before it was routed.
impl From<ProxyError> for Refusal {
    fn from(error: ProxyError) -> Self {
        Refusal {
            error,
            function: None,
            cache: None,
        }
    }
}

type Forwarded = (Response<ProxyBody>, Option<Tunnel>);

/// Routes and forwards the request.
///
/// This and `dispatch` return `async move` blocks rather than being `async fn`s: an
/// `async fn` keeps a copy of each argument beside the local it moves it into, and for the
/// request head (~260 bytes) that dead copy would be held by every queued request.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps a second copy of the request"
)]
fn forward(
    worker: Rc<Worker>,
    conn: Arc<ConnState>,
    mut request: Request<ClientBody>,
    request_id: HeaderValue,
    started: Instant,
) -> impl Future<Output = Result<Forwarded, Refusal>> {
    async move {
        let shared = &worker.shared;
        if shared.shutdown.has_expired() {
            return Err(ProxyError::ShuttingDown.into());
        }
        if request.method() == Method::CONNECT {
            return Err(ProxyError::BadRequest("CONNECT cannot be proxied to a function").into());
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
            return Err(ProxyError::BadRequest("the request has more than one Host header").into());
        }
        let host_in_uri = request.uri().authority().is_some();
        let host_value = match request.uri().authority() {
            Some(authority) => HeaderValue::from_str(authority.as_str()).ok(),
            None => request.headers().get(header::HOST).cloned(),
        };
        let Some(host_value) = host_value else {
            return Err(ProxyError::BadRequest("the request has no Host header").into());
        };
        let host = host_value.to_str().map(host_without_port).ok();
        let path = request.uri().path();
        let Some(route) = shared.router.lookup(host, path) else {
            return Err(ProxyError::NoRoute.into());
        };
        let routed = |error| Refusal::routed(error, route.function);

        // Refuse a body declared too large before taking an instance slot for it.
        let limit = shared.limits.max_body_bytes;
        let declared = http1::content_length(request.headers_mut()).map_err(|_| {
            routed(ProxyError::BadRequest(
                "the Content-Length header is not one decimal number",
            ))
        })?;
        if declared.is_some_and(|len| len > limit) {
            return Err(routed(ProxyError::BodyTooLarge { limit }));
        }

        // A target that cannot be forwarded is refused now, before the cache or the queue.
        let head = Rewrite {
            conn: &conn,
            new_uri: upstream_uri(request.uri(), route.strip).map_err(routed)?,
            host_value,
            host_in_uri,
            declared,
            limit,
        };

        // Answer from the response cache when it can, before any instance slot is taken: a
        // hit never queues, never starts an instance, and is not an execution.
        let mut cached = None;
        if let Some(cache) = &shared.functions[route.function].cache {
            let scheme = conn.forwarded.proto.to_str().unwrap_or("http");
            let host = head.host_value.to_str().unwrap_or("");
            // Boxed: only cache-enabled functions pay for the lookup's state.
            let lookup = Box::pin(cache.lookup(&request, scheme, host, &request_id)).await;
            match lookup.map_err(routed)? {
                Lookup::Answer(response) => {
                    let elapsed = started.elapsed();
                    worker
                        .metrics
                        .record(Some(route.function), response.status(), elapsed);
                    return Ok((response, None));
                }
                Lookup::Refresh(response, pending) => {
                    // Served stale at once; one background request refreshes the stored copy.
                    // It is a GET even for a HEAD client, since only a GET's answer can be
                    // stored, and it carries the cache's validators rather than the client's.
                    // A request asking to switch protocols bypasses the cache: never here.
                    let upgrade = false;
                    let mut request = head.apply(request, upgrade).map(|_| RequestBody::empty());
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

        // The request is lent, not moved: moved, this future would keep its own dead copy
        // of the head beside dispatch's, in every queued request.
        dispatch(
            &worker,
            route,
            &mut request,
            head,
            cached,
            &request_id,
            started,
        )
        .await
    }
}
