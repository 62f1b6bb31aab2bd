//! A request body read straight from the client connection: `Content-Length` or chunked.
//!
//! The body shares the connection's read side with the connection task through an `Rc`:
//! while a request is being forwarded the task does not read, so the body is the only
//! reader, and bytes it does not need (a pipelined next request) stay in the shared buffer.

use std::cell::RefCell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::HangUp;
use crate::http1::{BodyError, Framing, Reader};

/// The read side of a client connection, and the framing of the current request's body.
pub(super) struct ReadSide {
    pub(super) reader: Reader,
    pub(super) framing: Framing,
}

/// A client's request body, decoded as it is read.
pub struct H1Body {
    read: Rc<RefCell<ReadSide>>,
}

impl H1Body {
    /// The body of the request whose framing `read` holds.
    pub(super) fn new(read: Rc<RefCell<ReadSide>>) -> Self {
        H1Body { read }
    }

    /// A watch for the client hanging up, reading nothing (see [`HangUp`]).
    pub fn hangup(&self) -> Option<HangUp> {
        HangUp::watch(&self.read.borrow().reader.half)
    }
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let mut read = self.read.borrow_mut();
        let ReadSide { reader, framing } = &mut *read;
        reader
            .poll_body(framing, cx)
            .map(|data| data.map(|d| d.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.read.borrow().framing.is_complete()
    }

    fn size_hint(&self) -> SizeHint {
        match self.read.borrow().framing.remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
