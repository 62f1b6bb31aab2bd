//! Taking an instance slot, waiting in the queue if need be, and asking the instance.

use std::rc::Rc;
use std::time::Duration;

use http::Request;
use http::header::HeaderValue;
use tidegate_scaler::Lease;
use tokio::time::Instant;

use super::rewrite::{Rewrite, asks_protocol_switch};
use super::send::{Completion, send};
use super::upgrade::forward_upgrade;
use super::{Forwarded, Refusal, SERVER_TIMING};
use crate::body::{ClientBody, ProxyBody, WatchHangup};
use crate::cache::{Pending, Reply};
use crate::error::ProxyError;
use crate::headers::{self, X_REQUEST_ID};
use crate::route::RouteMatch;
use crate::server::Worker;

/// Takes a slot on the least-loaded instance, waiting in the queue if all are busy, then
/// rewrites the request with `head` and sends it to the instance (or switches protocols
/// when the client asked to). `request` is taken out of its place once a slot is granted.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn keeps a second copy of its arguments (the rewrite is 168 bytes)"
)]
pub(super) fn dispatch<'a>(
    worker: &'a Rc<Worker>,
    route: &'a RouteMatch,
    request: &'a mut Request<ClientBody>,
    head: Rewrite<'a>,
    mut cached: Option<Box<Pending>>,
    request_id: &'a HeaderValue,
    started: Instant,
) -> impl Future<Output = Result<Forwarded, Refusal>> + 'a {
    async move {
        let shared = &worker.shared;
        let upgrade = asks_protocol_switch(request);
        let failed = |forwarded| Failed {
            function: route.function,
            started,
            forwarded,
        };
        let (mut lease, waited) = match acquire(worker, route, request, request_id).await {
            Ok(acquired) => acquired,
            Err(error) => {
                return stale_or(worker, failed(false), cached, error, request_id);
            }
        };
        // Rewritten only now: a queued request keeps the head it came with, which is
        // smaller than the instance's (the forwarding fields would grow its header map).
        // The rewritten request goes straight into the boxed exchange below, never into a
        // local of this future, whose size every queued request pays.
        let outbound = |request: &mut Request<ClientBody>| {
            // Taken, not cloned: what is left behind is an empty request, never used.
            let request = std::mem::replace(request, Request::new(ClientBody::Empty));
            let mut outbound = head.apply(request, upgrade);
            if let Some(pending) = &mut cached {
                pending.prepare(outbound.headers_mut());
            }
            outbound
        };
        let deadline = Instant::now() + shared.limits.request_timeout;

        // The exchange and the upgrade are boxed: inline, their state (0.6 and 1.4 KB) would
        // be part of this future, held unused by every request waiting in the queue. One
        // allocation per request buys that back.
        if upgrade {
            let addr = lease.instance().addr();
            let switched = Box::pin(forward_upgrade(
                outbound(request),
                lease,
                addr,
                deadline,
                request_id,
            ))
            .await;
            let (mut response, tunnel) = match switched {
                Ok(switched) => switched,
                Err(error) => {
                    return stale_or(worker, failed(true), cached, error, request_id);
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

        let asked = Instant::now();
        let mut response =
            match Box::pin(send(worker, &mut lease, outbound(request), deadline)).await {
                Ok(response) => response,
                Err(error) => {
                    return stale_or(worker, failed(true), cached, error, request_id);
                }
            };
        headers::remove_hop_by_hop(response.headers_mut(), false);
        let reply =
            cached.map(|p| p.on_response(response.status(), response.headers_mut(), request_id));
        response
            .headers_mut()
            .insert(X_REQUEST_ID, request_id.clone());
        response
            .headers_mut()
            .append(SERVER_TIMING, server_timing(waited, asked.elapsed()));
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
/// else the refusal, with the cache's label for it.
fn stale_or(
    worker: &Worker,
    failed: Failed,
    pending: Option<Box<Pending>>,
    error: ProxyError,
    request_id: &HeaderValue,
) -> Result<Forwarded, Refusal> {
    let Some(pending) = pending else {
        return Err(Refusal::routed(error, failed.function));
    };
    match pending.on_error(error, failed.forwarded, request_id) {
        Ok(response) => {
            let elapsed = failed.started.elapsed();
            worker
                .metrics
                .record(Some(failed.function), response.status(), elapsed);
            Ok((response, None))
        }
        Err((error, label)) => Err(Refusal {
            error,
            function: Some(failed.function),
            cache: Some(label),
        }),
    }
}

/// How a request came by its instance slot, for the `Server-Timing` header.
#[derive(Debug, Clone, Copy)]
pub(super) struct Waited {
    /// Time spent waiting for a slot.
    wait: Duration,
    /// Whether the slot is on an instance that became ready during that wait: the wait
    /// was (at least partly) a cold start.
    cold: bool,
}

/// A slot on one of the function's instances, waiting in the function's queue when all
/// are busy or none is ready yet. Returns `None` for the wait when a slot was free at once.
pub(super) async fn acquire<B: WatchHangup>(
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
            tracing::debug!(
                function = %runtime.name,
                request_id = ?request_id,
                "client left the queue",
            );
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

/// `Server-Timing` for a forwarded request: `queue` when it waited for a slot, `cold` when
/// that wait ended on an instance that had just started, and `fn`, the time from handing
/// the request to the instance to its response head. Durations in milliseconds (the W3C
/// Server Timing draft defines the header, with `dur` in milliseconds).
fn server_timing(waited: Option<Waited>, function: Duration) -> HeaderValue {
    // Written by hand into a stack buffer: on every forwarded answer, `format!` cost more
    // than the rest of the header (~500 instructions a request).
    let mut value = [0u8; 96];
    let mut len = 0;
    let mut entry = |name: &[u8], duration: Duration| {
        if len > 0 {
            value[len..len + 2].copy_from_slice(b", ");
            len += 2;
        }
        value[len..len + name.len()].copy_from_slice(name);
        len += name.len();
        len += write_tenths_of_ms(&mut value[len..], duration);
    };
    if let Some(waited) = waited {
        entry(b"queue;dur=", waited.wait);
        if waited.cold {
            entry(b"cold;dur=", waited.wait);
        }
    }
    entry(b"fn;dur=", function);
    HeaderValue::from_bytes(&value[..len]).expect("digits and ASCII punctuation")
}

/// Writes `duration` as milliseconds with one decimal (`12.3`) at the start of `out`;
/// returns how many bytes it wrote (at most 22).
fn write_tenths_of_ms(out: &mut [u8], duration: Duration) -> usize {
    let tenths = u64::try_from(duration.as_micros() / 100).unwrap_or(u64::MAX);
    let mut buffer = [0; 20];
    let digits = headers::decimal(tenths / 10, &mut buffer);
    let whole = digits.len();
    out[..whole].copy_from_slice(digits);
    out[whole] = b'.';
    out[whole + 1] = b'0' + (tenths % 10) as u8;
    whole + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_timing_lists_queue_cold_and_fn_in_milliseconds() {
        let ms = Duration::from_micros;
        assert_eq!(server_timing(None, ms(12_345)), "fn;dur=12.3");
        assert_eq!(server_timing(None, ms(0)), "fn;dur=0.0");
        let waited = Waited {
            wait: ms(1_500_050),
            cold: true,
        };
        assert_eq!(
            server_timing(Some(waited), ms(99)),
            "queue;dur=1500.0, cold;dur=1500.0, fn;dur=0.0"
        );
        let waited = Waited {
            wait: ms(7_890),
            cold: false,
        };
        assert_eq!(
            server_timing(Some(waited), Duration::MAX),
            format!("queue;dur=7.8, fn;dur={}.{}", u64::MAX / 10, u64::MAX % 10)
        );
    }
}
