//! tidegate's HTTP/1.1 client for instances: one request at a time per connection.
//!
//! Why not hyper's client: each exchange through it crosses to the connection's own task
//! and back through channels, and costs about a third of the proxy's instructions per
//! request (measured with callgrind; see docs/performance.md). Here the request is written
//! and the response head read by the task serving the client; the response body is read
//! by whoever polls it, and the connection goes back to the worker's pool when it ends.
//! Protocol switches (WebSocket) still use hyper's client: they are rare and long-lived.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Method, Response, StatusCode, Version};
use http_body::Body;
use tidegate_scaler::InstanceId;
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::body::{BoxError, RequestBody};
use crate::http1::{BodyError, Chunked, Framing, Reader, chunk_size_line};

/// Most headers accepted in a response head.
const MAX_HEADERS: usize = 100;
/// Largest response head accepted, in bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;

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
    /// The connection failed or closed before a response head arrived. `unsent` says
    /// nothing of the request can have been processed (no response byte came back and the
    /// request had no body), so it may be sent again on another connection.
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

        let unsent = |error: io::Error| ExchangeError::Io {
            error,
            retryable: !has_body,
        };
        write_all(&self.write, &mut [IoSlice::new(&head)])
            .await
            .map_err(unsent)?;

        // The body is written while the response head is awaited: an instance may answer
        // (or start streaming its answer) before it has read the whole request.
        let mut writer = has_body.then(|| Box::pin(write_body(self.write.clone(), body, chunked)));
        let (response, framing) = std::future::poll_fn(|cx| {
            if let Some(pending) = writer.as_mut() {
                match pending.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => writer = None,
                    Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                    Poll::Pending => {}
                }
            }
            poll_response_head(&mut self.reader, cx, parts.method == Method::HEAD, has_body)
        })
        .await?;

        let mut reusable = keeps_alive(&response) && framing != Framing::Close;
        if let Some(rest) = writer {
            // The instance answered before reading the whole body; finish sending it, but
            // never reuse a connection that may still carry request bytes.
            reusable = false;
            tokio::task::spawn_local(async move {
                if let Err(error) = rest.await {
                    tracing::debug!(%error, "request body after an early response");
                }
            });
        }
        Ok(response.map(|()| UpstreamBody {
            conn: Some(self),
            framing,
            reusable,
        }))
    }
}

/// An instance's response body, read from its connection as it is polled.
#[derive(Debug)]
pub struct UpstreamBody {
    conn: Option<UpstreamConn>,
    framing: Framing,
    reusable: bool,
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

/// Reads and parses the response head, skipping interim (1xx) responses other than 101.
fn poll_response_head(
    reader: &mut Reader,
    cx: &mut Context<'_>,
    head_request: bool,
    sent_body: bool,
) -> Poll<Result<(Response<()>, Framing), ExchangeError>> {
    let mut received_any = !reader.buf.is_empty();
    loop {
        if !reader.buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&reader.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let code = parsed.code.unwrap_or(0);
                    if (100..200).contains(&code) && code != 101 {
                        reader.take(len);
                        continue;
                    }
                    let ranges = header_ranges(&reader.buf, parsed.headers);
                    let http10 = parsed.version == Some(0);
                    let head = reader.take(len);
                    return Poll::Ready(build_response(head, code, http10, &ranges, head_request));
                }
                Ok(httparse::Status::Partial) if reader.buf.len() < MAX_HEAD_BYTES => {}
                Ok(httparse::Status::Partial) => {
                    return Poll::Ready(Err(ExchangeError::Malformed("response head too large")));
                }
                Err(_) => {
                    return Poll::Ready(Err(ExchangeError::Malformed("invalid response head")));
                }
            }
        }
        let read = ready!(reader.poll_fill(cx, 8192));
        let retryable = !received_any && !sent_body;
        match read {
            Ok(0) => {
                let error =
                    io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a response");
                return Poll::Ready(Err(ExchangeError::Io { error, retryable }));
            }
            Ok(_) => received_any = true,
            Err(error) => return Poll::Ready(Err(ExchangeError::Io { error, retryable })),
        }
    }
}

type Ranges = Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>;

fn header_ranges(buf: &[u8], headers: &[httparse::Header<'_>]) -> Ranges {
    let base = buf.as_ptr() as usize;
    let range = |part: &[u8]| {
        let start = part.as_ptr() as usize - base;
        start..start + part.len()
    };
    headers
        .iter()
        .map(|h| (range(h.name.as_bytes()), range(h.value)))
        .collect()
}

fn build_response(
    head: Bytes,
    code: u16,
    http10: bool,
    ranges: &Ranges,
    head_request: bool,
) -> Result<(Response<()>, Framing), ExchangeError> {
    let status =
        StatusCode::from_u16(code).map_err(|_| ExchangeError::Malformed("invalid status code"))?;
    // Room for what the proxy adds to responses (request id, caching headers).
    let mut headers = HeaderMap::with_capacity(ranges.len() + 4);
    for (name, value) in ranges {
        let name = HeaderName::from_bytes(&head[name.clone()])
            .map_err(|_| ExchangeError::Malformed("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(value.clone()))
            .map_err(|_| ExchangeError::Malformed("invalid header value"))?;
        headers.append(name, value);
    }

    // RFC 9112 §6.3, for responses.
    let framing = if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        Framing::Empty
    } else if let Some(coding) = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .next_back()
    {
        let chunked = coding
            .to_str()
            .ok()
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        if chunked {
            Framing::Chunked(Chunked::Size)
        } else {
            Framing::Close
        }
    } else if let Some(length) = headers.get(header::CONTENT_LENGTH) {
        let length: u64 = length
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .ok_or(ExchangeError::Malformed("invalid Content-Length"))?;
        if length == 0 {
            Framing::Empty
        } else {
            Framing::Length(length)
        }
    } else {
        Framing::Close
    };

    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = if http10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    *response.headers_mut() = headers;
    Ok((response, framing))
}

fn keeps_alive(response: &Response<()>) -> bool {
    let has = |token: &str| {
        response
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            })
    };
    match response.version() {
        Version::HTTP_10 => has("keep-alive"),
        _ => !has("close"),
    }
}

/// Writes every byte of `bufs`, waiting for the socket when it is full.
pub async fn write_all(write: &OwnedWriteHalf, bufs: &mut [IoSlice<'_>]) -> io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, head_request: bool) -> (Response<()>, Framing) {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(len) = parsed.parse(text.as_bytes()).expect("valid") else {
            panic!("complete")
        };
        let ranges = header_ranges(text.as_bytes(), parsed.headers);
        build_response(
            Bytes::copy_from_slice(&text.as_bytes()[..len]),
            parsed.code.unwrap(),
            parsed.version == Some(0),
            &ranges,
            head_request,
        )
        .expect("a valid response")
    }

    #[test]
    fn response_framing_follows_rfc_9112() {
        let cases: &[(&str, bool, Framing)] = &[
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                false,
                Framing::Length(5),
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
                true,
                Framing::Empty,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                Framing::Chunked(Chunked::Size),
            ),
            ("HTTP/1.1 204 No Content\r\n\r\n", false, Framing::Empty),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
                false,
                Framing::Empty,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", false, Framing::Close),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                false,
                Framing::Empty,
            ),
        ];
        for (text, head, want) in cases {
            assert_eq!(parse(text, *head).1, *want, "{text:?} head={head}");
        }
    }

    #[test]
    fn keep_alive_by_version_and_connection() {
        assert!(keeps_alive(&parse("HTTP/1.1 200 OK\r\n\r\n", false).0));
        assert!(!keeps_alive(
            &parse("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false).0
        ));
        assert!(!keeps_alive(&parse("HTTP/1.0 200 OK\r\n\r\n", false).0));
        assert!(keeps_alive(
            &parse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", false).0
        ));
    }

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
