//! One client connection: optional TLS handshake, HTTP/1.1 or HTTP/2 serving, and the
//! timers that close it when the client is too slow or gone quiet.
//!
//! hyper's own header-read timer allocates a timer per request and conflates "slow head"
//! with "idle keep-alive", so tidegate keeps its own: one timer per connection that wakes
//! a few times per timeout period and looks at counters the connection updates as it
//! works. The request path pays one relaxed atomic add per read and two per request.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::{ConnGuard, Worker};
use crate::forward;
use crate::headers::ForwardedFor;

/// What a connection's requests share, and the counters its timers read.
#[derive(Debug)]
pub struct ConnState {
    /// Forwarding headers for this client.
    pub forwarded: ForwardedFor,
    // Requests being served now (response not yet fully sent).
    active: AtomicU32,
    // Requests started, ever: a change means the connection did work since last look.
    started: AtomicU64,
    // Reads that returned bytes, ever.
    reads: AtomicU64,
    // HTTP/2 connections carry pings and settings between requests; bytes without a
    // request there are not a slow head.
    http2: AtomicBool,
}

/// Marks a request active on its connection until dropped (the response fully sent).
#[derive(Debug)]
pub struct ActiveRequest(Arc<ConnState>);

impl ActiveRequest {
    /// Counts a new request on `conn`.
    pub fn new(conn: &Arc<ConnState>, http2: bool) -> Self {
        conn.active.fetch_add(1, Ordering::Relaxed);
        conn.started.fetch_add(1, Ordering::Relaxed);
        if http2 {
            conn.http2.store(true, Ordering::Relaxed);
        }
        ActiveRequest(conn.clone())
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ConnState {
    /// The state of a new connection from `peer`.
    pub fn new(peer: SocketAddr, tls: bool) -> Self {
        ConnState {
            forwarded: ForwardedFor::new(peer.ip(), tls),
            active: AtomicU32::new(0),
            started: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            http2: AtomicBool::new(false),
        }
    }
}

/// Serves one TLS connection (HTTP/1.1 or HTTP/2 by ALPN) until it closes, times out, or
/// shutdown ends it.
pub(super) async fn serve_tls(
    worker: Rc<Worker>,
    stream: TcpStream,
    peer: SocketAddr,
    _guard: ConnGuard,
) {
    let state = Arc::new(ConnState::new(peer, true));
    let io = Tracked {
        io: stream,
        state: state.clone(),
    };
    let acceptor = worker
        .tls
        .clone()
        .expect("TLS listeners exist only with a TLS acceptor");
    let handshake = tokio::time::timeout(
        worker.shared.limits.header_read_timeout,
        acceptor.accept(io),
    );
    match handshake.await {
        Ok(Ok(tls_stream)) => serve_http(worker, tls_stream, state).await,
        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Serves a connection with hyper: HTTP/2, and HTTP/1.1 over TLS.
pub(super) async fn serve_http<I>(worker: Rc<Worker>, io: I, state: Arc<ConnState>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let worker = worker.clone();
        let state = state.clone();
        service_fn(move |request| forward::handle(worker.clone(), state.clone(), request))
    };
    let connection = worker
        .http
        .serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(connection);

    let limits = &worker.shared.limits;
    let mut watchdog = Watchdog::new(limits.header_read_timeout, limits.idle_timeout);
    let timer = tokio::time::sleep(watchdog.period);
    tokio::pin!(timer);
    let mut begun = worker.shared.shutdown.subscribe();
    let mut shutting_down = false;

    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "client connection ended with an error");
                }
                return;
            }
            _ = timer.as_mut() => {
                if let Some(reason) = watchdog.check(&state) {
                    tracing::debug!(reason, "closing client connection");
                    return;
                }
                timer.as_mut().reset(Instant::now() + watchdog.period);
            }
            _ = begun.wait_for(|begun| *begun), if !shutting_down => {
                // Finish what is in progress, take nothing new (h1: no keep-alive; h2: GOAWAY).
                shutting_down = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Decides, from a connection's counters sampled every `period`, when it has been silent
/// too long. Each timeout is honoured to within a quarter of its length.
struct Watchdog {
    period: Duration,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    last_started: u64,
    last_reads: u64,
    // A request head is (or may be) on its way: true on a new connection and whenever
    // bytes arrive with no request in progress.
    awaiting_head: bool,
    head_waited: Duration,
    idle: Duration,
}

impl Watchdog {
    fn new(header_read_timeout: Duration, idle_timeout: Duration) -> Self {
        let period = (header_read_timeout.min(idle_timeout) / 4).max(Duration::from_millis(10));
        Watchdog {
            period,
            header_read_timeout,
            idle_timeout,
            last_started: 0,
            last_reads: 0,
            awaiting_head: true,
            head_waited: Duration::ZERO,
            idle: Duration::ZERO,
        }
    }

    /// Called every `period`; returns why the connection should close, if it should.
    fn check(&mut self, state: &ConnState) -> Option<&'static str> {
        let started = state.started.load(Ordering::Relaxed);
        let reads = state.reads.load(Ordering::Relaxed);
        let busy = state.active.load(Ordering::Relaxed) > 0;
        let new_request = started != self.last_started;
        let new_bytes = reads != self.last_reads;
        self.last_started = started;
        self.last_reads = reads;

        if busy || new_request {
            // Timeouts on a request in progress belong to the request path.
            self.awaiting_head = false;
            self.head_waited = Duration::ZERO;
            self.idle = Duration::ZERO;
            return None;
        }
        if state.http2.load(Ordering::Relaxed) {
            self.awaiting_head = false;
            if new_bytes {
                self.idle = Duration::ZERO;
                return None;
            }
        } else if new_bytes {
            self.awaiting_head = true;
        }
        if self.awaiting_head {
            self.head_waited += self.period;
            return (self.head_waited >= self.header_read_timeout)
                .then_some("request head not received in time");
        }
        self.idle += self.period;
        (self.idle >= self.idle_timeout).then_some("idle")
    }
}

/// A client stream that counts its reads for the [`Watchdog`].
struct Tracked<IO> {
    io: IO,
    state: Arc<ConnState>,
}

impl<IO: AsyncRead + Unpin> AsyncRead for Tracked<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.state.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Tracked<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ConnState {
        ConnState::new(SocketAddr::from(([127, 0, 0, 1], 1)), false)
    }

    /// Ticks until the watchdog says close; returns how many ticks that took.
    fn ticks_until_close(
        watchdog: &mut Watchdog,
        state: &ConnState,
        each_tick: impl Fn(&ConnState),
    ) -> usize {
        (1..1000)
            .find(|_| {
                each_tick(state);
                watchdog.check(state).is_some()
            })
            .expect("the watchdog closes within 1000 ticks")
    }

    #[test]
    fn a_silent_new_connection_gets_the_header_timeout() {
        let mut w = Watchdog::new(Duration::from_secs(1), Duration::from_secs(8));
        assert_eq!(ticks_until_close(&mut w, &state(), |_| {}), 4);
    }

    #[test]
    fn a_trickling_head_is_cut_at_the_header_timeout() {
        let mut w = Watchdog::new(Duration::from_secs(1), Duration::from_secs(8));
        let ticks = ticks_until_close(&mut w, &state(), |s| {
            s.reads.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(
            ticks, 4,
            "bytes without a request do not reset the header timer"
        );
    }

    #[test]
    fn an_idle_keep_alive_connection_gets_the_idle_timeout() {
        let mut w = Watchdog::new(Duration::from_secs(1), Duration::from_secs(2));
        let s = state();
        s.started.store(1, Ordering::Relaxed);
        assert!(w.check(&s).is_none(), "a request just happened");
        assert_eq!(ticks_until_close(&mut w, &s, |_| {}), 8);
    }

    #[test]
    fn a_busy_connection_is_never_closed() {
        let mut w = Watchdog::new(Duration::from_secs(1), Duration::from_secs(1));
        let s = state();
        s.active.store(1, Ordering::Relaxed);
        assert!((0..100).all(|_| w.check(&s).is_none()));
    }
}
