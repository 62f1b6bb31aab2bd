//! One request, answered as its knobs ask: hold memory, burn CPU, wait, then answer.
//!
//! The default request (no query, no `x-fn-*` header) takes the short road: count it, read
//! no knobs, answer the static greeting. Benchmarks measure proxies on that road, so it
//! allocates nothing beyond what hyper itself does.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Serialize;

use super::body::{FnBody, Hold};
use super::crash::CrashAfter;
use super::knobs::{Echo, Knobs};
use super::stats::Stats;

/// The default answer, as the benchmarks' nginx upstream gives it.
const GREETING: &[u8] = b"hello world\n";

/// The response header that reports the latency drawn for this request, in microseconds.
pub const LATENCY_HEADER: &str = "x-fn-latency-us";

/// Everything the requests of one instance share.
#[derive(Debug, Default)]
pub struct Instance {
    /// What has been served.
    pub stats: Stats,
    /// When to die on purpose.
    pub crash_after: CrashAfter,
}

/// Answers one request. Never fails: a bad knob is a 400, not a dropped connection.
pub async fn handle(
    instance: &'static Instance,
    request: Request<Incoming>,
) -> Result<Response<FnBody>, Infallible> {
    let path = request.uri().path();
    if path == "/__stats" {
        let json = serde_json::to_vec(&instance.stats.snapshot()).unwrap_or_default();
        return Ok(answer(
            StatusCode::OK,
            "application/json",
            json,
            Hold::default(),
        ));
    }

    let mut hold = Hold {
        in_flight: Some(instance.stats.record(request.method(), path)),
        memory: Vec::new(),
        on_done: None,
    };
    if path == "/healthz" {
        return Ok(answer(StatusCode::OK, "text/plain", &b"ok\n"[..], hold));
    }
    hold.on_done = instance.crash_after.admit();

    let (parts, body) = request.into_parts();
    let knobs = match Knobs::from_parts(&parts) {
        Ok(knobs) => knobs,
        Err(error) => {
            let text = format!("{error}\n");
            return Ok(answer(StatusCode::BAD_REQUEST, "text/plain", text, hold));
        }
    };

    // The work, in the order a real function does it: take memory, compute, wait on I/O.
    if let Some(bytes) = knobs.mem {
        hold.memory = touched(bytes);
    }
    if let Some(cpu) = knobs.cpu {
        burn(cpu);
    }
    let waited = match knobs.latency {
        Some(latency) => {
            let wait = latency.sample();
            tokio::time::sleep(wait).await;
            Some(wait)
        }
        None => None,
    };

    let status = knobs.status.unwrap_or(StatusCode::OK);
    let mut response = match knobs.echo {
        Some(Echo::Body) => {
            let content_type = parts.headers.get(CONTENT_TYPE).cloned();
            let mut response = Response::new(FnBody::echo(body, hold));
            if let Some(content_type) = content_type {
                response.headers_mut().insert(CONTENT_TYPE, content_type);
            }
            *response.status_mut() = status;
            response
        }
        Some(Echo::Head) => {
            let json = describe(&parts, body).await;
            answer(status, "application/json", json, hold)
        }
        None => match knobs.size {
            Some(len) => with_type(
                status,
                "application/octet-stream",
                FnBody::filler(len, hold),
            ),
            None => answer(status, "text/plain", GREETING, hold),
        },
    };

    let headers = response.headers_mut();
    if !knobs.headers.is_empty() {
        headers.extend(knobs.headers);
    }
    if let Some(wait) = waited {
        headers.insert(LATENCY_HEADER, HeaderValue::from(wait.as_micros() as u64));
    }
    Ok(response)
}

/// A response of one buffer.
fn answer(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
    hold: Hold,
) -> Response<FnBody> {
    with_type(status, content_type, FnBody::once(body, hold))
}

fn with_type(status: StatusCode, content_type: &'static str, body: FnBody) -> Response<FnBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Allocates `bytes` and writes every page, so the memory is resident, not just reserved.
fn touched(bytes: u64) -> Vec<u8> {
    // A non-zero fill: zeroed memory would come from calloc, lazily mapped and never resident.
    let memory = vec![0xA5; usize::try_from(bytes).unwrap_or(usize::MAX)];
    std::hint::black_box(memory)
}

/// Keeps the thread busy for `duration` of wall-clock time.
///
/// `std::time::Instant`, not tokio's clock: a paused test clock would make this spin
/// forever, and the point is to consume real CPU. Wall time equals CPU time unless the
/// thread is preempted, which on a loaded machine makes the knob an upper bound.
fn burn(duration: Duration) {
    let start = Instant::now();
    let mut state = 1u64;
    while start.elapsed() < duration {
        for _ in 0..1_000 {
            state = std::hint::black_box(
                state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1),
            );
        }
    }
}

/// The request head as `echo=headers` reports it.
#[derive(Serialize)]
struct Head<'a> {
    method: &'a str,
    /// The URI's authority (HTTP/2) or else the `host` header (HTTP/1.1).
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    version: String,
    /// Repeated headers are joined with ", ", as HTTP allows for list-valued fields.
    headers: BTreeMap<&'a str, String>,
    /// How many body bytes arrived; the body itself is read and dropped.
    body_bytes: u64,
}

async fn describe(parts: &Parts, mut body: Incoming) -> Vec<u8> {
    let mut body_bytes = 0;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            body_bytes += data.len() as u64;
        }
    }

    let mut headers: BTreeMap<&str, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers
            .entry(name.as_str())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let head = Head {
        method: parts.method.as_str(),
        authority: parts.uri.authority().map(|a| a.as_str()).or_else(|| {
            let host = parts.headers.get(http::header::HOST)?;
            host.to_str().ok()
        }),
        path: parts.uri.path(),
        query: parts.uri.query(),
        version: format!("{:?}", parts.version),
        headers,
        body_bytes,
    };
    serde_json::to_vec(&head).unwrap_or_default()
}
