//! Response bodies: a fixed buffer, a run of filler bytes, or the request body echoed.
//!
//! One concrete type rather than a boxed body, so the default answer allocates nothing:
//! the greeting is a static slice, and `size=N` streams slices of one static block however
//! large N is. The body also carries [`Hold`], what a request keeps alive until its last
//! byte is written, so in-flight counts and `mem` cover the whole response, echo included.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::stats::InFlight;

/// The filler `size=N` streams, in slices of up to this block.
static FILLER: [u8; 16 * 1024] = [b'x'; 16 * 1024];

/// What a request keeps alive until its response ends.
#[derive(Debug, Default)]
pub struct Hold {
    /// Counts the request as in flight.
    pub in_flight: Option<InFlight>,
    /// The `mem` knob's allocation.
    pub memory: Vec<u8>,
    /// Called once the response is done or abandoned: how `--crash-after` learns that the
    /// last allowed response has gone out.
    pub on_done: Option<fn()>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(done) = self.on_done.take() {
            done();
        }
    }
}

/// A response body of `tidegate-fn`.
#[derive(Debug)]
pub struct FnBody {
    content: Content,
    _hold: Hold,
}

#[derive(Debug)]
enum Content {
    /// One buffer, taken by the first poll.
    Once(Option<Bytes>),
    /// This many filler bytes still to send.
    Filler(u64),
    /// The request body, passed through frame by frame.
    Echo(Incoming),
}

impl FnBody {
    /// A body of one buffer, such as the greeting or a JSON document.
    pub fn once(bytes: impl Into<Bytes>, hold: Hold) -> Self {
        let bytes = bytes.into();
        let content = Content::Once((!bytes.is_empty()).then_some(bytes));
        Self {
            content,
            _hold: hold,
        }
    }

    /// A body of `len` filler bytes.
    pub fn filler(len: u64, hold: Hold) -> Self {
        Self {
            content: Content::Filler(len),
            _hold: hold,
        }
    }

    /// A body that streams the request body back as it arrives.
    pub fn echo(request_body: Incoming, hold: Hold) -> Self {
        Self {
            content: Content::Echo(request_body),
            _hold: hold,
        }
    }
}

impl Body for FnBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        // Every field is Unpin (Incoming included), so no pin projection is needed.
        match &mut self.get_mut().content {
            Content::Once(bytes) => Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes)))),
            Content::Filler(0) => Poll::Ready(None),
            Content::Filler(remaining) => {
                let len = (*remaining).min(FILLER.len() as u64);
                *remaining -= len;
                let chunk = Bytes::from_static(&FILLER[..len as usize]);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Content::Echo(incoming) => Pin::new(incoming).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.content {
            Content::Once(bytes) => bytes.is_none(),
            Content::Filler(remaining) => *remaining == 0,
            Content::Echo(incoming) => incoming.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        // An exact hint lets hyper send Content-Length instead of chunked encoding.
        match &self.content {
            Content::Once(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Content::Filler(remaining) => SizeHint::with_exact(*remaining),
            Content::Echo(incoming) => incoming.size_hint(),
        }
    }
}
