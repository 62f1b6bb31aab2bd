//! The admin API: health, readiness, Prometheus metrics, and the functions' state.
//!
//! It runs on the control thread, apart from the data-plane workers, so a slow scrape
//! never delays a request. Every path but `/healthz` requires the bearer token when one is
//! configured; `/healthz` stays open so a supervisor can probe liveness without secrets.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use http_body_util::BodyExt;

use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::state::{FunctionRuntime, Shared};

mod purge;
mod scale;

/// What the admin handlers read.
pub struct Admin {
    /// The data plane's shared state.
    pub shared: Arc<Shared>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// `Bearer` token required on every path but `/healthz`.
    pub token: Option<String>,
}

/// Serves the admin API on `listener` until shutdown ends the process. Must run inside a
/// `LocalSet`: responses share the data plane's body type, which is not `Send`.
pub async fn serve(admin: Arc<Admin>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "admin accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let admin = admin.clone();
        tokio::task::spawn_local(async move {
            let service = service_fn(move |request| {
                let admin = admin.clone();
                async move { Ok::<_, Infallible>(handle(&admin, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "admin connection ended with an error");
            }
        });
    }
}

async fn handle(admin: &Admin, request: Request<Incoming>) -> Response<ProxyBody> {
    if request.uri().path() == "/healthz" {
        return text(StatusCode::OK, "ok\n");
    }
    if let Some(token) = &admin.token
        && !authorized(request.headers().get(header::AUTHORIZATION), token)
    {
        return ProxyError::Unauthorized.to_response(None, None);
    }
    match route(admin, request).await {
        Ok(response) => response,
        Err(error) => error.to_response(None, None),
    }
}

async fn route(
    admin: &Admin,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (parts, body) = request.into_parts();
    let method = &parts.method;
    let segments: Vec<&str> = parts.uri.path().trim_matches('/').split('/').collect();
    let get = || {
        if method == Method::GET {
            Ok(())
        } else {
            Err(ProxyError::MethodNotAllowed)
        }
    };
    match segments.as_slice() {
        ["readyz"] => {
            get()?;
            Ok(if admin.shared.shutdown.has_begun() {
                text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            } else {
                text(StatusCode::OK, "ready\n")
            })
        }
        ["metrics"] => {
            get()?;
            crate::metrics::update_gauges(&admin.shared);
            let mut response = text(StatusCode::OK, admin.metrics.render());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            Ok(response)
        }
        ["v1", "functions"] => {
            get()?;
            let all: Vec<Value> = admin.shared.functions.iter().map(function_json).collect();
            Ok(json_response(&Value::Array(all)))
        }
        ["v1", "functions", name] => {
            get()?;
            let function = find(admin, name)?;
            let mut value = function_json(function);
            value["fleet"] = fleet_json(function);
            Ok(json_response(&value))
        }
        ["v1", "functions", name, "scale"] => {
            let function = find(admin, name)?;
            let manual = match *method {
                Method::POST => Some(scale::parse(&read_body(body).await?, function)?),
                Method::DELETE => None,
                _ => return Err(ProxyError::MethodNotAllowed),
            };
            let Some(handle) = &function.scale else {
                return Err(ProxyError::InvalidBody(format!(
                    "function `{name}` has fixed endpoints (the static provider); it does not scale"
                )));
            };
            if !handle.set_manual(manual) {
                return Err(ProxyError::ShuttingDown);
            }
            tracing::info!(
                function = %function.name,
                ?manual,
                "manual scaling set through the admin API",
            );
            Ok(json_response(&function_json(function)))
        }
        ["v1", "cache", "purge"] => {
            if method != Method::POST {
                return Err(ProxyError::MethodNotAllowed);
            }
            let purged = purge::purge(&read_body(body).await?, &admin.shared.functions)?;
            Ok(json_response(&json!({ "purged": purged })))
        }
        _ => Err(ProxyError::NotFound("no admin endpoint at this path")),
    }
}

fn find<'a>(admin: &'a Admin, name: &str) -> Result<&'a FunctionRuntime, ProxyError> {
    admin
        .shared
        .functions
        .iter()
        .find(|f| &*f.name == name)
        .ok_or(ProxyError::NotFound("no function with this name"))
}

/// Largest admin request body read.
const MAX_ADMIN_BODY: usize = 64 * 1024;

async fn read_body(body: Incoming) -> Result<Bytes, ProxyError> {
    let limited = http_body_util::Limited::new(body, MAX_ADMIN_BODY);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(ProxyError::InvalidBody(format!(
            "the body could not be read whole, or is over {MAX_ADMIN_BODY} bytes"
        ))),
    }
}

/// One function as `GET /v1/functions` lists it.
fn function_json(function: &FunctionRuntime) -> Value {
    let fleet = &function.fleet;
    let counts = fleet.counts();
    let (desired, panic, reason, manual) = match &function.scale {
        Some(handle) => (
            handle.desired() as usize,
            handle.panic(),
            Value::from(handle.reason().as_str()),
            scale::manual_json(handle.manual()),
        ),
        // A static function has what it has.
        None => (counts.ready, false, Value::Null, Value::Null),
    };
    json!({
        "name": &*function.name,
        "provider": function.provider.kind(),
        "instances": { "starting": counts.starting, "ready": counts.ready, "draining": counts.draining },
        "desired": desired,
        "reason": reason,
        "manual": manual,
        "failing": fleet.is_failing(),
        "in_flight": fleet.in_flight(),
        "queued": fleet.waiting(),
        "queue": queue_json(function),
        "panic": panic,
        "cache": cache_json(function),
    })
}

/// The cache's hits, misses and hit ratio (hits over hits plus misses; bypasses count in
/// neither). A function without a cache reports zeros.
fn cache_json(function: &FunctionRuntime) -> Value {
    let Some(cache) = &function.cache else {
        return json!({ "hits": 0, "misses": 0, "hit_ratio": 0.0 });
    };
    let (hits, misses) = cache.hits_and_misses();
    let total = hits + misses;
    let ratio = if total == 0 {
        0.0
    } else {
        hits as f64 / total as f64
    };
    json!({ "hits": hits, "misses": misses, "hit_ratio": ratio, "bytes": cache.bytes() })
}

/// The queue: waiters per class (by the class they were queued in), the longest wait so
/// far in seconds (`null` when empty), and recent dispatches from the queue per second.
fn queue_json(function: &FunctionRuntime) -> Value {
    let snapshot = function.queue.snapshot();
    let depth: serde_json::Map<String, Value> = snapshot
        .depths
        .iter()
        .map(|(class, n)| (class.to_string(), Value::from(*n)))
        .collect();
    json!({
        "depth": depth,
        "oldest_wait_seconds": snapshot.oldest_wait.map(|d| d.as_secs_f64()),
        "drain_per_second": snapshot.drain_per_second,
    })
}

fn fleet_json(function: &FunctionRuntime) -> Value {
    let instances = function.fleet.instances();
    Value::Array(
        instances
            .iter()
            .map(|instance| {
                let started = instance
                    .started_at()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                json!({
                    "id": instance.id().to_string(),
                    "address": instance.addr().to_string(),
                    "state": instance.state().as_str(),
                    "in_flight": instance.in_flight(),
                    "served": instance.served(),
                    "pid": instance.pid(),
                    "started_at": started,
                })
            })
            .collect(),
    )
}

/// Compares the bearer token in time independent of where the first difference is.
fn authorized(header: Option<&HeaderValue>, token: &str) -> bool {
    let Some(given) = header
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json_response(value: &Value) -> Response<ProxyBody> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("JSON values serialize");
    bytes.push(b'\n');
    let mut response = Response::new(ProxyBody::full(bytes));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_must_match_exactly() {
        let h = |v: &'static str| Some(HeaderValue::from_static(v));
        assert!(authorized(h("Bearer s3cret").as_ref(), "s3cret"));
        assert!(!authorized(h("Bearer s3cre").as_ref(), "s3cret"));
        assert!(!authorized(h("Basic s3cret").as_ref(), "s3cret"));
        assert!(!authorized(None, "s3cret"));
    }
}
