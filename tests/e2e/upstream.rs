//! A real HTTP server standing in for a function instance, run inside the test process.
//!
//! Behaviour by path (after any prefix stripping by the proxy):
//! - `/slow/MS`: answers after MS milliseconds;
//! - `/echo`: streams the request body back as it arrives;
//! - `/big/N`: streams N bytes;
//! - `/ws`: accepts an `Upgrade: websocket` and echoes bytes on the upgraded connection;
//! - `/hop`: answers with hop-by-hop headers the proxy must remove;
//! - anything else: a JSON description of the request it received.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A running upstream; `hits` counts requests it received.
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
}

impl Upstream {
    pub async fn start(name: &'static str) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an upstream port");
        let addr = listener.local_addr().expect("bound address");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        counter.fetch_add(1, Ordering::Relaxed);
                        respond(name, request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Upstream { addr, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }
}

/// An address that refuses connections: bound, then closed.
pub async fn refusing_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("bound address")
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

async fn respond(
    name: &'static str,
    mut request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    let mut segments = path.trim_start_matches('/').split('/');
    let response = match (segments.next(), segments.next()) {
        (Some("slow"), Some(ms)) => {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(1000))).await;
            Response::new(full("slow done"))
        }
        (Some("echo"), _) => {
            let body = request
                .into_body()
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            Response::new(body.boxed())
        }
        (Some("big"), Some(n)) => {
            let total: usize = n.parse().unwrap_or(0);
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let chunks = (0..total.div_ceil(chunk.len())).map(move |i| {
                let len = chunk.len().min(total - i * chunk.len());
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Frame::data(chunk.slice(..len)))
            });
            let stream = futures_lite_iter(chunks);
            Response::new(StreamBody::new(stream).boxed())
        }
        (Some("ws"), _) => {
            let upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                let Ok(upgraded) = upgrade.await else { return };
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .body(full(""))
                .expect("valid response")
        }
        (Some("hop"), _) => Response::builder()
            .header("connection", "x-upstream-private")
            .header("x-upstream-private", "1")
            .header("keep-alive", "timeout=5")
            .header("x-kept", "yes")
            .body(full("hop"))
            .expect("valid response"),
        _ => {
            let headers: serde_json::Map<String, serde_json::Value> = request
                .headers()
                .keys()
                .map(|name| {
                    let values: Vec<_> = request
                        .headers()
                        .get_all(name)
                        .iter()
                        .map(|v| v.to_str().unwrap_or("").to_owned())
                        .collect();
                    (name.as_str().to_owned(), values.join(", ").into())
                })
                .collect();
            let body = serde_json::json!({
                "upstream": name,
                "method": request.method().as_str(),
                "uri": request.uri().to_string(),
                "version": format!("{:?}", request.version()),
                "headers": headers,
            });
            Response::builder()
                .header("content-type", "application/json")
                .body(full(body.to_string()))
                .expect("valid response")
        }
    };
    Ok(response)
}

/// An iterator as a stream, yielding between items so large bodies really stream.
fn futures_lite_iter<I>(iter: I) -> impl futures_core::Stream<Item = I::Item>
where
    I: Iterator + Unpin,
{
    struct Iter<I>(I);
    impl<I: Iterator + Unpin> futures_core::Stream for Iter<I> {
        type Item = I::Item;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<I::Item>> {
            std::task::Poll::Ready(self.0.next())
        }
    }
    Iter(iter)
}
