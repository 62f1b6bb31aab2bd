//! Routing, rewriting and streaming through the proxy.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Tidegate, get, post, send};
use crate::upstream::Upstream;

fn two_function_config(a: &Upstream, b: &Upstream) -> String {
    format!(
        r#"
        [server]
        listen = ["127.0.0.1:0"]
        worker_threads = 2
        max_body_bytes = "1GiB"
        [admin]
        listen = "127.0.0.1:0"

        [functions.alpha]
        endpoints = ["{a}"]
        routes = [
          {{ host = "alpha.test" }},
          {{ host = "*.wild.test" }},
          {{ path_prefix = "/alpha", strip_prefix = true }},
        ]

        [functions.beta]
        endpoints = ["{b}"]
        routes = [{{ path_prefix = "/beta" }}, {{ host = "alpha.test", path_prefix = "/beta-only" }}]
        "#,
        a = a.addr,
        b = b.addr
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_host_and_longest_path() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let proxy = Tidegate::start(&two_function_config(&a, &b));

    let cases = [
        ("alpha.test", "/anything", "a", "/anything"),
        ("ALPHA.test:8080", "/x?y=1", "a", "/x?y=1"),
        ("deep.wild.test", "/", "a", "/"),
        ("alpha.test", "/beta-only/q", "b", "/beta-only/q"),
        ("other.test", "/alpha/inner?q=1", "a", "/inner?q=1"),
        ("other.test", "/alpha", "a", "/"),
        ("other.test", "/beta/x", "b", "/beta/x"),
    ];
    for (host, path, upstream, forwarded_path) in cases {
        let answer = get(proxy.http, host, path).await;
        assert_eq!(answer.status, 200, "{host}{path}: {}", answer.text());
        let seen = answer.json();
        assert_eq!(
            seen["upstream"], upstream,
            "{host}{path} goes to {upstream}"
        );
        assert_eq!(
            seen["uri"], forwarded_path,
            "{host}{path} is forwarded as {forwarded_path}"
        );
    }

    for (host, path) in [
        ("other.test", "/alphabet"),
        ("wild.test", "/"),
        ("other.test", "/"),
    ] {
        let answer = get(proxy.http, host, path).await;
        assert_eq!(answer.status, 404, "{host}{path}");
        assert_eq!(answer.error_code(), "NO_ROUTE");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_headers_are_set_and_hop_by_hop_headers_removed() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let proxy = Tidegate::start(&two_function_config(&a, &b));

    let request = Request::get("/headers")
        .header("host", "alpha.test")
        .header("connection", "keep-alive, x-private")
        .header("x-private", "secret")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("proxy-connection", "keep-alive")
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-request-id", "req-123")
        .header("x-custom", "kept")
        .body(http_body_util::Empty::<Bytes>::new())
        .expect("valid request");
    let answer = send(proxy.http, request).await;
    assert_eq!(answer.status, 200);
    let headers = &answer.json()["headers"];
    assert_eq!(headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], "alpha.test");
    assert_eq!(headers["via"], "1.1 tidegate");
    assert_eq!(
        headers["x-request-id"], "req-123",
        "a client's request id is kept"
    );
    assert_eq!(headers["x-custom"], "kept");
    for removed in ["x-private", "keep-alive", "te", "proxy-connection"] {
        assert!(
            headers.get(removed).is_none(),
            "{removed} must not reach the instance: {headers}"
        );
    }
    assert_eq!(answer.headers["x-request-id"], "req-123");

    // Without a request id, one is generated and sent both ways.
    let answer = get(proxy.http, "alpha.test", "/").await;
    let generated = answer.headers["x-request-id"]
        .to_str()
        .expect("ascii id")
        .to_owned();
    assert_eq!(generated.len(), 24);
    assert_eq!(answer.json()["headers"]["x-request-id"], generated.as_str());
    // Server-Timing says how long the function took; nothing waited, so only `fn`.
    let timing = answer.headers["server-timing"].to_str().expect("ascii");
    let ms: f64 = timing
        .strip_prefix("fn;dur=")
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("Server-Timing: {timing}"));
    assert!(ms >= 0.0, "Server-Timing: {timing}");

    // Hop-by-hop headers of the instance's response are removed too.
    let answer = get(proxy.http, "alpha.test", "/hop").await;
    assert_eq!(answer.headers["x-kept"], "yes");
    for removed in ["x-upstream-private", "keep-alive"] {
        assert!(
            !answer.headers.contains_key(removed),
            "{removed} must not reach the client"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_both_ways() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let proxy = Tidegate::start(&two_function_config(&a, &b));

    // Upload: the echo comes back while the upload is still being written, which is only
    // possible if neither direction is buffered whole.
    let stream = TcpStream::connect(proxy.http).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(1);
    let body = StreamBody::new(tokio_stream(rx));
    let request = Request::post("/alpha/echo")
        .header("host", "x.test")
        .body(body)
        .expect("valid request");
    let response_future = tokio::spawn(async move { sender.send_request(request).await });

    let chunk = Bytes::from(vec![7u8; 256 * 1024]);
    tx.send(Ok(Frame::data(chunk.clone())))
        .await
        .expect("first chunk accepted");
    let response = response_future
        .await
        .expect("task")
        .expect("response head before the upload ends");
    let mut body = response.into_body();
    let mut received = 0usize;
    while received < chunk.len() {
        let frame = body
            .frame()
            .await
            .expect("echoed data while the upload is open")
            .expect("frame");
        received += frame.into_data().map_or(0, |d| d.len());
    }
    // Then send 64 MiB more and read it all back.
    let total_more = 256usize;
    let sending = tokio::spawn(async move {
        for _ in 0..total_more {
            tx.send(Ok(Frame::data(chunk.clone())))
                .await
                .expect("chunk accepted");
        }
    });
    while let Some(frame) = body.frame().await {
        received += frame.expect("frame").into_data().map_or(0, |d| d.len());
    }
    sending.await.expect("sender task");
    assert_eq!(received, 257 * 256 * 1024);

    // Download: 100 MiB from the instance.
    let answer = get(proxy.http, "alpha.test", "/big/104857600").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.len(), 104_857_600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_are_served() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let proxy = Tidegate::start(&two_function_config(&a, &b));

    let stream = TcpStream::connect(proxy.http).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("h2c handshake");
    tokio::spawn(connection);
    // Several concurrent streams on the one connection.
    let mut streams = Vec::new();
    for i in 0..10 {
        let request = Request::get(format!("http://alpha.test/stream/{i}"))
            .body(http_body_util::Empty::<Bytes>::new())
            .expect("valid request");
        streams.push(sender.send_request(request));
    }
    for (i, response) in streams.into_iter().enumerate() {
        let answer = crate::harness::collect(response.await.expect("h2 response")).await;
        assert_eq!(answer.status, 200);
        let seen = answer.json();
        assert_eq!(seen["uri"], format!("/stream/{i}"));
        assert_eq!(
            seen["version"], "HTTP/1.1",
            "instances are spoken to in HTTP/1.1"
        );
        assert_eq!(seen["headers"]["host"], "alpha.test");
        assert_eq!(seen["headers"]["via"], "2 tidegate");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrades_pass_through() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let proxy = Tidegate::start(&two_function_config(&a, &b));

    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: alpha.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        .await
        .expect("write handshake");
    let head = read_head(&mut stream).await;
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "switching protocols, got {head:?}"
    );
    assert!(head.to_ascii_lowercase().contains("upgrade: websocket"));

    for message in [&b"hello"[..], b"second frame"] {
        stream
            .write_all(message)
            .await
            .expect("write on the tunnel");
        let mut echoed = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut echoed))
            .await
            .expect("echo arrives")
            .expect("read echo");
        assert_eq!(echoed, message);
    }

    let metrics = crate::harness::admin_get(proxy.admin, "/metrics", None)
        .await
        .text();
    assert!(
        metrics.contains(r#"tidegate_requests_total{function="alpha",status="101"} 1"#),
        "a protocol switch is counted: {metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connections_carry_many_requests() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let proxy = Tidegate::start(&two_function_config(&a, &b));
    let stream = TcpStream::connect(proxy.http).await.expect("connect");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    for i in 0..200 {
        sender.ready().await.expect("connection stays open");
        let request = Request::get(format!("/beta/{i}"))
            .header("host", "t")
            .body(http_body_util::Empty::<Bytes>::new())
            .expect("valid");
        let answer =
            crate::harness::collect(sender.send_request(request).await.expect("response")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json()["uri"], format!("/beta/{i}"));
    }
    assert_eq!(b.hits(), 200);
    let _ = post(proxy.http, "t", "/beta/p", "x").await;
}

pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("head arrives")
            .expect("read");
        if n == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn tokio_stream<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_core::Stream<Item = T> + Send {
    struct Rx<T>(tokio::sync::mpsc::Receiver<T>);
    impl<T> futures_core::Stream for Rx<T> {
        type Item = T;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
    let _ = &mut rx;
    Rx(rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_spread_to_the_least_loaded_instance() {
    let (a, b) = (Upstream::start("a").await, Upstream::start("b").await);
    let config = format!(
        r#"
        [server]
        listen = ["127.0.0.1:0"]
        worker_threads = 2
        [admin]
        listen = "127.0.0.1:0"
        [functions.f]
        endpoints = ["{}", "{}"]
        routes = [{{ path_prefix = "/" }}]
        "#,
        a.addr, b.addr
    );
    let proxy = Tidegate::start(&config);
    let http = proxy.http;
    let slow: Vec<_> = (0..6)
        .map(|_| tokio::spawn(async move { get(http, "x", "/slow/800").await }))
        .collect();
    crate::harness::wait_until("six requests are in flight", || async {
        crate::harness::function_state(proxy.admin, "f", None).await["in_flight"] == 6
    })
    .await;
    let fleet = crate::harness::function_state(proxy.admin, "f", None).await["fleet"].clone();
    let loads: Vec<u64> = fleet
        .as_array()
        .expect("fleet")
        .iter()
        .map(|i| i["in_flight"].as_u64().expect("count"))
        .collect();
    assert_eq!(
        loads,
        [3, 3],
        "least-in-flight routing balances concurrent requests"
    );
    for request in slow {
        assert_eq!(request.await.expect("task").status, 200);
    }
    assert_eq!((a.hits(), b.hits()), (3, 3));
}
