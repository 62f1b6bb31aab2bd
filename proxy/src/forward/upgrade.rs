//! Protocol switches (`Upgrade`, e.g. WebSocket): the one path that still goes through
//! hyper's client.
//!
//! A switch is rare and long-lived, so it gets a connection of its own, opened for it and
//! never pooled; after `101 Switching Protocols` that connection and the instance's slot
//! travel in a [`Tunnel`] that the client's connection joins to its own socket.

use std::net::SocketAddr;

use http::{HeaderValue, Request, Response, StatusCode};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tidegate_scaler::Lease;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::body::{BodyLimitExceeded, ProxyBody, RequestBody};
use crate::error::ProxyError;
use crate::headers::{self, X_REQUEST_ID};

/// Why no connection to an instance could be had.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    /// The TCP connect failed.
    #[error("connect: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP/1.1 handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] hyper::Error),
}

/// Asks the instance to switch protocols (WebSocket) on a dedicated connection. On `101`
/// the answer comes with a [`Tunnel`] that holds the instance's side and the lease.
pub(super) async fn forward_upgrade(
    request: Request<RequestBody>,
    lease: Lease,
    addr: SocketAddr,
    deadline: Instant,
    request_id: &HeaderValue,
) -> Result<(Response<ProxyBody>, Option<Tunnel>), ProxyError> {
    let exchange = async {
        let mut sender = connect_for_upgrade(addr)
            .await
            .map_err(|_| ProxyError::UpstreamUnavailable)?;
        sender.send_request(request).await.map_err(classify_hyper)
    };
    let mut response = match tokio::time::timeout_at(deadline, exchange).await {
        Ok(result) => result?,
        Err(_) => return Err(ProxyError::UpstreamTimeout),
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The instance declined the upgrade; its answer is an ordinary response. The
        // connection is not pooled (it was opened for upgrades), so nothing to return.
        // Its framing headers described the body as the instance sent it, not the bytes
        // collected here: they go, like every hop-by-hop header of an ordinary answer.
        let (mut parts, body) = response.into_parts();
        headers::remove_hop_by_hop(&mut parts.headers, false);
        parts.headers.insert(X_REQUEST_ID, request_id.clone());
        // Collected rather than streamed (this path is rare), so bounded: an answer larger
        // than this is refused rather than held in memory.
        const DECLINED_ANSWER_LIMIT: usize = 1024 * 1024;
        let limited = http_body_util::Limited::new(body, DECLINED_ANSWER_LIMIT);
        let body = match http_body_util::BodyExt::collect(limited).await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => {
                tracing::debug!(%error, "the instance's answer to a declined upgrade is unusable");
                return Err(ProxyError::UpstreamUnavailable);
            }
        };
        return Ok((Response::from_parts(parts, ProxyBody::full(body)), None));
    }
    response
        .headers_mut()
        .insert(X_REQUEST_ID, request_id.clone());
    let tunnel = Tunnel {
        upstream: hyper::upgrade::on(&mut response),
        _lease: lease,
    };
    let (parts, _) = response.into_parts();
    Ok((
        Response::from_parts(parts, ProxyBody::empty()),
        Some(tunnel),
    ))
}

/// The instance's side of a switched protocol, and the slot it occupies while open.
pub struct Tunnel {
    upstream: hyper::upgrade::OnUpgrade,
    _lease: Lease,
}

impl Tunnel {
    /// The instance's upgraded connection.
    pub async fn upgraded(&mut self) -> hyper::Result<hyper::upgrade::Upgraded> {
        (&mut self.upstream).await
    }

    /// Copies bytes both ways between `client` and the instance until either closes.
    pub async fn run<C>(mut self, mut client: C)
    where
        C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        match self.upgraded().await {
            Ok(upstream) => {
                let mut upstream = TokioIo::new(upstream);
                if let Err(error) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await
                {
                    tracing::debug!(%error, "upgraded connection ended");
                }
            }
            Err(error) => tracing::debug!(%error, "the instance's protocol switch failed"),
        }
    }
}

/// A hyper connection able to switch protocols (WebSocket), opened for one such request
/// and never pooled.
async fn connect_for_upgrade(
    addr: SocketAddr,
) -> Result<http1::SendRequest<RequestBody>, ConnectError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;
    tokio::task::spawn_local(async move {
        if let Err(error) = connection.with_upgrades().await {
            tracing::debug!(%error, "upgraded instance connection ended");
        }
    });
    Ok(sender)
}

/// Maps a failed hyper exchange (protocol switches only) to what the client is told.
fn classify_hyper(error: hyper::Error) -> ProxyError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = source {
        if let Some(exceeded) = cause.downcast_ref::<BodyLimitExceeded>() {
            return ProxyError::BodyTooLarge {
                limit: exceeded.limit,
            };
        }
        source = cause.source();
    }
    tracing::debug!(%error, "instance exchange failed");
    ProxyError::UpstreamUnavailable
}
