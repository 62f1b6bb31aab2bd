//! Header rewriting between client and instance: hop-by-hop removal, the `x-forwarded-*`
//! family, `via`, and request ids.
//!
//! These run on every request, so they avoid formatting and allocation where a prepared
//! value will do: `via` and `x-forwarded-proto` are static, the client's address is
//! rendered once per connection, and request ids are written into a stack buffer.

use std::cell::Cell;

use http::header::{self, Entry, HeaderName};
use http::{HeaderMap, HeaderValue};

/// `x-request-id`: kept when the client sends one, generated otherwise.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `x-forwarded-for`: the chain of client addresses.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// `x-forwarded-proto`: `http` or `https`, as the client connected.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// `x-forwarded-host`: the host the client asked for.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the
/// legacy `proxy-connection`. `upgrade` is handled apart: it is kept on upgrade requests.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::PROXY_AUTHORIZATION,
];

/// Removes hop-by-hop headers, including any that `Connection` names. `Upgrade` is removed
/// too unless `keep_upgrade` (a WebSocket handshake being passed through).
pub fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // One pass over the names first, noting which hop-by-hop headers are present: most
    // messages carry none or one (`Connection: keep-alive`), and comparing standard names
    // is far cheaper than a hash lookup per candidate.
    let mut present = 0u8;
    let mut upgrade = false;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present |= 1 << i;
        } else if name == header::UPGRADE {
            upgrade = true;
        }
    }
    if present == 0 && !upgrade && !keep_upgrade {
        return;
    }

    // Headers named in `Connection` are hop-by-hop too. Collected first because the map
    // cannot be changed while its value is borrowed; the common case (no `Connection` or
    // just `keep-alive`) allocates nothing.
    let connection_present = present & 1 != 0;
    let mut named: Vec<HeaderName> = Vec::new();
    if connection_present {
        for value in headers.get_all(header::CONNECTION) {
            // The usual values name no other header.
            let bytes = value.as_bytes();
            if bytes.eq_ignore_ascii_case(b"keep-alive") || bytes.eq_ignore_ascii_case(b"close") {
                continue;
            }
            let Ok(value) = value.to_str() else { continue };
            for token in value.split(',') {
                let token = token.trim();
                if token.is_empty() || token.eq_ignore_ascii_case("keep-alive") {
                    continue;
                }
                if keep_upgrade && token.eq_ignore_ascii_case("upgrade") {
                    continue;
                }
                if let Ok(name) = HeaderName::from_bytes(token.to_ascii_lowercase().as_bytes()) {
                    named.push(name);
                }
            }
        }
    }
    for name in named {
        headers.remove(name);
    }

    for (i, name) in HOP_BY_HOP.into_iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    if keep_upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else if upgrade {
        headers.remove(header::UPGRADE);
    }
}

/// Whether the request asks to switch protocols (e.g. a WebSocket handshake).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers.get_all(header::CONNECTION).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
}

/// What a connection contributes to the forwarding headers of each of its requests.
#[derive(Debug, Clone)]
pub struct ForwardedFor {
    /// The client's IP address, rendered once.
    pub client_ip: HeaderValue,
    /// `http` or `https`.
    pub proto: HeaderValue,
}

impl ForwardedFor {
    /// The values for a connection from `peer`, plain or TLS.
    pub fn new(peer: std::net::IpAddr, tls: bool) -> Self {
        let client_ip = HeaderValue::from_str(&peer.to_string())
            .expect("an IP address is a valid header value");
        let proto = HeaderValue::from_static(if tls { "https" } else { "http" });
        ForwardedFor { client_ip, proto }
    }
}

/// Sets `x-forwarded-for` (appending to a chain the client sent), `x-forwarded-proto`,
/// `x-forwarded-host` and `via`.
pub fn set_forwarded(
    headers: &mut HeaderMap,
    from: &ForwardedFor,
    host: Option<&HeaderValue>,
    http2: bool,
) {
    // One lookup for both cases, through the entry.
    match headers.entry(X_FORWARDED_FOR) {
        Entry::Vacant(entry) => {
            entry.insert(from.client_ip.clone());
        }
        Entry::Occupied(mut entry) => {
            // Several lines form one list (RFC 9110 §5.3): join them, then add this hop.
            let mut chain = Vec::with_capacity(64);
            for value in entry.iter() {
                chain.extend_from_slice(value.as_bytes());
                chain.extend_from_slice(b", ");
            }
            chain.extend_from_slice(from.client_ip.as_bytes());
            if let Ok(value) = HeaderValue::from_bytes(&chain) {
                entry.insert(value);
            }
        }
    }
    headers.insert(X_FORWARDED_PROTO, from.proto.clone());
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST, host.clone());
    }
    let via = if http2 { "2 tidegate" } else { "1.1 tidegate" };
    headers.append(header::VIA, HeaderValue::from_static(via));
}

/// Makes request ids unique within this process: a random prefix per worker thread and a
/// counter, written as 24 hex digits.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u32,
    next: Cell<u64>,
}

impl RequestIds {
    /// A generator with a fresh random prefix.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_usize(std::process::id() as usize);
        RequestIds {
            prefix: hasher.finish() as u32,
            next: Cell::new(0),
        }
    }

    /// The next id.
    pub fn next(&self) -> HeaderValue {
        let n = self.next.get();
        self.next.set(n.wrapping_add(1));
        let mut buf = [0u8; 24];
        write_hex(&mut buf[..8], u64::from(self.prefix));
        write_hex(&mut buf[8..], n);
        HeaderValue::from_bytes(&buf).expect("hex digits are a valid header value")
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

fn write_hex(out: &mut [u8], mut value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(value & 0xf) as usize];
        value >>= 4;
    }
}

/// The decimal digits of `n`, written into `buffer`: header values built by hand on hot
/// paths, where `format!` costs several hundred instructions.
pub fn decimal(n: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut start = buffer.len();
    let mut rest = n;
    loop {
        start -= 1;
        buffer[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            return &buffer[start..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_writes_every_digit_of_any_u64() {
        for n in [0, 7, 10, 99, 1_000_003, u64::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string().as_bytes());
        }
    }

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut headers = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("accept", "*/*"),
        ]);
        remove_hop_by_hop(&mut headers, false);
        let left: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["accept"]);
    }

    #[test]
    fn upgrade_requests_keep_their_upgrade_headers() {
        let mut headers = map(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("keep-alive", "1"),
        ]);
        assert!(is_upgrade(&headers));
        remove_hop_by_hop(&mut headers, true);
        assert_eq!(headers["upgrade"], "websocket");
        assert_eq!(headers["connection"], "upgrade");
        assert!(!headers.contains_key("keep-alive"));
    }

    #[test]
    fn forwarded_for_appends_to_an_existing_chain() {
        let from = ForwardedFor::new("10.0.0.2".parse().unwrap(), true);
        let mut headers = map(&[("x-forwarded-for", "1.2.3.4")]);
        set_forwarded(
            &mut headers,
            &from,
            Some(&HeaderValue::from_static("a.example")),
            false,
        );
        assert_eq!(headers["x-forwarded-for"], "1.2.3.4, 10.0.0.2");
        assert_eq!(headers["x-forwarded-proto"], "https");
        assert_eq!(headers["x-forwarded-host"], "a.example");
        assert_eq!(headers["via"], "1.1 tidegate");
    }

    #[test]
    fn several_forwarded_for_lines_become_one_chain() {
        let from = ForwardedFor::new("10.0.0.2".parse().unwrap(), false);
        let mut headers = map(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
        ]);
        set_forwarded(&mut headers, &from, None, false);
        let all: Vec<_> = headers.get_all("x-forwarded-for").iter().collect();
        assert_eq!(all, ["1.1.1.1, 2.2.2.2, 10.0.0.2"]);
    }

    #[test]
    fn request_ids_are_unique_hex() {
        let ids = RequestIds::new();
        let a = ids.next();
        let b = ids.next();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.to_str().unwrap().bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
