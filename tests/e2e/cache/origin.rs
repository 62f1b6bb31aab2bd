//! A scripted origin for the cache tests: it answers as its query string says and counts
//! its executions.
//!
//! Query parameters: `cc` (Cache-Control), `etag` (ETag; a matching `If-None-Match` gets
//! 304), `lm` (Last-Modified; an equal `If-Modified-Since` gets 304), `vary`, `tag`
//! (Cache-Tag), `skey` (Surrogate-Key), `status`, `size` (body bytes), `sleep`
//! (milliseconds before answering), `location` (Location), `cl` (Content-Location), and
//! for 304 answers only `cc304` (their Cache-Control) and `cookie304` (a Set-Cookie).
//! A request with `Upgrade` is switched (101). The request header `x-origin-sleep`
//! overrides `sleep` without changing the URL (the cache key). The body is `exec N` (N counts from 1), padded to `size`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running origin.
pub struct Origin {
    pub addr: SocketAddr,
    counts: Arc<Counts>,
    methods: Arc<Mutex<Vec<Method>>>,
    task: JoinHandle<()>,
}

impl Origin {
    pub async fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an origin port");
        let addr = listener.local_addr().expect("bound address");
        let counts = Arc::new(Counts::default());
        let methods = Arc::new(Mutex::new(Vec::new()));
        let counter = counts.clone();
        let seen = methods.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                let seen = seen.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        seen.lock()
                            .expect("no test panics while holding the method log")
                            .push(request.method().clone());
                        answer(counter.clone(), request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Origin {
            addr,
            counts,
            methods,
            task,
        }
    }

    /// The method of every execution, in order.
    pub fn methods(&self) -> Vec<Method> {
        self.methods
            .lock()
            .expect("no test panics while holding the method log")
            .clone()
    }

    /// Executions so far (304 answers included).
    pub fn executions(&self) -> usize {
        self.counts.executions.load(Ordering::SeqCst)
    }

    /// Executions slowed by `x-origin-sleep` that have finished sleeping.
    pub fn slow_done(&self) -> usize {
        self.counts.slow_done.load(Ordering::SeqCst)
    }

    /// Stops answering: the listener and every connection close (the JoinSet aborts
    /// its connections when the task is dropped).
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// What the origin counts.
#[derive(Default)]
struct Counts {
    executions: AtomicUsize,
    slow_done: AtomicUsize,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    counts: Arc<Counts>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = counts.executions.fetch_add(1, Ordering::SeqCst) + 1;
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect();
    let header_sleep = request
        .headers()
        .get("x-origin-sleep")
        .and_then(|v| v.to_str().ok());
    if let Some(ms) = header_sleep.or(query.get("sleep").map(String::as_str)) {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
    }
    if header_sleep.is_some() {
        counts.slow_done.fetch_add(1, Ordering::SeqCst);
    }
    if request.headers().contains_key("upgrade") {
        // Agrees to switch; what flows afterwards is no concern of the cache.
        let switched = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "websocket");
        return Ok(switched.body(Full::new(Bytes::new())).expect("a valid 101"));
    }
    let mut response = Response::builder();
    for (param, header) in [
        ("cc", "cache-control"),
        ("etag", "etag"),
        ("lm", "last-modified"),
        ("vary", "vary"),
        ("tag", "cache-tag"),
        ("skey", "surrogate-key"),
        ("location", "location"),
        ("cl", "content-location"),
    ] {
        if let Some(value) = query.get(param) {
            response = response.header(header, value.as_str());
        }
    }
    let matches = |param: &str, header: &str| {
        let asked = request.headers().get(header);
        query
            .get(param)
            .zip(asked)
            .is_some_and(|(ours, asked)| asked.as_bytes() == ours.as_bytes())
    };
    if matches("etag", "if-none-match") || matches("lm", "if-modified-since") {
        if let Some(cc) = query.get("cc304") {
            let headers = response.headers_mut().expect("a valid builder");
            headers.insert("cache-control", cc.parse().expect("a header value"));
        }
        if let Some(cookie) = query.get("cookie304") {
            response = response.header("set-cookie", cookie.as_str());
        }
        let response = response.status(StatusCode::NOT_MODIFIED);
        return Ok(response.body(Full::new(Bytes::new())).expect("a valid 304"));
    }
    let status = query
        .get("status")
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut body = format!("exec {n}").into_bytes();
    if let Some(size) = query.get("size").and_then(|s| s.parse::<usize>().ok()) {
        body.resize(size.max(body.len()), b'.');
    }
    Ok(response
        .status(status)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response"))
}

/// Undoes the few escapes the tests use.
fn decode(value: &str) -> String {
    value
        .replace("%3D", "=")
        .replace("%20", " ")
        .replace("%2C", ",")
        .replace("%22", "\"")
        .replace("%3A", ":")
        .replace("%2F", "/")
}
