//! Sending a request to its instance, and what happens once the answer has been sent.

use std::rc::Rc;

use http::{Request, Response, StatusCode};
use tidegate_scaler::Lease;
use tokio::time::Instant;

use super::upstream::{ExchangeError, UpstreamBody, UpstreamConn};
use crate::body::{BodyLimitExceeded, RequestBody};
use crate::error::ProxyError;
use crate::server::Worker;

/// How many other instances a request may try when its instance refuses connections.
const MAX_REROUTES: u32 = 2;

/// Sends the request on a pooled connection, retrying once on a fresh connection when a
/// reused one turns out closed before anything of the request was processed, and on
/// another instance (moving `lease`) when the instance cannot be connected to at all.
pub(super) async fn send(
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
                    tracing::debug!(
                        instance = %instance.id(),
                        %error,
                        "cannot connect to instance",
                    );
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
    pub(super) worker: Rc<Worker>,
    /// The instance slot, freed when this is dropped.
    pub(super) lease: Lease,
    pub(super) function: usize,
    pub(super) status: StatusCode,
    /// When the request arrived.
    pub(super) started: Instant,
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
