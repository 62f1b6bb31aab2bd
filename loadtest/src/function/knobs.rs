//! The per-request knobs: what a caller asks `tidegate-fn` to do, by query parameter or
//! `x-fn-*` header.
//!
//! | knob | example | effect |
//! | --- | --- | --- |
//! | `latency` | `50ms`, `uniform:10ms..50ms`, `exp:20ms` | wait before answering |
//! | `cpu` | `5ms` | busy-loop on the worker thread |
//! | `mem` | `10MiB` | allocate and touch this much, held until the response ends |
//! | `size` | `1024` | answer with this many bytes instead of `hello world\n` |
//! | `status` | `503` | answer with this status |
//! | `cache-control`, `etag`, `last-modified`, `vary`, `cache-tag` | `max-age=60` | set that response header |
//! | `echo` | `1` or `headers` | stream the request body back, or describe the request head as JSON |
//!
//! `?size=5` and `x-fn-size: 5` mean the same; when both are given the header wins, since a
//! header is the easier of the two for a test to add to an existing URL. Unknown query
//! parameters are ignored, because real functions get parameters of their own.

use std::borrow::Cow;
use std::time::Duration;

use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use thiserror::Error;

use super::latency::Latency;
use crate::units::{UnitError, parse_duration, parse_size};

/// The prefix that marks a request header as a knob.
const HEADER_PREFIX: &str = "x-fn-";

/// What one request asked for. The default is the cheap `hello world\n` answer.
#[derive(Debug, Default)]
pub struct Knobs {
    /// How long to wait before answering.
    pub latency: Option<Latency>,
    /// How long to burn the CPU before answering.
    pub cpu: Option<Duration>,
    /// Bytes to allocate, touch, and hold until the response ends.
    pub mem: Option<u64>,
    /// Response body size in bytes; `None` keeps the 12-byte greeting.
    pub size: Option<u64>,
    /// Response status; `None` is 200.
    pub status: Option<StatusCode>,
    /// Whether and how to echo the request.
    pub echo: Option<Echo>,
    /// Caching headers to set on the response.
    pub headers: HeaderMap,
}

/// What `echo` sends back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// `echo=1`: the request body, streamed as it arrives.
    Body,
    /// `echo=headers`: the request head as JSON.
    Head,
}

/// A knob whose value could not be read; answered with 400 and this text.
#[derive(Debug, Error)]
#[error("knob {knob}: {reason}")]
pub struct KnobError {
    knob: String,
    reason: String,
}

impl KnobError {
    fn new(knob: &str, reason: impl ToString) -> Self {
        Self {
            knob: knob.to_owned(),
            reason: reason.to_string(),
        }
    }
}

impl Knobs {
    /// Reads the knobs of one request: its query first, then its `x-fn-*` headers.
    ///
    /// Cheap when there are none, which is the benchmark case: no query, and a scan of a
    /// few header names.
    pub fn from_parts(parts: &Parts) -> Result<Self, KnobError> {
        let mut knobs = Self::default();

        if let Some(query) = parts.uri.query() {
            for pair in query.split('&').filter(|pair| !pair.is_empty()) {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                knobs.set(&percent_decode(name), &percent_decode(value))?;
            }
        }

        for (name, value) in &parts.headers {
            if let Some(knob) = name.as_str().strip_prefix(HEADER_PREFIX) {
                let value = value
                    .to_str()
                    .map_err(|_| KnobError::new(knob, "the header value is not visible ASCII"))?;
                knobs.set(knob, value)?;
            }
        }
        Ok(knobs)
    }

    /// Applies one knob; names that are no knob are left to the function.
    fn set(&mut self, knob: &str, value: &str) -> Result<(), KnobError> {
        let unit = |error: UnitError| KnobError::new(knob, error);
        match knob {
            "latency" => self.latency = Some(value.parse().map_err(unit)?),
            "cpu" => self.cpu = Some(parse_duration(value).map_err(unit)?),
            "mem" => self.mem = Some(parse_size(value).map_err(unit)?),
            "size" => self.size = Some(parse_size(value).map_err(unit)?),
            "status" => {
                self.status = Some(parse_status(value).map_err(|e| KnobError::new(knob, e))?)
            }
            "echo" => self.echo = parse_echo(value).map_err(|e| KnobError::new(knob, e))?,
            "cache-control" | "etag" | "last-modified" | "vary" | "cache-tag" => {
                let header_value = HeaderValue::from_str(value)
                    .map_err(|_| KnobError::new(knob, "not a valid header value"))?;
                self.headers
                    .insert(HeaderName::from_static(static_name(knob)), header_value);
            }
            _ => {}
        }
        Ok(())
    }
}

/// The response header each caching knob sets, as a `'static` name.
fn static_name(knob: &str) -> &'static str {
    match knob {
        "cache-control" => "cache-control",
        "etag" => "etag",
        "last-modified" => "last-modified",
        "vary" => "vary",
        _ => "cache-tag",
    }
}

fn parse_status(value: &str) -> Result<StatusCode, &'static str> {
    let status = StatusCode::from_bytes(value.as_bytes()).map_err(|_| "expected 200 to 999")?;
    // 1xx cannot be a final response; hyper would refuse to send it.
    if status.is_informational() {
        return Err("expected 200 to 999: 1xx is not a final response");
    }
    Ok(status)
}

fn parse_echo(value: &str) -> Result<Option<Echo>, &'static str> {
    match value {
        "1" | "true" | "body" | "" => Ok(Some(Echo::Body)),
        "headers" | "head" => Ok(Some(Echo::Head)),
        "0" | "false" => Ok(None),
        _ => Err("expected 1 (the body) or headers (the request head as JSON)"),
    }
}

/// Decodes `%XX` escapes and `+` as a space; malformed escapes are kept as written.
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['%', '+']) {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                i += 1;
            }
            (byte, None) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&decoded).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs(uri: &str, headers: &[(&str, &str)]) -> Result<Knobs, KnobError> {
        let mut request = http::Request::builder().uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (parts, ()) = request.body(()).expect("a valid request").into_parts();
        Knobs::from_parts(&parts)
    }

    #[test]
    fn no_knobs_is_the_default_answer() {
        let knobs = knobs("/", &[("accept", "*/*")]).expect("no knobs to misread");
        assert!(knobs.latency.is_none() && knobs.size.is_none() && knobs.echo.is_none());
        assert!(knobs.headers.is_empty());
    }

    #[test]
    fn query_and_headers_both_work_and_the_header_wins() {
        let knobs = knobs(
            "/?size=5&cpu=2ms&cache-control=public%2C%20max-age%3D60&other=x",
            &[("x-fn-size", "7"), ("x-fn-status", "503")],
        )
        .expect("valid knobs");
        assert_eq!(knobs.size, Some(7));
        assert_eq!(knobs.cpu, Some(Duration::from_millis(2)));
        assert_eq!(knobs.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(knobs.headers["cache-control"], "public, max-age=60");
    }

    #[test]
    fn an_unescaped_equals_sign_stays_in_the_value() {
        let knobs = knobs("/?cache-control=max-age=60", &[]).expect("valid knobs");
        assert_eq!(knobs.headers["cache-control"], "max-age=60");
    }

    #[test]
    fn bad_values_name_the_knob() {
        let error = knobs("/?latency=soon", &[]).expect_err("soon is no duration");
        assert!(error.to_string().starts_with("knob latency:"), "{error}");
        assert!(knobs("/?status=100", &[]).is_err());
        assert!(knobs("/", &[("x-fn-echo", "sideways")]).is_err());
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
