//! A request body read straight from the client connection: `Content-Length` or chunked.
//!
//! The body shares the connection's read side with the connection task through an `Rc`:
//! while a request is being forwarded the task does not read, so the body is the only
//! reader, and bytes it does not need (a pipelined next request) stay in the shared buffer.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use tokio::net::tcp::OwnedReadHalf;

/// The read side of a client connection: the socket and what was read but not consumed.
pub(super) struct ReadSide {
    pub(super) half: OwnedReadHalf,
    pub(super) buf: BytesMut,
    /// The framing of the current request's body, and how far it has been read.
    pub(super) framing: Framing,
}

/// Longest chunk-size line accepted, extensions included.
const MAX_CHUNK_LINE: usize = 4096;
/// Largest read for body data.
const BODY_READ: usize = 64 * 1024;

impl Framing {
    /// Whether the whole body has been read.
    pub(super) fn is_complete(&self) -> bool {
        matches!(
            self,
            Framing::Empty | Framing::Length(0) | Framing::Chunked(Chunked::Done)
        )
    }
}

impl ReadSide {
    /// Reads more bytes into `buf`; `Ok(0)` is end of stream.
    pub(super) fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        want: usize,
    ) -> Poll<io::Result<usize>> {
        self.buf.reserve(want.clamp(1024, BODY_READ));
        tokio_util::io::poll_read_buf(Pin::new(&mut self.half), cx, &mut self.buf)
    }
}

/// How the body's end is known.
#[derive(Debug, Clone, Copy)]
pub(super) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes remain.
    Length(u64),
    /// Chunked transfer coding, in this state.
    Chunked(Chunked),
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Chunked {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk with this many data bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty line.
    Trailers,
    /// Done.
    Done,
}

/// A client's request body, decoded as it is read.
pub struct H1Body {
    read: Rc<RefCell<ReadSide>>,
}

/// The body was malformed or the client went away mid-body.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection closed before the body ended.
    #[error("the client closed the connection before the body ended")]
    Incomplete,
    /// A chunk-size line or chunk framing was malformed.
    #[error("malformed chunked body")]
    Malformed,
    /// Reading failed.
    #[error("reading the request body: {0}")]
    Io(#[from] io::Error),
}

impl H1Body {
    /// The body of the request whose framing `read` holds.
    pub(super) fn new(read: Rc<RefCell<ReadSide>>) -> Self {
        H1Body { read }
    }

    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, BodyError>>> {
        let mut guard = self.read.borrow_mut();
        let read = &mut *guard;
        loop {
            // `Framing` is copied out and written back so `read` can be borrowed to fill.
            let (data, next) = match read.framing {
                Framing::Empty | Framing::Length(0) | Framing::Chunked(Chunked::Done) => {
                    return Poll::Ready(None);
                }
                Framing::Length(remaining) => {
                    if read.buf.is_empty() && ready!(read.poll_fill(cx, clamp(remaining)))? == 0 {
                        return Poll::Ready(Some(Err(BodyError::Incomplete)));
                    }
                    let take = read.buf.len().min(clamp(remaining));
                    (
                        Some(read.buf.split_to(take).freeze()),
                        Framing::Length(remaining - take as u64),
                    )
                }
                Framing::Chunked(Chunked::Size) => match parse_chunk_size(&read.buf)? {
                    Some((size, line_len)) => {
                        read.buf.advance(line_len);
                        let next = if size == 0 {
                            Chunked::Trailers
                        } else {
                            Chunked::Data(size)
                        };
                        (None, Framing::Chunked(next))
                    }
                    None => {
                        if read.buf.len() > MAX_CHUNK_LINE {
                            return Poll::Ready(Some(Err(BodyError::Malformed)));
                        }
                        if ready!(read.poll_fill(cx, 64))? == 0 {
                            return Poll::Ready(Some(Err(BodyError::Incomplete)));
                        }
                        continue;
                    }
                },
                Framing::Chunked(Chunked::Data(remaining)) => {
                    if read.buf.is_empty() && ready!(read.poll_fill(cx, clamp(remaining)))? == 0 {
                        return Poll::Ready(Some(Err(BodyError::Incomplete)));
                    }
                    let take = read.buf.len().min(clamp(remaining));
                    let left = remaining - take as u64;
                    let next = if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    };
                    (
                        Some(read.buf.split_to(take).freeze()),
                        Framing::Chunked(next),
                    )
                }
                Framing::Chunked(Chunked::DataEnd) => {
                    if read.buf.len() < 2 {
                        if ready!(read.poll_fill(cx, 2))? == 0 {
                            return Poll::Ready(Some(Err(BodyError::Incomplete)));
                        }
                        continue;
                    }
                    if &read.buf[..2] != b"\r\n" {
                        return Poll::Ready(Some(Err(BodyError::Malformed)));
                    }
                    read.buf.advance(2);
                    (None, Framing::Chunked(Chunked::Size))
                }
                Framing::Chunked(Chunked::Trailers) => {
                    match read.buf.windows(2).position(|w| w == b"\r\n") {
                        // Trailer fields are dropped: instances receive the body only.
                        Some(0) => {
                            read.buf.advance(2);
                            (None, Framing::Chunked(Chunked::Done))
                        }
                        Some(end) => {
                            read.buf.advance(end + 2);
                            continue;
                        }
                        None => {
                            if read.buf.len() > MAX_CHUNK_LINE {
                                return Poll::Ready(Some(Err(BodyError::Malformed)));
                            }
                            if ready!(read.poll_fill(cx, 64))? == 0 {
                                return Poll::Ready(Some(Err(BodyError::Incomplete)));
                            }
                            continue;
                        }
                    }
                }
            };
            read.framing = next;
            if let Some(data) = data {
                return Poll::Ready(Some(Ok(data)));
            }
        }
    }
}

fn clamp(remaining: u64) -> usize {
    usize::try_from(remaining).unwrap_or(usize::MAX)
}

/// Parses `SIZE[;ext]\r\n`; `None` when the line is not complete yet.
fn parse_chunk_size(buf: &[u8]) -> Result<Option<(u64, usize)>, BodyError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let line = &buf[..end];
    let digits = line
        .iter()
        .position(|b| *b == b';')
        .map_or(line, |semi| &line[..semi]);
    let digits = digits.trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(BodyError::Malformed);
    }
    let mut size = 0u64;
    for digit in digits {
        let value = (*digit as char).to_digit(16).ok_or(BodyError::Malformed)?;
        size = size * 16 + u64::from(value);
    }
    Ok(Some((size, end + 2)))
}

impl Body for H1Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.poll_data(cx)
            .map(|data| data.map(|d| d.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.read.borrow().framing.is_complete()
    }

    fn size_hint(&self) -> SizeHint {
        match self.read.borrow().framing {
            Framing::Empty => SizeHint::with_exact(0),
            Framing::Length(n) => SizeHint::with_exact(n),
            Framing::Chunked(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_parse_with_extensions() {
        assert_eq!(parse_chunk_size(b"1a\r\nxx").unwrap(), Some((26, 4)));
        assert_eq!(parse_chunk_size(b"0;name=v\r\n").unwrap(), Some((0, 10)));
        assert_eq!(parse_chunk_size(b"10").unwrap(), None);
        assert!(parse_chunk_size(b"zz\r\n").is_err());
        assert!(parse_chunk_size(b"\r\n").is_err());
        assert!(
            parse_chunk_size(b"ffffffffffffffff\r\n").is_err(),
            "sizes past 2^60 are refused"
        );
    }
}
