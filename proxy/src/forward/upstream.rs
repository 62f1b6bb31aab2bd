//! tidegate's HTTP/1.1 client for instances: one request at a time per connection.
//!
//! Why not hyper's client: each exchange through it crosses to the connection's own task
//! and back through channels, and costs about a third of the proxy's instructions per
//! request (measured with callgrind; see docs/performance.md). Here the request is written
//! and the response head read by the task serving the client; the response body is read
//! by whoever polls it, and the connection goes back to the worker's pool when it ends.
//! Protocol switches (WebSocket) still use hyper's client: they are rare and long-lived.
//!
//! This file owns the connection and the exchange; `response_head` parses what the
//! instance answers and decides how its body is framed.

mod response_head;

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header;
use http::request::Parts;
use http::{Method, Response};
use http_body::Body;
use tidegate_scaler::InstanceId;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::body::{BoxError, RequestBody};
use crate::http1::{BodyError, Framing, Reader, chunk_size_line, write_all};
use response_head::poll_response_head;

/// A keep-alive connection to one instance.
#[derive(Debug)]
pub struct UpstreamConn {
    instance: InstanceId,
    reader: Reader,
    write: Rc<OwnedWriteHalf>,
}

/// Why an exchange with an instance failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The connection failed or closed before a response head arrived. `retryable` says
    /// the request may be sent again on another connection: it had no body, its method
    /// is idempotent, and no response byte came back.
    #[error("instance connection failed: {error}")]
    Io {
        /// The cause.
        error: io::Error,
        /// Whether a retry on a fresh connection is safe.
        retryable: bool,
    },
    /// The instance's response head was not valid HTTP/1.1.
    #[error("malformed response from the instance: {0}")]
    Malformed(&'static str),
    /// The client's request body failed while being forwarded.
    #[error("request body: {0}")]
    Body(BoxError),
}

impl UpstreamConn {
    /// Opens a connection to `addr`.
    pub async fn connect(instance: InstanceId, addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        // Requests and responses are small and latency matters more than packet count.
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        Ok(UpstreamConn {
            instance,
            reader: Reader::new(read),
            write: Rc::new(write),
        })
    }

    /// The instance this connection leads to.
    pub fn instance(&self) -> InstanceId {
        self.instance
    }

    /// Whether the instance closed (or wrote to) this idle connection. Checks the readiness
    /// tokio already recorded, without a system call; an idle connection should have
    /// nothing to read.
    pub fn is_stale(&self) -> bool {
        if !self.reader.buf.is_empty() {
            return true;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        self.reader
            .half
            .as_ref()
            .poll_read_ready(&mut cx)
            .is_ready()
    }

    /// Sends a request and reads the response head. The response's body reads from this
    /// connection, which it carries, and gives back when it ends cleanly.
    pub async fn exchange(
        mut self,
        parts: &Parts,
        body: RequestBody,
    ) -> Result<Response<UpstreamBody>, ExchangeError> {
        let has_body = !body.is_end_stream();
        let chunked = has_body && !parts.headers.contains_key(header::CONTENT_LENGTH);
        let mut head = Vec::with_capacity(512);
        encode_request_head(&mut head, parts, chunked);

        // A failed exchange may be sent again only if the instance cannot have acted on
        // it: no body went out (so none needs replaying) and the method is idempotent, as
        // a proxy must not retry anything else (RFC 9110 §9.2.2). Even with nothing read
        // back, an instance may have run a POST and died before answering.
        let replayable = !has_body && parts.method.is_idempotent();
        let unsent = |error: io::Error| ExchangeError::Io {
            error,
            retryable: replayable,
        };
        write_all(&self.write, &mut [IoSlice::new(&head)])
            .await
            .map_err(unsent)?;

        // The body is written while the response head is awaited: an instance may answer
        // (or start streaming its answer) before it has read the whole request.
        let mut writer = has_body.then(|| Box::pin(write_body(self.write.clone(), body, chunked)));
        let mut body_cut = false;
        let head = std::future::poll_fn(|cx| {
            if let Some(pending) = writer.as_mut() {
                match pending.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => writer = None,
                    // The instance stopped taking the body, usually because it has answered
                    // already (a 413, a 401) and closed. That answer, if it came, is what
                    // the client should get, so reading goes on; if none came, the read
                    // fails too and says so.
                    Poll::Ready(Err(ExchangeError::Io { error, .. })) => {
                        tracing::debug!(%error, "instance stopped reading the request body");
                        writer = None;
                        body_cut = true;
                    }
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => {}
                }
            }
            poll_response_head(
                &mut self.reader,
                cx,
                parts.method == Method::HEAD,
                replayable,
            )
        })
        .await?;

        let mut reusable = head.reusable && !body_cut;
        let sending = writer.map(|rest| {
            // The instance answered before reading the whole body. The rest is sent while
            // the answer is read (an instance may stream its answer as it reads), and not
            // a byte longer: the client's connection must be free to skip the rest itself
            // or close, and an instance that stopped reading must not hold this task and
            // both sockets open. A connection that may still carry request bytes is
            // never reused.
            reusable = false;
            SendingBody(tokio::task::spawn_local(async move {
                if let Err(error) = rest.await {
                    tracing::debug!(%error, "request body after an early response");
                }
            }))
        });
        Ok(head.response.map(|()| UpstreamBody {
            conn: Some(self),
            framing: head.framing,
            reusable,
            _sending: sending,
        }))
    }
}

/// The rest of a request body still being sent after the instance answered; stopped when
/// the answer's body is done with.
#[derive(Debug)]
struct SendingBody(tokio::task::JoinHandle<()>);

impl Drop for SendingBody {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An instance's response body, read from its connection as it is polled.
#[derive(Debug)]
pub struct UpstreamBody {
    conn: Option<UpstreamConn>,
    framing: Framing,
    reusable: bool,
    // Dropped with the body, which stops sending the request's rest.
    _sending: Option<SendingBody>,
}

impl UpstreamBody {
    /// The connection, once the body has been read whole and the connection may carry
    /// another request.
    pub fn take_reusable(&mut self) -> Option<UpstreamConn> {
        if self.reusable && self.framing.is_complete() {
            self.conn.take()
        } else {
            None
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        let Some(conn) = this.conn.as_mut() else {
            return Poll::Ready(None);
        };
        conn.reader
            .poll_body(&mut this.framing, cx)
            .map(|data| data.map(|d| d.map(http_body::Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.framing.is_complete()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self.framing.remaining() {
            Some(n) => http_body::SizeHint::with_exact(n),
            None => http_body::SizeHint::default(),
        }
    }
}

fn encode_request_head(out: &mut Vec<u8>, parts: &Parts, chunked: bool) {
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .as_bytes(),
    );
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

async fn write_body(
    write: Rc<OwnedWriteHalf>,
    mut body: RequestBody,
    chunked: bool,
) -> Result<(), ExchangeError> {
    use http_body_util::BodyExt;
    let io_error = |error| ExchangeError::Io {
        error,
        retryable: false,
    };
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(ExchangeError::Body)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        if chunked {
            let line = chunk_size_line(data.len());
            write_all(
                &write,
                &mut [
                    IoSlice::new(line.as_bytes()),
                    IoSlice::new(&data),
                    IoSlice::new(b"\r\n"),
                ],
            )
            .await
            .map_err(io_error)?;
        } else {
            write_all(&write, &mut [IoSlice::new(&data)])
                .await
                .map_err(io_error)?;
        }
    }
    if chunked {
        write_all(&write, &mut [IoSlice::new(b"0\r\n\r\n")])
            .await
            .map_err(io_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn request_heads_are_origin_form_with_framing() {
        let (mut parts, ()) = http::Request::post("http://a.test/p?q=1")
            .body(())
            .unwrap()
            .into_parts();
        parts
            .headers
            .insert(header::HOST, HeaderValue::from_static("a.test"));
        let mut out = Vec::new();
        encode_request_head(&mut out, &parts, true);
        assert_eq!(
            out,
            b"POST /p?q=1 HTTP/1.1\r\nhost: a.test\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }
}
