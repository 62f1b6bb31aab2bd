//! The bodies the proxy streams: requests on their way to an instance, and responses on
//! their way back to the client.
//!
//! Neither body buffers: each frame is passed on as it arrives. What they add is
//! bookkeeping at the right moment: the request body enforces `max_body_bytes` as bytes
//! flow, and the response body runs its [`Completion`] when the last byte has been handed
//! to the client, which is when the instance's slot is freed and its connection can serve
//! the next request.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::cache::Capture;
use crate::forward::Completion;
use crate::forward::upstream::UpstreamBody;
use crate::server::ActiveRequest;

/// The error type of bodies the proxy sends.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

// === impl ProxyBody ===

/// A response body: either made by the proxy (errors, admin) or streamed from an instance.
pub struct ProxyBody {
    kind: Kind,
    // Keeps the client connection counted as busy until the response is sent, so the idle
    // timer never closes a connection with a response still streaming.
    _active: Option<ActiveRequest>,
}

enum Kind {
    Full(Option<Bytes>),
    Upstream {
        inner: UpstreamBody,
        completion: Option<Completion>,
        // A copy for the response cache, stored when the body ends.
        capture: Option<Box<Capture>>,
    },
}

impl ProxyBody {
    /// A body of fixed bytes.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ProxyBody {
            kind: Kind::Full(Some(bytes.into())),
            _active: None,
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        ProxyBody {
            kind: Kind::Full(None),
            _active: None,
        }
    }

    /// An instance's response body; `completion` runs once it has been fully sent, or is
    /// dropped unfinished.
    pub fn upstream(inner: UpstreamBody, completion: Completion) -> Self {
        Self::upstream_captured(inner, completion, None)
    }

    /// [`ProxyBody::upstream`], with a copy of the body going to the response cache.
    pub fn upstream_captured(
        inner: UpstreamBody,
        completion: Completion,
        capture: Option<Capture>,
    ) -> Self {
        let mut body = ProxyBody {
            kind: Kind::Upstream {
                inner,
                completion: Some(completion),
                capture: capture.map(Box::new),
            },
            _active: None,
        };
        // A body that is empty from the start (204, HEAD) may never be polled.
        body.complete_if_ended();
        body
    }

    /// Ties the body to a client connection's count of active requests.
    pub fn with_active(mut self, active: ActiveRequest) -> Self {
        self._active = Some(active);
        self
    }

    fn complete_if_ended(&mut self) {
        if let Kind::Upstream {
            inner,
            completion,
            capture,
        } = &mut self.kind
            && inner.is_end_stream()
            && let Some(completion) = completion.take()
        {
            if let Some(capture) = capture.take() {
                capture.complete();
            }
            completion.finish(inner.take_reusable());
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        // Dropped before its end: the client went away, or the instance's body failed.
        // The connection to the instance has unread bytes; do not reuse it.
        if let Kind::Upstream { completion, .. } = &mut self.kind
            && let Some(completion) = completion.take()
        {
            completion.finish(None);
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match &mut this.kind {
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Upstream { inner, capture, .. } => {
                let polled = Pin::new(inner).poll_frame(cx).map_err(BoxError::from);
                match &polled {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let (Some(data), Some(copy)) = (frame.data_ref(), capture.as_mut())
                            && !copy.push(data)
                        {
                            *capture = None;
                        }
                        this.complete_if_ended()
                    }
                    Poll::Ready(None) => this.complete_if_ended(),
                    // A failed body is not stored.
                    Poll::Ready(Some(Err(_))) => *capture = None,
                    Poll::Pending => {}
                }
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Upstream { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Upstream { inner, .. } => inner.size_hint(),
        }
    }
}

// === impl ClientBody ===

/// A request body as the client sends it: through hyper (HTTP/2, TLS) or through
/// tidegate's own HTTP/1.1 server.
pub enum ClientBody {
    /// From hyper's server.
    Hyper(Incoming),
    /// From [`crate::server::h1`].
    H1(crate::server::h1::H1Body),
    /// No body (a request about to be retried has given its body up).
    Empty,
}

/// A request body that can tell when its client hangs up: what a queued request watches.
pub trait WatchHangup {
    /// A watch for the client hanging up while the request waits, for bodies read by
    /// tidegate's own HTTP/1.1 server. hyper's connections need none for HTTP/2: a reset
    /// or closed stream drops the request's future, and with it its place in the queue.
    fn hangup(&self) -> Option<crate::server::h1::HangUp>;
}

impl WatchHangup for ClientBody {
    fn hangup(&self) -> Option<crate::server::h1::HangUp> {
        match self {
            ClientBody::H1(body) => body.hangup(),
            ClientBody::Hyper(_) | ClientBody::Empty => None,
        }
    }
}

impl Body for ClientBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ClientBody::Hyper(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            ClientBody::H1(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            ClientBody::Empty => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ClientBody::Hyper(body) => body.is_end_stream(),
            ClientBody::H1(body) => body.is_end_stream(),
            ClientBody::Empty => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ClientBody::Hyper(body) => body.size_hint(),
            ClientBody::H1(body) => body.size_hint(),
            ClientBody::Empty => SizeHint::with_exact(0),
        }
    }
}

// === impl RequestBody ===

/// The request body was larger than `max_body_bytes`; found while streaming it.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds {limit} bytes")]
pub struct BodyLimitExceeded {
    /// The configured limit.
    pub limit: u64,
}

/// A client's request body on its way to an instance, cut off at `max_body_bytes`.
pub struct RequestBody {
    inner: ClientBody,
    // `None` when the declared length is already known to fit: no counting needed.
    limit: Option<Limit>,
}

struct Limit {
    max: u64,
    remaining: u64,
}

impl WatchHangup for RequestBody {
    fn hangup(&self) -> Option<crate::server::h1::HangUp> {
        self.inner.hangup()
    }
}

impl RequestBody {
    /// A body with nothing in it.
    pub fn empty() -> Self {
        RequestBody {
            inner: ClientBody::Empty,
            limit: None,
        }
    }

    /// A body whose length is unknown or untrusted, counted against `max` bytes.
    pub fn limited(inner: ClientBody, max: u64) -> Self {
        RequestBody {
            inner,
            limit: Some(Limit {
                max,
                remaining: max,
            }),
        }
    }

    /// A body whose declared `Content-Length` was checked against the limit already;
    /// hyper enforces that the body matches its declared length.
    pub fn checked(inner: ClientBody) -> Self {
        RequestBody { inner, limit: None }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        if let (Some(limit), Some(data)) = (&mut this.limit, frame.data_ref()) {
            let len = data.len() as u64;
            if len > limit.remaining {
                return Poll::Ready(Some(Err(Box::new(BodyLimitExceeded { limit: limit.max }))));
            }
            limit.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
