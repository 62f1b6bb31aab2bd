//! Request heads in: parsing, and the request body's framing (RFC 9112).
//!
//! Parsing uses `httparse` on the bytes received, then builds an `http::Request` whose
//! header values are slices of one shared copy of the head: one allocation for the head
//! however many headers it has.

use std::ops::Range;

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::request::Parts;
use http::{HeaderMap, Method, Request, Uri, Version};

use crate::http1::{self, Chunked, Framing, InvalidLength};

/// Most headers in one request head.
const MAX_HEADERS: usize = 100;
/// Largest request head, in bytes.
pub(super) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Why a request head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeadError {
    /// Not a well-formed HTTP/1.x request head.
    Malformed(&'static str),
    /// More than [`MAX_HEADERS`] headers or [`MAX_HEAD_BYTES`] bytes.
    TooLarge,
    /// The HTTP/2 connection preface: hand the connection to the HTTP/2 server.
    Http2Preface,
    /// No head will come: the client closed, went quiet too long, or tidegate is
    /// shutting down. The connection closes without an answer.
    Closed,
}

/// Where the parts of a parsed head lie within its bytes.
#[derive(Debug)]
pub(super) struct Offsets {
    /// Length of the head, final CRLF included.
    pub(super) len: usize,
    method: Range<usize>,
    target: Range<usize>,
    http10: bool,
    headers: Vec<(Range<usize>, Range<usize>)>,
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Parses the head at the start of `buf`; `Ok(None)` when more bytes are needed.
pub(super) fn parse(buf: &[u8]) -> Result<Option<Offsets>, HeadError> {
    let prefix = buf.len().min(H2_PREFACE.len());
    if buf[..prefix] == H2_PREFACE[..prefix] && prefix > 3 {
        return if prefix == H2_PREFACE.len() {
            Err(HeadError::Http2Preface)
        } else {
            Ok(None)
        };
    }

    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return if buf.len() >= MAX_HEAD_BYTES {
                Err(HeadError::TooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(httparse::Error::Version) => {
            return Err(HeadError::Malformed("unsupported HTTP version"));
        }
        Err(_) => return Err(HeadError::Malformed("malformed request head")),
    };
    if len > MAX_HEAD_BYTES {
        return Err(HeadError::TooLarge);
    }

    // Positions relative to `buf`, so they stay valid in a copy of the head.
    let base = buf.as_ptr() as usize;
    let range = |part: &[u8]| {
        let start = part.as_ptr() as usize - base;
        start..start + part.len()
    };
    let method = range(
        request
            .method
            .expect("complete heads have a method")
            .as_bytes(),
    );
    let target = range(
        request
            .path
            .expect("complete heads have a target")
            .as_bytes(),
    );
    let http10 = request.version == Some(0);
    let headers = request
        .headers
        .iter()
        .map(|h| (range(h.name.as_bytes()), range(h.value)))
        .collect();
    Ok(Some(Offsets {
        len,
        method,
        target,
        http10,
        headers,
    }))
}

/// A parsed request head and what the connection needs to know about it.
pub(super) struct Head {
    pub(super) parts: Parts,
    pub(super) framing: Framing,
    /// The client wants the connection kept open after this exchange.
    pub(super) keep_alive: bool,
    /// The client waits for `100 Continue` before sending the body.
    pub(super) expect_continue: bool,
    /// A `HEAD` request: the response has no body whatever its headers say.
    pub(super) is_head: bool,
}

/// Builds the request from a copy of its head bytes and their offsets.
pub(super) fn build(bytes: Bytes, offsets: &Offsets) -> Result<Head, HeadError> {
    let method = Method::from_bytes(&bytes[offsets.method.clone()])
        .map_err(|_| HeadError::Malformed("invalid method"))?;
    let uri = Uri::from_maybe_shared(bytes.slice(offsets.target.clone()))
        .map_err(|_| HeadError::Malformed("invalid request target"))?;

    // Room for the headers the proxy adds (forwarding, request id), so adding them does
    // not grow and rehash the map.
    let mut headers = HeaderMap::with_capacity(offsets.headers.len() + 6);
    for (name, value) in &offsets.headers {
        let name = HeaderName::from_bytes(&bytes[name.clone()])
            .map_err(|_| HeadError::Malformed("invalid header name"))?;
        let value = HeaderValue::from_maybe_shared(bytes.slice(value.clone()))
            .map_err(|_| HeadError::Malformed("invalid header value"))?;
        headers.append(name, value);
    }

    let framing = framing(&mut headers)?;
    let version = if offsets.http10 {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let keep_alive = match version {
        // RFC 9112 §6.1: `Transfer-Encoding` in an HTTP/1.0 message means its framing may
        // be read differently by whatever sits in front; answer it, then close.
        Version::HTTP_10 => {
            has_token(&headers, header::CONNECTION, "keep-alive")
                && !headers.contains_key(header::TRANSFER_ENCODING)
        }
        _ => !has_token(&headers, header::CONNECTION, "close"),
    };
    let expect_continue = version == Version::HTTP_11
        && headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if expect_continue {
        // Answered here (see the connection); the instance must not answer it again.
        headers.remove(header::EXPECT);
    }
    let is_head = method == Method::HEAD;

    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    let (parts, ()) = request.into_parts();
    Ok(Head {
        parts,
        framing,
        keep_alive,
        expect_continue,
        is_head,
    })
}

/// How the request body is delimited (RFC 9112 §6.3). Both `Transfer-Encoding` and
/// `Content-Length`, or disagreeing lengths, are refused: they are how requests are
/// smuggled past a proxy.
fn framing(headers: &mut HeaderMap) -> Result<Framing, HeadError> {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        if headers.contains_key(header::CONTENT_LENGTH) {
            return Err(HeadError::Malformed(
                "both Transfer-Encoding and Content-Length",
            ));
        }
        let last = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .next_back();
        let chunked_last = last
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        return if chunked_last {
            Ok(Framing::Chunked(Chunked::Size))
        } else {
            Err(HeadError::Malformed(
                "a request body without chunked framing",
            ))
        };
    }
    let length = http1::content_length(headers).map_err(|error| {
        HeadError::Malformed(match error {
            InvalidLength::Malformed => "invalid Content-Length",
            InvalidLength::Conflicting => "conflicting Content-Length values",
        })
    })?;
    Ok(match length {
        None | Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
    })
}

fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Head, HeadError> {
        let offsets = parse(text.as_bytes())?.expect("a complete head");
        build(
            Bytes::copy_from_slice(&text.as_bytes()[..offsets.len]),
            &offsets,
        )
    }

    #[test]
    fn a_simple_get_parses() {
        let h =
            head("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Two: 1\r\nX-Two: 2\r\n\r\n").expect("valid");
        assert_eq!(h.parts.method, Method::GET);
        assert_eq!(h.parts.uri, "/a?b=1");
        assert_eq!(h.parts.headers.get_all("x-two").iter().count(), 2);
        assert!(h.keep_alive);
        assert!(matches!(h.framing, Framing::Empty));
    }

    #[test]
    fn partial_heads_ask_for_more() {
        assert!(
            parse(b"GET / HTTP/1.1\r\nHost: x\r\n")
                .expect("no error")
                .is_none()
        );
        assert!(parse(b"PRI * HTTP/2").expect("a preface prefix").is_none());
        assert_eq!(parse(H2_PREFACE).unwrap_err(), HeadError::Http2Preface);
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let chunked =
            head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").expect("valid");
        assert!(matches!(chunked.framing, Framing::Chunked(Chunked::Size)));
        let length = head("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n")
            .expect("valid");
        assert!(matches!(length.framing, Framing::Length(5)));
        for smuggled in [
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            assert!(
                matches!(head(smuggled), Err(HeadError::Malformed(_))),
                "{smuggled:?} is refused"
            );
        }
    }

    #[test]
    fn keep_alive_defaults_by_version() {
        assert!(!head("GET / HTTP/1.0\r\n\r\n").expect("valid").keep_alive);
        assert!(
            head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                .expect("valid")
                .keep_alive
        );
        assert!(
            !head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                .expect("valid")
                .keep_alive
        );
        assert!(
            !head(
                "POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            .expect("valid")
            .keep_alive,
            "an HTTP/1.0 message with Transfer-Encoding closes its connection"
        );
    }

    #[test]
    fn repeated_lengths_reach_the_instance_as_one() {
        let h = head("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n")
            .expect("valid");
        assert!(matches!(h.framing, Framing::Length(5)));
        let lengths: Vec<_> = h.parts.headers.get_all("content-length").iter().collect();
        assert_eq!(lengths, ["5"]);
    }
}
