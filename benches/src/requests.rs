//! Request heads as clients send them, built as the data plane builds them, and the head
//! rewrite the proxy applies to each.
//!
//! Two heads: a browser's first navigation (twelve headers, a cookie, `Connection:
//! keep-alive`), the shape of real traffic; and wrk's (`Host` alone), the shape of every
//! throughput comparison in `loadtest/compare`, where the rewrite is most of the per-request
//! header work.
//!
//! A head's map is built the way tidegate's HTTP/1.1 server builds it, since how much the
//! rewrite allocates depends on it: values are slices of one shared buffer (the bytes read
//! from the socket), and the map has room for the headers the proxy adds.

use std::ops::Range;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue};
use tidegate_proxy::headers::{
    ForwardedFor, RequestIds, X_REQUEST_ID, is_upgrade, remove_hop_by_hop, set_forwarded,
};

/// Headers the proxy adds to a request: `x-request-id`, `x-forwarded-for`, `-proto`,
/// `-host`, `via`, and `host` on HTTP/2. The HTTP/1.1 server makes room for them when it
/// builds a map (`proxy/src/server/h1/head.rs`); mirrored here, as it is not public.
pub const ADDED_HEADERS: usize = 6;

/// A request head as a client sent it: the bytes read and where each header lies in them.
#[derive(Debug, Clone)]
pub struct Head {
    read: Bytes,
    headers: Vec<(HeaderName, Range<usize>)>,
}

impl Head {
    /// A head of these headers, in this order.
    ///
    /// # Panics
    ///
    /// If a name or value is not valid in HTTP, which is a bug in the fixture.
    pub fn new(pairs: &[(&str, &str)]) -> Self {
        let mut read = Vec::new();
        let mut headers = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("a valid header name");
            // Checked here, so that `map` cannot fail.
            HeaderValue::from_str(value).expect("a valid header value");
            headers.push((name, read.len()..read.len() + value.len()));
            read.extend_from_slice(value.as_bytes());
        }
        Head {
            read: Bytes::from(read),
            headers,
        }
    }

    /// A fresh map of the head, as the HTTP/1.1 server hands it to the proxy.
    pub fn map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.headers.len() + ADDED_HEADERS);
        for (name, range) in &self.headers {
            let value = HeaderValue::from_maybe_shared(self.read.slice(range.clone()))
                .expect("checked when the head was made");
            map.append(name.clone(), value);
        }
        map
    }

    /// How many headers it has.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Whether it has no header at all.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}

/// A browser's request head: Firefox loading a page, twelve headers.
pub fn browser() -> Head {
    Head::new(&[
        ("host", "app.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("accept-language", "en-US,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("connection", "keep-alive"),
        ("cookie", "session=8f2c1e9a4b7d3f60a1c5; theme=dark"),
        ("upgrade-insecure-requests", "1"),
        ("sec-fetch-dest", "document"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "none"),
        ("sec-fetch-user", "?1"),
    ])
}

/// wrk's request head: `Host` alone, as in every `loadtest/compare` run.
pub fn wrk() -> Head {
    Head::new(&[("host", "127.0.0.1:8080")])
}

/// Both heads, with the names the benches report them under.
pub fn heads() -> [(&'static str, Head); 2] {
    [("browser", browser()), ("wrk", wrk())]
}

/// What a plain-HTTP connection from a documentation address contributes.
pub fn connection() -> ForwardedFor {
    ForwardedFor::new([203, 0, 113, 7].into(), false)
}

/// The header work the proxy does on one HTTP/1.1 request head before forwarding it, in the
/// order `tidegate_proxy::forward` does it: a request id when the client sent none, then
/// (keeping the `Host` value) upgrade detection, hop-by-hop removal and the
/// `x-forwarded-*` family with `via`. Returns the request id, which the proxy keeps for the
/// response.
///
/// A copy of that sequence, not a call into it: the proxy has no public function for the
/// whole rewrite. If `forward` changes its steps, change these.
pub fn rewrite(headers: &mut HeaderMap, ids: &RequestIds, from: &ForwardedFor) -> HeaderValue {
    let request_id = match headers.get(X_REQUEST_ID) {
        Some(id) => id.clone(),
        None => {
            let id = ids.next();
            headers.insert(X_REQUEST_ID, id.clone());
            id
        }
    };

    let host = headers.get(header::HOST).cloned();
    let upgrade = is_upgrade(headers);
    remove_hop_by_hop(headers, upgrade);
    set_forwarded(headers, from, host.as_ref(), false);
    request_id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_head_is_realistic_in_size() {
        assert_eq!(browser().len(), 12);
        assert_eq!(browser().map().len(), 12);
        assert_eq!(wrk().map()["host"], "127.0.0.1:8080");
    }

    #[test]
    fn the_rewrite_does_what_forwarding_needs() {
        let ids = RequestIds::new();
        let mut headers = browser().map();
        let id = rewrite(&mut headers, &ids, &connection());

        assert_eq!(headers[X_REQUEST_ID], id);
        assert!(!headers.contains_key(header::CONNECTION), "hop-by-hop");
        assert_eq!(headers["x-forwarded-for"], "203.0.113.7");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-forwarded-host"], "app.example.com");
        assert_eq!(headers[header::VIA], "1.1 tidegate");
        // 12, less `connection`, plus the id and four forwarding headers.
        assert_eq!(headers.len(), 16);
    }

    #[test]
    fn a_client_request_id_is_kept() {
        let ids = RequestIds::new();
        let mut headers = wrk().map();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc"));
        assert_eq!(rewrite(&mut headers, &ids, &connection()), "abc");
    }
}
