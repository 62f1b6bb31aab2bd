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

mod body;
mod head;
mod prefixed;

pub use body::H1Body;
pub use head::DateCache;

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use bytes::BytesMut;
use http::{Request, Response};
use http_body::Body as _;
use http_body_util::BodyExt;
use tokio::io::AsyncRead;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::time::Instant;

use super::{ConnGuard, ConnState, Worker};
use crate::body::{ClientBody, ProxyBody};
use crate::error::ProxyError;
use crate::forward::{self, Tunnel};
use crate::http1::{Framing, Reader, chunk_size_line};
use body::ReadSide;
use head::{BodyFraming, Head, HeadError};

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
        Ok(()) | Err(End::Closed) => {}
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

        let mut request =
            Request::from_parts(parts, ClientBody::H1(H1Body::new(self.read.clone())));
        request.extensions_mut().insert(forward::DirectUpgrade);
        let (response, tunnel) =
            forward::handle_direct(self.worker.clone(), self.state.clone(), request).await;

        if self.worker.closing.has_begun() {
            keep_alive = false;
        }
        if !self.read.borrow().framing.is_complete()
            && !matches!(framing, Framing::Length(n) if n <= DRAIN_LIMIT)
        {
            // The unread rest of the body is too large (or of unknown size) to skip.
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

    /// Writes a response; returns false when the body broke off (the connection is then
    /// unusable).
    async fn write_response(
        &mut self,
        response: Response<ProxyBody>,
        is_head: bool,
        http10: bool,
        keep_alive: &mut bool,
    ) -> Result<bool, End> {
        let (parts, mut body) = response.into_parts();

        // The first frame often arrives with the head (small responses); sending both
        // with one write saves a system call and a packet, and tells the body's length.
        let mut first = None;
        if !is_head && !body.is_end_stream() {
            first = poll_once(body.frame());
        }
        let exact = match &first {
            Some(Some(Ok(frame))) if body.is_end_stream() => {
                frame.data_ref().map(|d| d.len() as u64)
            }
            Some(None) => Some(0),
            Some(_) => None,
            None => body.size_hint().exact(),
        };

        let mut out = Vec::with_capacity(256);
        let exchange = head::Exchange {
            is_head,
            http10_client: http10,
            dates: &self.worker.dates,
        };
        let framing = head::write_response_head(
            &mut out,
            parts.status,
            &parts.headers,
            exact,
            &exchange,
            keep_alive,
        );

        let mut pending = first;
        let mut head = Some(out);
        loop {
            let frame = match pending.take() {
                Some(frame) => frame,
                None if framing == BodyFraming::None || body.is_end_stream() => None,
                None => body.frame().await,
            };
            let data = match frame {
                Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
                Some(Err(error)) => {
                    tracing::debug!(%error, "response body failed; closing the client connection");
                    if let Some(head) = head.take() {
                        write_all(&self.write, &mut [IoSlice::new(&head)]).await?;
                    }
                    return Ok(false);
                }
                None => {
                    let trailer: &[u8] = if framing == BodyFraming::Chunked {
                        b"0\r\n\r\n"
                    } else {
                        b""
                    };
                    let head = head.take().unwrap_or_default();
                    write_all(
                        &self.write,
                        &mut [IoSlice::new(&head), IoSlice::new(trailer)],
                    )
                    .await?;
                    return Ok(true);
                }
            };
            if data.is_empty() || framing == BodyFraming::None {
                continue;
            }
            let head = head.take().unwrap_or_default();
            if framing == BodyFraming::Chunked {
                let size = chunk_size_line(data.len());
                let last = body.is_end_stream();
                let end: &[u8] = if last { b"\r\n0\r\n\r\n" } else { b"\r\n" };
                write_all(
                    &self.write,
                    &mut [
                        IoSlice::new(&head),
                        IoSlice::new(size.as_bytes()),
                        IoSlice::new(&data),
                        IoSlice::new(end),
                    ],
                )
                .await?;
                if last {
                    return Ok(true);
                }
            } else {
                write_all(&self.write, &mut [IoSlice::new(&head), IoSlice::new(&data)]).await?;
            }
        }
    }

    /// Skips the unread rest of a small request body so the connection can be reused.
    async fn drain_body(&mut self) -> Result<bool, End> {
        let mut body = H1Body::new(self.read.clone());
        while !self.read.borrow().framing.is_complete() {
            match body.frame().await {
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Answers a request that could not be parsed, then closes.
    async fn refuse(&mut self, error: ProxyError) -> Result<(), End> {
        let mut keep_alive = false;
        self.write_response(error.to_response(None, None), false, false, &mut keep_alive)
            .await?;
        Err(End::Closed)
    }

    /// After `101 Switching Protocols`: bytes are copied both ways between the client and
    /// the instance's upgraded connection until either side closes.
    async fn tunnel(&self, mut tunnel: Tunnel) {
        let upstream = match tunnel.upgraded().await {
            Ok(upstream) => upstream,
            Err(error) => {
                tracing::debug!(%error, "the instance's protocol switch failed");
                return;
            }
        };
        let (mut from_upstream, mut to_upstream) =
            tokio::io::split(hyper_util::rt::TokioIo::new(upstream));
        let client_to_upstream = async {
            use tokio::io::AsyncWriteExt;
            loop {
                let chunk = {
                    let buffered = std::mem::take(&mut self.read.borrow_mut().reader.buf);
                    if buffered.is_empty() {
                        match self.fill().await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => std::mem::take(&mut self.read.borrow_mut().reader.buf),
                        }
                    } else {
                        buffered
                    }
                };
                if to_upstream.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let _ = to_upstream.shutdown().await;
        };
        let upstream_to_client = async {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match from_upstream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if write_all(&self.write, &mut [IoSlice::new(&buf[..n])])
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        };
        // Either direction ending ends the tunnel, as a WebSocket close does.
        tokio::select! {
            () = client_to_upstream => {}
            () = upstream_to_client => {}
        }
        drop(tunnel);
    }

    async fn hand_to_http2(self) {
        let Connection {
            worker,
            state,
            read,
            write,
            ..
        } = self;
        // No request was made on this connection, so nothing else holds the halves.
        let (Ok(read), Ok(write)) = (Rc::try_unwrap(read), Rc::try_unwrap(write)) else {
            tracing::warn!("cannot hand the connection to HTTP/2: its halves are shared");
            return;
        };
        let read = read.into_inner();
        let Ok(stream) = read.reader.half.reunite(write) else {
            return;
        };
        super::conn::serve_http(
            worker,
            prefixed::Prefixed::new(read.reader.buf.freeze(), stream),
            state,
        )
        .await;
    }
}

/// Polls a future once; `None` when it is not ready. The future is dropped either way;
/// whatever it registered for wake-up is registered again by the next real poll.
fn poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

/// Writes every byte of `bufs`, waiting for the socket when it is full.
async fn write_all(write: &OwnedWriteHalf, bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
    let mut remaining: usize = bufs.iter().map(|b| b.len()).sum();
    let mut bufs = &mut bufs[..];
    while remaining > 0 {
        match write.try_write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                remaining -= n;
                IoSlice::advance_slices(&mut bufs, n);
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => write.writable().await?,
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
