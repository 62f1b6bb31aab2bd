//! Table tests of the storing, freshness and use rules: one row per rule, no sockets.
//! `storing`: what may be stored and for how long; `using`: what a stored copy may answer.

mod storing;
mod using;

use http::header::HeaderName;
use http::{HeaderMap, HeaderValue};
use std::time::SystemTime;

pub(super) fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.append(
            HeaderName::from_bytes(name.as_bytes()).expect("a header name"),
            HeaderValue::from_str(value).expect("a header value"),
        );
    }
    h
}

pub(super) const NOW: &str = "Sun, 06 Nov 1994 08:49:37 GMT";

pub(super) fn now() -> SystemTime {
    httpdate::parse_http_date(NOW).expect("a date")
}
