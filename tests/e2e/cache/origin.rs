//! A scripted origin for the cache tests: it answers as its query string says and counts
//! its executions.
//!
//! Query parameters: `cc` (Cache-Control), `etag` (ETag; a matching `If-None-Match` gets
//! 304), `lm` (Last-Modified), `vary`, `tag` (Cache-Tag), `status`, `size` (body bytes),
//! `sleep` (milliseconds before answering), `location` (Location). The body is
//! `exec N` (N counts from 1), padded to `size`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running origin.
pub struct Origin {
    pub addr: SocketAddr,
    executions: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Origin {
    pub async fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an origin port");
        let addr = listener.local_addr().expect("bound address");
        let executions = Arc::new(AtomicUsize::new(0));
        let counter = executions.clone();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                connections.spawn(async move {
                    let service = service_fn(move |request| answer(counter.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Origin {
            addr,
            executions,
            task,
        }
    }

    /// Executions so far (304 answers included).
    pub fn executions(&self) -> usize {
        self.executions.load(Ordering::SeqCst)
    }

    /// Stops answering: the listener and every connection close (the JoinSet aborts
    /// its connections when the task is dropped).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    executions: Arc<AtomicUsize>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = executions.fetch_add(1, Ordering::SeqCst) + 1;
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect();
    if let Some(ms) = query.get("sleep") {
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
    }
    let mut response = Response::builder();
    for (param, header) in [
        ("cc", "cache-control"),
        ("etag", "etag"),
        ("lm", "last-modified"),
        ("vary", "vary"),
        ("tag", "cache-tag"),
        ("location", "location"),
    ] {
        if let Some(value) = query.get(param) {
            response = response.header(header, value.as_str());
        }
    }
    if let (Some(etag), Some(asked)) = (query.get("etag"), request.headers().get("if-none-match"))
        && asked.as_bytes() == etag.as_bytes()
    {
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
