//! Client connections to the target: hyper 1's low-level `http1` and `http2` connections,
//! opened before the run starts and reopened when they break.
//!
//! HTTP/1.1: each worker owns its connection, so one request at a time travels on it.
//! HTTP/2: several workers (streams) share one connection; each keeps a clone of its
//! sender and only goes back to the shared slot, behind a lock, when that clone is closed,
//! so the first worker to notice reconnects and the others pick up the new connection.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::task::AbortHandle;

use super::target::Protocol;

/// A request body: load requests carry none.
pub type RequestBody = Empty<Bytes>;

/// Why a request got no answer.
#[derive(Debug, Error)]
pub enum LinkError {
    /// The connection could not be opened.
    #[error("cannot connect to {address}")]
    Connect {
        /// Where.
        address: String,
        /// Why.
        source: io::Error,
    },
    /// The connection opened but the HTTP handshake or exchange failed.
    #[error("HTTP exchange failed")]
    Http(#[from] hyper::Error),
}

/// Ends a connection's background task when dropped with the connection's sender: a
/// request cut off by a timeout must not leave its socket open.
#[derive(Debug)]
struct ConnectionTask(AbortHandle);

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One worker's way to the target.
#[derive(Debug)]
pub struct Link(Kind);

#[derive(Debug)]
enum Kind {
    /// Its own HTTP/1.1 connection, once open.
    Http1 {
        address: Arc<str>,
        open: Option<(http1::SendRequest<RequestBody>, ConnectionTask)>,
    },
    /// A stream on a shared HTTP/2 connection, with this worker's clone of its sender.
    Http2 {
        shared: Arc<SharedHttp2>,
        sender: Option<http2::SendRequest<RequestBody>>,
    },
}

/// An HTTP/2 connection shared by several workers.
#[derive(Debug)]
pub struct SharedHttp2 {
    address: Arc<str>,
    /// Replaced only once closed, so dropping the old task cuts off no live stream.
    current: Mutex<Option<(http2::SendRequest<RequestBody>, ConnectionTask)>>,
}

impl SharedHttp2 {
    /// A shared slot, not connected yet.
    pub fn new(address: Arc<str>) -> Self {
        Self {
            address,
            current: Mutex::new(None),
        }
    }

    /// The open connection's sender, connecting when there is none or it has closed.
    pub async fn sender(&self) -> Result<http2::SendRequest<RequestBody>, LinkError> {
        let mut current = self.current.lock().await;
        if let Some((sender, _)) = current.as_ref()
            && !sender.is_closed()
        {
            return Ok(sender.clone());
        }
        let stream = connect(&self.address).await?;
        let (sender, connection) =
            http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        *current = Some((sender.clone(), ConnectionTask(task.abort_handle())));
        Ok(sender)
    }
}

impl Link {
    /// A link of the given protocol: its own connection for HTTP/1.1, `shared` for h2.
    pub fn new(protocol: Protocol, address: Arc<str>, shared: Option<Arc<SharedHttp2>>) -> Self {
        Self(match (protocol, shared) {
            (Protocol::Http2, Some(shared)) => Kind::Http2 {
                shared,
                sender: None,
            },
            (Protocol::Http2, None) => Kind::Http2 {
                shared: Arc::new(SharedHttp2::new(address)),
                sender: None,
            },
            (Protocol::Http1, _) => Kind::Http1 {
                address,
                open: None,
            },
        })
    }

    /// Opens the connection now, so the run does not pay for it in its first latencies.
    pub async fn warm(&mut self) -> Result<(), LinkError> {
        self.ready_sender().await.map(drop)
    }

    /// Sends a request and returns once the response head arrives.
    pub async fn send(
        &mut self,
        request: Request<RequestBody>,
    ) -> Result<Response<Incoming>, LinkError> {
        let result = match self.ready_sender().await? {
            Sender::Http1(sender) => sender.send_request(request).await,
            Sender::Http2(sender) => sender.send_request(request).await,
        };
        if result.is_err() {
            self.reset_if_broken();
        }
        Ok(result?)
    }

    /// Forgets the connection after a request on it failed or was abandoned midway.
    ///
    /// HTTP/1.1 cannot tell what state a half-finished exchange left the connection in,
    /// so it always reconnects. An h2 stream fails alone; the connection is dropped only
    /// once it has closed.
    pub fn reset_if_broken(&mut self) {
        match &mut self.0 {
            Kind::Http1 { open, .. } => *open = None,
            Kind::Http2 { sender, .. } => {
                if sender.as_ref().is_some_and(|s| s.is_closed()) {
                    *sender = None;
                }
            }
        }
    }

    /// A sender ready for one more request, reconnecting if needed.
    async fn ready_sender(&mut self) -> Result<Sender<'_>, LinkError> {
        match &mut self.0 {
            Kind::Http1 { address, open } => {
                // `ready` fails once the server closed the connection (after
                // `Connection: close`, or its idle timeout): reconnect then.
                if let Some((sender, _)) = open.as_mut()
                    && sender.ready().await.is_err()
                {
                    *open = None;
                }
                if open.is_none() {
                    let stream = connect(address).await?;
                    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
                    let task = tokio::spawn(async move {
                        let _ = connection.await;
                    });
                    *open = Some((sender, ConnectionTask(task.abort_handle())));
                }
                let (sender, _) = open.as_mut().expect("connected just above");
                Ok(Sender::Http1(sender))
            }
            Kind::Http2 { shared, sender } => {
                if sender.as_ref().is_none_or(|s| s.is_closed()) {
                    *sender = Some(shared.sender().await?);
                }
                let sender = sender.as_mut().expect("connected just above");
                // Waits while the connection has no stream to spare (the server's
                // SETTINGS_MAX_CONCURRENT_STREAMS); that wait counts in the latency.
                sender.ready().await?;
                Ok(Sender::Http2(sender))
            }
        }
    }
}

enum Sender<'a> {
    Http1(&'a mut http1::SendRequest<RequestBody>),
    Http2(&'a mut http2::SendRequest<RequestBody>),
}

async fn connect(address: &str) -> Result<TcpStream, LinkError> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|source| LinkError::Connect {
            address: address.to_owned(),
            source,
        })?;
    // Requests are written whole; Nagle would only hold back their last segment.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}
