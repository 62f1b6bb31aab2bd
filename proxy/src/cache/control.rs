//! `Cache-Control` directives (RFC 9111 §5.2), parsed once per message into plain fields.
//!
//! Parsing is lenient the way RFC 9111 §4.2.1 asks: an invalid delta-seconds value makes
//! the directive count as "expired" (zero) rather than ignored, an unknown directive is
//! skipped, and several `Cache-Control` lines form one list. Qualified forms
//! (`no-cache="field"`, `private="field"`) are treated as their unqualified forms: the
//! stricter reading, which never serves what the origin meant to keep back.

use std::time::Duration;

use http::HeaderMap;
use http::header::{CACHE_CONTROL, PRAGMA};

/// The directives a response carries that a shared cache acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseDirectives {
    /// `no-store`: never stored.
    pub no_store: bool,
    /// `no-cache`: stored, but validated before every use.
    pub no_cache: bool,
    /// `private`: not for a shared cache.
    pub private: bool,
    /// `public`: storable even where it otherwise would not be (e.g. with `Authorization`).
    pub public: bool,
    /// `must-revalidate`: once stale, never served without validation.
    pub must_revalidate: bool,
    /// `proxy-revalidate`: `must-revalidate` for shared caches only.
    pub proxy_revalidate: bool,
    /// `max-age`.
    pub max_age: Option<Duration>,
    /// `s-maxage`: wins over `max-age` in a shared cache, and implies `proxy-revalidate`.
    pub s_maxage: Option<Duration>,
    /// `stale-while-revalidate` (RFC 5861 §3).
    pub stale_while_revalidate: Option<Duration>,
    /// `stale-if-error` (RFC 5861 §4).
    pub stale_if_error: Option<Duration>,
    /// Whether any `Cache-Control` line was present at all (for `default_ttl`).
    pub present: bool,
}

/// The directives a request carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestDirectives {
    /// `no-cache` (or `Pragma: no-cache` without `Cache-Control`): validate with the origin.
    pub no_cache: bool,
    /// `no-store`: do not store the answer to this request.
    pub no_store: bool,
    /// `max-age`: the client accepts no response older than this.
    pub max_age: Option<Duration>,
    /// `max-stale`: the client accepts a response stale by this much; `Some(MAX)` for a
    /// bare `max-stale` (any staleness).
    pub max_stale: Option<Duration>,
    /// `min-fresh`: the response must stay fresh for at least this much longer.
    pub min_fresh: Option<Duration>,
    /// `only-if-cached`: answer from the cache or with 504.
    pub only_if_cached: bool,
}

impl ResponseDirectives {
    /// Parses the `Cache-Control` lines of a response.
    pub fn parse(headers: &HeaderMap) -> Self {
        let mut d = ResponseDirectives::default();
        for (name, value) in directives(headers) {
            d.present = true;
            match name.as_str() {
                "no-store" => d.no_store = true,
                "no-cache" => d.no_cache = true,
                "private" => d.private = true,
                "public" => d.public = true,
                "must-revalidate" => d.must_revalidate = true,
                "proxy-revalidate" => d.proxy_revalidate = true,
                "max-age" => d.max_age = Some(seconds(value)),
                "s-maxage" => d.s_maxage = Some(seconds(value)),
                "stale-while-revalidate" => d.stale_while_revalidate = Some(seconds(value)),
                "stale-if-error" => d.stale_if_error = Some(seconds(value)),
                _ => {}
            }
        }
        d
    }

    /// Whether a stale copy must never be served without validation: `must-revalidate`,
    /// `proxy-revalidate`, `s-maxage` (RFC 9111 §5.2.2.10) or `no-cache`.
    pub fn forbids_stale(&self) -> bool {
        self.must_revalidate || self.proxy_revalidate || self.s_maxage.is_some() || self.no_cache
    }
}

impl RequestDirectives {
    /// Parses the `Cache-Control` lines of a request; `Pragma: no-cache` counts only when
    /// there is no `Cache-Control` (RFC 9111 §5.4).
    pub fn parse(headers: &HeaderMap) -> Self {
        let mut d = RequestDirectives::default();
        let mut any = false;
        for (name, value) in directives(headers) {
            any = true;
            match name.as_str() {
                "no-cache" => d.no_cache = true,
                "no-store" => d.no_store = true,
                "max-age" => d.max_age = Some(seconds(value)),
                "max-stale" => {
                    // A bare `max-stale` accepts any staleness.
                    d.max_stale = Some(value.map_or(Duration::MAX, |v| seconds(Some(v))))
                }
                "min-fresh" => d.min_fresh = Some(seconds(value)),
                "only-if-cached" => d.only_if_cached = true,
                _ => {}
            }
        }
        if !any
            && headers
                .get_all(PRAGMA)
                .iter()
                .any(|v| v.as_bytes().eq_ignore_ascii_case(b"no-cache"))
        {
            d.no_cache = true;
        }
        d
    }

    /// Whether the request carries no directive at all: the common case, checked first.
    pub fn is_empty(&self) -> bool {
        *self == RequestDirectives::default()
    }
}

/// Every `name[=value]` of every `Cache-Control` line, names lowercased, quotes removed.
fn directives(headers: &HeaderMap) -> impl Iterator<Item = (String, Option<&str>)> {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(','))
        .filter_map(|item| {
            let item = item.trim();
            if item.is_empty() {
                return None;
            }
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                None => (item, None),
            };
            Some((name.to_ascii_lowercase(), value))
        })
}

/// delta-seconds (RFC 9111 §1.2.2): a missing or invalid value is zero (stale at once);
/// a value too large for the clock is capped at 2^31 seconds as the RFC suggests.
fn seconds(value: Option<&str>) -> Duration {
    const CAP: u64 = 1 << 31;
    let Some(value) = value else {
        return Duration::ZERO;
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Duration::ZERO;
    }
    Duration::from_secs(value.parse::<u64>().unwrap_or(CAP).min(CAP))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(lines: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for line in lines {
            h.append(CACHE_CONTROL, HeaderValue::from_static(line));
        }
        h
    }

    #[test]
    fn response_directives_table() {
        let s = Duration::from_secs;
        let cases: &[(&[&'static str], ResponseDirectives)] = &[
            (&[], ResponseDirectives::default()),
            (
                &["max-age=60"],
                ResponseDirectives {
                    max_age: Some(s(60)),
                    present: true,
                    ..Default::default()
                },
            ),
            (
                &["Public, S-MaxAge=\"30\"", "must-revalidate"],
                ResponseDirectives {
                    public: true,
                    s_maxage: Some(s(30)),
                    must_revalidate: true,
                    present: true,
                    ..Default::default()
                },
            ),
            (
                &["private=\"set-cookie\", no-cache=\"x\", no-store"],
                ResponseDirectives {
                    private: true,
                    no_cache: true,
                    no_store: true,
                    present: true,
                    ..Default::default()
                },
            ),
            (
                &["max-age=abc, stale-while-revalidate=5, stale-if-error=99999999999999"],
                ResponseDirectives {
                    max_age: Some(Duration::ZERO),
                    stale_while_revalidate: Some(s(5)),
                    stale_if_error: Some(s(1 << 31)),
                    present: true,
                    ..Default::default()
                },
            ),
            (
                &["proxy-revalidate, x-unknown=1"],
                ResponseDirectives {
                    proxy_revalidate: true,
                    present: true,
                    ..Default::default()
                },
            ),
        ];
        for (lines, want) in cases {
            assert_eq!(
                &ResponseDirectives::parse(&headers(lines)),
                want,
                "{lines:?}"
            );
        }
    }

    #[test]
    fn request_directives_table() {
        let s = Duration::from_secs;
        let cases: &[(&[&'static str], RequestDirectives)] = &[
            (&[], RequestDirectives::default()),
            (
                &["no-cache, no-store"],
                RequestDirectives {
                    no_cache: true,
                    no_store: true,
                    ..Default::default()
                },
            ),
            (
                &["max-age=5, min-fresh=2"],
                RequestDirectives {
                    max_age: Some(s(5)),
                    min_fresh: Some(s(2)),
                    ..Default::default()
                },
            ),
            (
                &["max-stale"],
                RequestDirectives {
                    max_stale: Some(Duration::MAX),
                    ..Default::default()
                },
            ),
            (
                &["max-stale=10, only-if-cached"],
                RequestDirectives {
                    max_stale: Some(s(10)),
                    only_if_cached: true,
                    ..Default::default()
                },
            ),
        ];
        for (lines, want) in cases {
            assert_eq!(
                &RequestDirectives::parse(&headers(lines)),
                want,
                "{lines:?}"
            );
        }
    }

    #[test]
    fn pragma_no_cache_counts_only_without_cache_control() {
        let mut h = HeaderMap::new();
        h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        assert!(RequestDirectives::parse(&h).no_cache);
        h.insert(CACHE_CONTROL, HeaderValue::from_static("max-age=5"));
        assert!(!RequestDirectives::parse(&h).no_cache);
    }
}
