//! tidegate's own HTTP/1.1 server for plain-text client connections.
//!
//! Why not hyper's, which serves HTTP/2 and TLS here: an idle keep-alive connection in
//! hyper keeps an 8 KiB read buffer and an 8 KiB write buffer, 25 KB a connection in all,
//! and 10,000 idle connections must fit in 100 MB. This server holds no buffer while a
//! connection is idle: reads land in a per-worker scratch buffer, and only the bytes of an
//! unfinished head or of a body are kept per connection. It also writes a small response's
//! head and body with one system call.
//!
//! One request at a time per connection (pipelined requests wait in the read buffer).
//! The connection starts as HTTP/1.x; a client that opens with the HTTP/2 preface is
//! handed to hyper's HTTP/2 server with the bytes already read.
//!
//! This file runs the connection: read a head, forward the request, answer, repeat.
//! `head` parses request heads and `body` reads request bodies; `response_head` and
//! `respond` write the answer; `switch` leaves HTTP/1.1 (a protocol switch, HTTP/2).

mod body;
mod hangup;
mod head;
mod prefixed;
mod respond;
mod response_head;
mod switch;

pub use body::H1Body;
pub use hangup::HangUp;
pub use response_head::DateCache;

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;
use http::Request;
use http_body_util::BodyExt;
use tokio::io::AsyncRead;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::time::Instant;

use super::{ConnGuard, ConnState, Worker};
use crate::body::ClientBody;
use crate::error::ProxyError;
use crate::forward;
use crate::http1::{Framing, Reader, write_all};
use body::ReadSide;
use head::{Head, HeadError};

/// A request body left unread by the instance is read and dropped, up to this many bytes,
/// to keep the connection; past it the connection closes.
const DRAIN_LIMIT: u64 = 64 * 1024;

/// Serves one plain-text connection until it closes.
pub(in crate::server) async fn serve(
    worker: Rc<Worker>,
    stream: TcpStream,
    peer: SocketAddr,
    _guard: ConnGuard,
) {
    let state = Arc::new(ConnState::new(peer, false));
    let (read_half, write_half) = stream.into_split();
    let read = Rc::new(RefCell::new(ReadSide {
        reader: Reader::new(read_half),
        framing: Framing::Empty,
    }));
    let write = Rc::new(write_half);
    let mut connection = Connection {
        worker,
        state,
        read,
        write,
        requests: 0,
        timer: None,
    };
    match connection.run().await {
        Ok(()) | Err(End::Closed) => {
            if !connection.read.borrow().framing.is_complete() {
                Box::pin(connection.linger()).await;
            }
        }
        // Boxed, like each exchange below: an idle connection's task stays small because
        // the larger states are allocated only while in use.
        Err(End::Http2) => Box::pin(connection.hand_to_http2()).await,
        Err(End::Io(error)) => tracing::debug!(%peer, %error, "client connection ended"),
    }
}

/// Why a connection loop stopped early.
enum End {
    /// The client spoke HTTP/2: continue with hyper.
    Http2,
    /// The socket failed.
    Io(io::Error),
    /// Closed on purpose (timeout, shutdown, protocol error already answered).
    Closed,
}

impl From<io::Error> for End {
    fn from(error: io::Error) -> Self {
        End::Io(error)
    }
}

struct Connection {
    worker: Rc<Worker>,
    state: Arc<ConnState>,
    read: Rc<RefCell<ReadSide>>,
    write: Rc<OwnedWriteHalf>,
    requests: u64,
    // The idle and head timer, kept across requests (see `read_head`).
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl Connection {
    async fn run(&mut self) -> Result<(), End> {
        loop {
            let head = match self.read_head().await {
                Ok(head) => head,
                Err(HeadError::Http2Preface) => return Err(End::Http2),
                Err(HeadError::Closed) => return Ok(()),
                Err(HeadError::TooLarge) => {
                    return Box::pin(self.refuse(ProxyError::HeadTooLarge)).await;
                }
                Err(HeadError::Malformed(why)) => {
                    return Box::pin(self.refuse(ProxyError::BadRequest(why))).await;
                }
            };
            self.requests += 1;
            if !Box::pin(self.exchange(head)).await? {
                return Ok(());
            }
        }
    }

    /// One request and its response; returns whether the connection stays open.
    async fn exchange(&mut self, head: Head) -> Result<bool, End> {
        let Head {
            parts,
            framing,
            mut keep_alive,
            expect_continue,
            is_head,
        } = head;
        let http10 = parts.version == http::Version::HTTP_10;
        self.read.borrow_mut().framing = framing;

        // `Expect: 100-continue` is answered at once rather than when the instance reads
        // the body: simpler, and allowed (RFC 9110 §10.1.1). A body declared too large is
        // refused before the client sends it.
        let too_large =
            matches!(framing, Framing::Length(n) if n > self.worker.shared.limits.max_body_bytes);
        if expect_continue && !too_large {
            write_all(
                &self.write,
                &mut [IoSlice::new(b"HTTP/1.1 100 Continue\r\n\r\n")],
            )
            .await?;
        }

        let request = Request::from_parts(parts, ClientBody::H1(H1Body::new(self.read.clone())));
        let (response, tunnel) =
            forward::handle_direct(self.worker.clone(), self.state.clone(), request).await;

        if self.worker.closing.has_begun() {
            keep_alive = false;
        }
        if !self.read.borrow().framing.is_complete()
            && (!matches!(framing, Framing::Length(n) if n <= DRAIN_LIMIT)
                || (expect_continue && too_large))
        {
            // The unread rest of the body is too large (or of unknown size) to skip; or
            // the client, never told `100 Continue`, may never send it, and what follows
            // on the connection could be its body or its next request.
            keep_alive = false;
        }
        let wrote = self
            .write_response(response, is_head, http10, &mut keep_alive)
            .await?;

        if let Some(tunnel) = tunnel {
            self.tunnel(tunnel).await;
            return Ok(false);
        }
        if !wrote || !keep_alive {
            return Ok(false);
        }
        self.drain_body().await
    }

    /// Closes a connection whose client may still be sending a body nobody will read.
    /// Closing at once would make the kernel answer those bytes with a reset, which can
    /// destroy the response still in flight to the client (RFC 9112 §9.6): so the write
    /// side is shut first, and what the client still sends is read and dropped for a while.
    async fn linger(&self) {
        const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
        const LINGER_BYTES: usize = 1024 * 1024;
        let _ = socket2::SockRef::from(self.write.as_ref().as_ref())
            .shutdown(std::net::Shutdown::Write);
        let discard = async {
            let mut dropped = 0;
            while dropped < LINGER_BYTES {
                let read = std::future::poll_fn(|cx| {
                    self.read.borrow_mut().reader.poll_fill(cx, 64 * 1024)
                })
                .await;
                match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        dropped += n;
                        self.read.borrow_mut().reader.buf.clear();
                    }
                }
            }
        };
        let _ = tokio::time::timeout(LINGER, discard).await;
    }

    /// Reads the next request head; waits at most `idle_timeout` for a request to begin
    /// (`header_read_timeout` on a new connection) and `header_read_timeout` for the rest.
    async fn read_head(&mut self) -> Result<Head, HeadError> {
        let limits = &self.worker.shared.limits;
        let mut deadline = Instant::now()
            + if self.requests == 0 {
                limits.header_read_timeout
            } else {
                limits.idle_timeout
            };
        let mut started = false;
        // One timer per connection, reset for each wait: re-arming a registered timer to a
        // later deadline is much cheaper than registering a new one per request.
        let mut timer = self
            .timer
            .take()
            .unwrap_or_else(|| Box::pin(tokio::time::sleep_until(deadline)));
        let result = loop {
            // A pipelined or partly received head may already be buffered.
            {
                let mut read = self.read.borrow_mut();
                if !read.reader.buf.is_empty() {
                    match head::parse(&read.reader.buf) {
                        Ok(Some(offsets)) => {
                            let bytes = read.reader.buf.split_to(offsets.len).freeze();
                            break head::build(bytes, &offsets);
                        }
                        Ok(None) => {}
                        Err(error) => break Err(error),
                    }
                    if !started {
                        started = true;
                        deadline = Instant::now() + limits.header_read_timeout;
                    }
                }
            }
            if self.worker.closing.has_begun() && !started {
                break Err(HeadError::Closed);
            }

            timer.as_mut().reset(deadline);
            let filled = tokio::select! {
                biased;
                filled = self.fill() => filled,
                () = timer.as_mut() => {
                    tracing::debug!(started, "closing client connection: no request head in time");
                    break Err(HeadError::Closed);
                }
                () = self.worker.closing.notified(), if !started => break Err(HeadError::Closed),
            };
            match filled {
                Ok(0) | Err(_) => break Err(HeadError::Closed),
                Ok(_) => {}
            }
        };
        self.timer = Some(timer);
        result
    }

    /// Reads what has arrived. When nothing is buffered, the read lands in the worker's
    /// scratch space and only the bytes received are copied out, in an allocation of
    /// their size: an idle connection holds no buffer, and a busy one does not allocate
    /// (and free) a page-sized buffer per request.
    async fn fill(&self) -> io::Result<usize> {
        std::future::poll_fn(|cx| {
            let mut read = self.read.borrow_mut();
            if !read.reader.buf.is_empty() {
                return read.reader.poll_fill(cx, 4096);
            }
            let mut scratch = self.worker.scratch.borrow_mut();
            let mut into = tokio::io::ReadBuf::new(&mut scratch[..]);
            std::task::ready!(std::pin::Pin::new(&mut read.reader.half).poll_read(cx, &mut into))?;
            let n = into.filled().len();
            read.reader.buf = BytesMut::from(into.filled());
            std::task::Poll::Ready(Ok(n))
        })
        .await
    }

    /// Skips the unread rest of a small request body so the connection can be reused.
    /// The client gets `header_read_timeout` to send it, as for a head: one that declared
    /// a body and sends none would otherwise hold the connection for ever.
    async fn drain_body(&mut self) -> Result<bool, End> {
        if self.read.borrow().framing.is_complete() {
            return Ok(true);
        }
        let mut body = H1Body::new(self.read.clone());
        let drain = async {
            while !self.read.borrow().framing.is_complete() {
                match body.frame().await {
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return false,
                }
            }
            true
        };
        let limit = self.worker.shared.limits.header_read_timeout;
        Ok(tokio::time::timeout(limit, drain).await.unwrap_or(false))
    }

    /// Answers a request that could not be parsed, then closes.
    async fn refuse(&mut self, error: ProxyError) -> Result<(), End> {
        let mut keep_alive = false;
        self.write_response(error.to_response(None, None), false, false, &mut keep_alive)
            .await?;
        Err(End::Closed)
    }
}
