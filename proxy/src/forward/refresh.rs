//! The background refresh of `stale-while-revalidate` (RFC 5861 §3): the client was
//! answered from the stale copy; one request, with the copy's validators, renews it.

use std::rc::Rc;

use http::{HeaderValue, Request};
use http_body_util::BodyExt;
use tokio::time::Instant;

use super::dispatch::acquire;
use super::send::{Completion, send};
use crate::body::{ProxyBody, RequestBody};
use crate::cache::{Pending, Reply};
use crate::headers;
use crate::route::RouteMatch;
use crate::server::Worker;

/// Sends `request` (already rewritten for the instance) and stores the answer.
pub(super) async fn run(
    worker: Rc<Worker>,
    route: RouteMatch,
    mut request: Request<RequestBody>,
    mut pending: Box<Pending>,
    request_id: HeaderValue,
) {
    pending.prepare(request.headers_mut());
    let started = Instant::now();
    let function = route.function;
    let name = &worker.shared.functions[function].name;
    let mut lease = match acquire(&worker, &route, &request, &request_id).await {
        Ok((lease, _)) => lease,
        Err(error) => {
            tracing::debug!(
                function = %name,
                code = error.code(),
                "background refresh found no instance",
            );
            return;
        }
    };
    let deadline = Instant::now() + worker.shared.limits.request_timeout;
    let mut response = match send(&worker, &mut lease, request, deadline).await {
        Ok(response) => response,
        Err(error) => {
            tracing::debug!(function = %name, code = error.code(), "background refresh failed");
            return;
        }
    };
    headers::remove_hop_by_hop(response.headers_mut(), false);
    let status = response.status();
    let reply = pending.on_response(status, response.headers_mut(), &request_id);
    let completion = Completion {
        worker: worker.clone(),
        lease,
        function,
        status,
        started,
    };
    match reply {
        Reply::Cached(_) => drop(ProxyBody::upstream(response.into_body(), completion)),
        Reply::Stream(capture) => {
            // Reading the body to its end stores it.
            let body = ProxyBody::upstream_captured(response.into_body(), completion, capture);
            let _ = body.collect().await;
        }
    }
}
