//! Reading HTTP/1.1 bodies from a connection's buffered read side.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::net::tcp::OwnedReadHalf;

/// Longest chunk-size or trailer line accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// Largest single read for body data.
const BODY_READ: usize = 64 * 1024;
/// Body pieces up to this size are copied out of the read buffer rather than split off
/// it, so the buffer's allocation stays unshared and is reused by the next read.
const COPY_BELOW: usize = 4096;

/// A connection's read half and the bytes read from it but not yet consumed.
#[derive(Debug)]
pub struct Reader {
    /// The socket.
    pub half: OwnedReadHalf,
    /// Read ahead: the start of a body, or of the next message.
    pub buf: BytesMut,
}

/// How a body's end is known, and how far it has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body, or the body has been read.
    Empty,
    /// This many bytes of a `Content-Length` body remain.
    Length(u64),
    /// Chunked transfer coding, in this state.
    Chunked(Chunked),
    /// Until the peer closes the connection (responses without a length).
    Close,
}

/// Where a chunked body's decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunked {
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

impl Framing {
    /// Whether the whole body has been read.
    pub fn is_complete(&self) -> bool {
        matches!(
            self,
            Framing::Empty | Framing::Length(0) | Framing::Chunked(Chunked::Done)
        )
    }

    /// The number of bytes still to come, when known.
    pub fn remaining(&self) -> Option<u64> {
        match self {
            Framing::Empty | Framing::Chunked(Chunked::Done) => Some(0),
            Framing::Length(n) => Some(*n),
            Framing::Chunked(_) | Framing::Close => None,
        }
    }
}

/// A body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection closed before the body ended.
    #[error("the connection closed before the body ended")]
    Incomplete,
    /// The chunked framing was malformed.
    #[error("malformed chunked body")]
    Malformed,
    /// Reading failed.
    #[error("reading a body: {0}")]
    Io(#[from] io::Error),
}

impl Reader {
    /// A reader with nothing buffered.
    pub fn new(half: OwnedReadHalf) -> Self {
        Reader {
            half,
            buf: BytesMut::new(),
        }
    }

    /// Reads more bytes into `buf`; `Ok(0)` is end of stream.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        self.buf.reserve(want.clamp(1024, BODY_READ));
        tokio_util::io::poll_read_buf(Pin::new(&mut self.half), cx, &mut self.buf)
    }

    /// Removes the first `n` buffered bytes.
    pub fn take(&mut self, n: usize) -> Bytes {
        if n <= COPY_BELOW {
            let bytes = Bytes::copy_from_slice(&self.buf[..n]);
            self.buf.advance(n);
            bytes
        } else {
            self.buf.split_to(n).freeze()
        }
    }

    /// The next piece of a body framed by `framing`, which it advances; `None` at the end.
    pub fn poll_body(
        &mut self,
        framing: &mut Framing,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, BodyError>>> {
        loop {
            // `Framing` is copied, matched and written back so `self` can be borrowed to fill.
            let (data, next) = match *framing {
                Framing::Empty | Framing::Length(0) | Framing::Chunked(Chunked::Done) => {
                    return Poll::Ready(None);
                }
                Framing::Close => {
                    if self.buf.is_empty() && ready!(self.poll_fill(cx, BODY_READ))? == 0 {
                        *framing = Framing::Empty;
                        return Poll::Ready(None);
                    }
                    let n = self.buf.len();
                    (Some(self.take(n)), Framing::Close)
                }
                Framing::Length(remaining) => {
                    if self.buf.is_empty() && ready!(self.poll_fill(cx, clamp(remaining)))? == 0 {
                        return Poll::Ready(Some(Err(BodyError::Incomplete)));
                    }
                    let n = self.buf.len().min(clamp(remaining));
                    (Some(self.take(n)), Framing::Length(remaining - n as u64))
                }
                Framing::Chunked(Chunked::Size) => match parse_chunk_size(&self.buf)? {
                    Some((size, line_len)) => {
                        self.buf.advance(line_len);
                        let next = if size == 0 {
                            Chunked::Trailers
                        } else {
                            Chunked::Data(size)
                        };
                        (None, Framing::Chunked(next))
                    }
                    None => {
                        ready!(self.poll_line(cx))?;
                        continue;
                    }
                },
                Framing::Chunked(Chunked::Data(remaining)) => {
                    if self.buf.is_empty() && ready!(self.poll_fill(cx, clamp(remaining)))? == 0 {
                        return Poll::Ready(Some(Err(BodyError::Incomplete)));
                    }
                    let n = self.buf.len().min(clamp(remaining));
                    let left = remaining - n as u64;
                    let next = if left == 0 {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left)
                    };
                    (Some(self.take(n)), Framing::Chunked(next))
                }
                Framing::Chunked(Chunked::DataEnd) => {
                    if self.buf.len() < 2 {
                        ready!(self.poll_line(cx))?;
                        continue;
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Poll::Ready(Some(Err(BodyError::Malformed)));
                    }
                    self.buf.advance(2);
                    (None, Framing::Chunked(Chunked::Size))
                }
                Framing::Chunked(Chunked::Trailers) => {
                    match self.buf.windows(2).position(|w| w == b"\r\n") {
                        // Trailer fields are dropped: neither side forwards them.
                        Some(0) => {
                            self.buf.advance(2);
                            (None, Framing::Chunked(Chunked::Done))
                        }
                        Some(end) => {
                            self.buf.advance(end + 2);
                            continue;
                        }
                        None => {
                            ready!(self.poll_line(cx))?;
                            continue;
                        }
                    }
                }
            };
            *framing = next;
            if let Some(data) = data {
                return Poll::Ready(Some(Ok(data)));
            }
        }
    }

    /// Reads more of a line; an over-long line or the end of stream is an error.
    fn poll_line(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BodyError>> {
        if self.buf.len() > MAX_CHUNK_LINE {
            return Poll::Ready(Err(BodyError::Malformed));
        }
        match ready!(self.poll_fill(cx, 64))? {
            0 => Poll::Ready(Err(BodyError::Incomplete)),
            _ => Poll::Ready(Ok(())),
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
