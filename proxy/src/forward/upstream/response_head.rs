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
use crate::http1::{self, Chunked, Framing, InvalidLength, Reader};

/// Most headers accepted in a response head.
const MAX_HEADERS: usize = 100;
/// Largest response head accepted, in bytes.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// An instance's response head, parsed.
#[derive(Debug)]
pub(super) struct ResponseHead {
    /// Status, version and headers; the body comes later.
    pub(super) response: Response<()>,
    /// How the body ends.
    pub(super) framing: Framing,
    /// Whether the connection may carry another exchange once the body has been read.
    pub(super) reusable: bool,
}

/// Reads and parses the response head, skipping interim (1xx) responses. A failure before
/// any byte came back is retryable when the request is `replayable`.
pub(super) fn poll_response_head(
    reader: &mut Reader,
    cx: &mut Context<'_>,
    head_request: bool,
    replayable: bool,
) -> Poll<Result<ResponseHead, ExchangeError>> {
    let mut received_any = !reader.buf.is_empty();
    loop {
        if !reader.buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            match parsed.parse(&reader.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let code = parsed.code.unwrap_or(0);
                    if (100..200).contains(&code) && code != 101 {
                        // Interim: the final answer follows. A 101 is final, and refused.
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
        let retryable = replayable && !received_any;
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
) -> Result<ResponseHead, ExchangeError> {
    let status =
        StatusCode::from_u16(code).map_err(|_| ExchangeError::Malformed("invalid status code"))?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        // Requests on this path never carry `Upgrade` (switches go through `upgrade.rs`),
        // so the instance has left HTTP on a connection tidegate would otherwise pool.
        return Err(ExchangeError::Malformed(
            "101 Switching Protocols to a request that asked for no switch",
        ));
    }
    // Room for what the proxy adds to responses (request id, caching headers).
    let mut headers = HeaderMap::with_capacity(ranges.len() + 4);
    for (name, value) in ranges {
        let name = HeaderName::from_bytes(&head[name.clone()])
            .map_err(|_| ExchangeError::Malformed("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(head.slice(value.clone()))
            .map_err(|_| ExchangeError::Malformed("invalid header value"))?;
        headers.append(name, value);
    }

    // RFC 9112 §6.3, for responses. A head whose framing is faulty but readable is
    // relayed, and its connection closed afterwards rather than trusted again.
    let mut faulty = false;
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
        // Transfer-Encoding overrides Content-Length, and an intermediary must drop the
        // length before passing the message on: left in, it would frame the re-encoded
        // body for the client, and whatever follows would be read as the next response.
        // HTTP/1.0 has no Transfer-Encoding at all (§6.1).
        if headers.remove(header::CONTENT_LENGTH).is_some() || http10 {
            faulty = true;
        }
        if chunked {
            Framing::Chunked(Chunked::Size)
        } else {
            Framing::Close
        }
    } else {
        // Strict, and folded to one line: the client reads the length tidegate framed by.
        match http1::content_length(&mut headers) {
            Ok(None) => Framing::Close,
            Ok(Some(0)) => Framing::Empty,
            Ok(Some(length)) => Framing::Length(length),
            Err(InvalidLength::Malformed) => {
                return Err(ExchangeError::Malformed("invalid Content-Length"));
            }
            Err(InvalidLength::Conflicting) => {
                return Err(ExchangeError::Malformed(
                    "conflicting Content-Length values",
                ));
            }
        }
    };

    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = if http10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    *response.headers_mut() = headers;
    let reusable = !faulty && framing != Framing::Close && keeps_alive(&response);
    Ok(ResponseHead {
        response,
        framing,
        reusable,
    })
}

fn keeps_alive(response: &Response<()>) -> bool {
    let has = |token: &str| {
        response
            .headers()
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| {
                // Most instances send exactly `keep-alive` or `close`; compare those whole.
                let bytes = v.as_bytes();
                if bytes.eq_ignore_ascii_case(b"keep-alive") || bytes.eq_ignore_ascii_case(b"close")
                {
                    return bytes.eq_ignore_ascii_case(token.as_bytes());
                }
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

    fn try_parse(text: &str, head_request: bool) -> Result<ResponseHead, ExchangeError> {
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
    }

    fn parse(text: &str, head_request: bool) -> ResponseHead {
        try_parse(text, head_request).expect("a valid response")
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
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                false,
                Framing::Length(5),
            ),
        ];
        for (text, head, want) in cases {
            assert_eq!(parse(text, *head).framing, *want, "{text:?} head={head}");
        }
    }

    #[test]
    fn keep_alive_by_version_and_connection() {
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false).reusable);
        assert!(!parse("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false).reusable);
        assert!(!parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false).reusable);
        assert!(
            parse(
                "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                false
            )
            .reusable
        );
        assert!(
            !parse("HTTP/1.1 200 OK\r\n\r\n", false).reusable,
            "a close-delimited body ends the connection"
        );
    }

    #[test]
    fn chunked_wins_over_a_length_which_is_dropped() {
        let head = parse(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n",
            false,
        );
        assert_eq!(head.framing, Framing::Chunked(Chunked::Size));
        assert!(!head.response.headers().contains_key(header::CONTENT_LENGTH));
        assert!(
            !head.reusable,
            "a connection with faulty framing is not reused"
        );
    }

    #[test]
    fn ambiguous_lengths_and_unasked_switches_are_refused() {
        for text in [
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
        ] {
            assert!(
                matches!(try_parse(text, false), Err(ExchangeError::Malformed(_))),
                "{text:?} is refused"
            );
        }
    }
}
