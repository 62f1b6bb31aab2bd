//! Response heads out: the status line, the headers, and the body's framing chosen for
//! this client (RFC 9112 §6).
//!
//! The framing depends on the exchange as much as on the response: a `HEAD` request or a
//! 1xx/204/304 status has no body; a known length becomes `Content-Length`; an unknown one
//! is chunked for HTTP/1.1 clients and delimited by closing the connection for HTTP/1.0
//! ones, which cannot read chunks.

use std::cell::{Cell, RefCell};
use std::time::{SystemTime, UNIX_EPOCH};

use http::header;
use http::{HeaderMap, StatusCode};

/// How the response body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyFraming {
    /// No body bytes at all (HEAD, 1xx, 204, 304).
    None,
    /// The response carries `Content-Length`.
    Length,
    /// Chunked transfer coding (HTTP/1.1 clients, unknown length).
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0 clients, unknown length).
    Close,
}

/// What the response head depends on besides the response itself.
pub(super) struct Exchange<'a> {
    /// The request was `HEAD`.
    pub(super) is_head: bool,
    /// The client speaks HTTP/1.0.
    pub(super) http10_client: bool,
    /// Formats `Date`.
    pub(super) dates: &'a DateCache,
}

/// Writes the status line and headers of a response into `out`, choosing the body's
/// framing. `exact_len` is the body's length when known in advance; `keep_alive` is
/// cleared when the framing chosen ends the connection.
pub(super) fn write_response_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    exact_len: Option<u64>,
    exchange: &Exchange<'_>,
    keep_alive: &mut bool,
) -> BodyFraming {
    let Exchange {
        is_head,
        http10_client,
        dates,
    } = *exchange;
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");

    // One pass over the headers: write them, and note what decides the framing.
    let mut has_length = false;
    let mut has_date = false;
    for (name, value) in headers {
        if name == header::CONTENT_LENGTH {
            has_length = true;
        } else if name == header::DATE {
            has_date = true;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        dates.write(out);
        out.extend_from_slice(b"\r\n");
    }

    let no_body = is_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if status == StatusCode::SWITCHING_PROTOCOLS {
        BodyFraming::None
    } else if has_length {
        if no_body {
            BodyFraming::None
        } else {
            BodyFraming::Length
        }
    } else if no_body {
        BodyFraming::None
    } else if let Some(len) = exact_len {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
        out.extend_from_slice(b"\r\n");
        BodyFraming::Length
    } else if http10_client {
        *keep_alive = false;
        BodyFraming::Close
    } else {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        BodyFraming::Chunked
    };
    if status != StatusCode::SWITCHING_PROTOCOLS {
        if !*keep_alive {
            out.extend_from_slice(b"connection: close\r\n");
        } else if http10_client {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    framing
}

/// The `Date` header value, formatted once per second per worker.
#[derive(Debug, Default)]
pub struct DateCache {
    second: Cell<u64>,
    text: RefCell<String>,
}

impl DateCache {
    fn write(&self, out: &mut Vec<u8>) {
        let now = SystemTime::now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if second != self.second.get() || self.text.borrow().is_empty() {
            self.second.set(second);
            *self.text.borrow_mut() = httpdate::fmt_http_date(now);
        }
        out.extend_from_slice(self.text.borrow().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_heads_choose_their_framing() {
        let dates = DateCache::default();
        let mut out = Vec::new();
        let mut keep_alive = true;
        let framing = write_response_head(
            &mut out,
            StatusCode::OK,
            &HeaderMap::new(),
            None,
            &Exchange {
                is_head: false,
                http10_client: false,
                dates: &dates,
            },
            &mut keep_alive,
        );
        assert_eq!(framing, BodyFraming::Chunked);
        let text = String::from_utf8(out).expect("ascii");
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("transfer-encoding: chunked\r\n"));
        assert!(text.contains("date: "));

        let mut out = Vec::new();
        let framing = write_response_head(
            &mut out,
            StatusCode::OK,
            &HeaderMap::new(),
            None,
            &Exchange {
                is_head: false,
                http10_client: true,
                dates: &dates,
            },
            &mut keep_alive,
        );
        assert_eq!(framing, BodyFraming::Close);
        assert!(
            !keep_alive,
            "an HTTP/1.0 client learns the end of the body from the close"
        );
    }
}
