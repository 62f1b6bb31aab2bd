//! Reading an instance's response head: status, headers, and how its body is framed.
//!
//! The head is parsed with `httparse` where it lies in the connection's read buffer, then
//! split off as one `Bytes` whose slices become the header values: one allocation per
//! head however many headers it has. The body's framing follows RFC 9112 §6.3 for
//! responses, which differs from requests: a response may be delimited by the close of
//! the connection, and some statuses (and any answer to `HEAD`) have no body at all.

use std::io;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Response, StatusCode, Version};

use super::ExchangeError;
use crate::http1::{Chunked, Framing, Reader};

/// Most headers accepted in a response head.
const MAX_HEADERS: usize = 100;
/// Largest response head accepted, in bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Reads and parses the response head, skipping interim (1xx) responses other than 101.
pub(super) fn poll_response_head(
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

pub(super) fn keeps_alive(response: &Response<()>) -> bool {
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
}
