//! Every client-facing error code, produced by the real binary.

use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::StreamBody;
use hyper::body::Frame;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::harness::{Tidegate, function_state, get, post, send, wait_until};
use crate::proxying::read_head;
use crate::upstream::{Upstream, refusing_addr};

fn config(endpoint: std::net::SocketAddr, extra_server: &str, extra_function: &str) -> String {
    crate::harness::one_function(endpoint, extra_server, extra_function)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route() {
    let upstream = Upstream::start("u").await;
    let text =
        config(upstream.addr, "", "").replace(r#"path_prefix = "/""#, r#"path_prefix = "/only""#);
    let proxy = Tidegate::start(&text);
    let answer = get(proxy.http, "x", "/elsewhere").await;
    assert_eq!(answer.status, 404);
    let json = answer.json();
    assert_eq!(json["error"]["code"], "NO_ROUTE");
    assert!(
        json["error"]["function"].is_null(),
        "no function was matched"
    );
    assert_eq!(
        json["error"]["request_id"],
        answer.headers["x-request-id"].to_str().expect("ascii")
    );
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_full_and_queue_timeout() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&config(
        upstream.addr,
        "",
        "[functions.f.scaling]\ncontainer_concurrency = 1\n[functions.f.queue]\nmax_depth = 1\ntimeout = \"400ms\"",
    ));
    let http = proxy.http;

    // One request holds the only slot...
    let slow = tokio::spawn(async move { get(http, "x", "/slow/1500").await });
    wait_until("the slow request is in flight", || async {
        function_state(proxy.admin, "f", None).await["in_flight"] == 1
    })
    .await;
    // ...one waits in the queue (and times out)...
    let queued = tokio::spawn(async move { get(http, "x", "/queued").await });
    wait_until("a request is queued", || async {
        function_state(proxy.admin, "f", None).await["queued"] == 1
    })
    .await;
    // ...and one more finds the queue full.
    let full = get(http, "x", "/rejected").await;
    assert_eq!(full.status, 503);
    assert_eq!(full.error_code(), "QUEUE_FULL");
    assert_eq!(full.json()["error"]["function"], "f");
    let retry_after: u64 = full.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(retry_after >= 1);

    let timed_out = queued.await.expect("queued task");
    assert_eq!(timed_out.status, 504);
    assert_eq!(timed_out.error_code(), "QUEUE_TIMEOUT");
    assert_eq!(slow.await.expect("slow task").status, 200);
    assert_eq!(
        upstream.hits(),
        1,
        "neither refused request reached the instance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_request_gets_the_freed_slot() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&config(
        upstream.addr,
        "",
        "[functions.f.scaling]\ncontainer_concurrency = 1",
    ));
    let http = proxy.http;
    let slow = tokio::spawn(async move { get(http, "x", "/slow/300").await });
    wait_until("the slow request is in flight", || async {
        function_state(proxy.admin, "f", None).await["in_flight"] == 1
    })
    .await;
    let queued = get(http, "x", "/after").await;
    assert_eq!(queued.status, 200);
    assert_eq!(queued.json()["uri"], "/after");
    assert_eq!(slow.await.expect("slow task").status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_unavailable() {
    let proxy = Tidegate::start(&config(refusing_addr().await, "", ""));
    let answer = get(proxy.http, "x", "/").await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.error_code(), "UPSTREAM_UNAVAILABLE");
    assert!(
        !answer.text().contains("refused"),
        "upstream error text never reaches a client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_timeout() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&config(upstream.addr, "request_timeout = \"300ms\"", ""));
    let answer = get(proxy.http, "x", "/slow/5000").await;
    assert_eq!(answer.status, 504);
    assert_eq!(answer.error_code(), "UPSTREAM_TIMEOUT");
    // The instance's slot is released: a fast request still goes through.
    assert_eq!(get(proxy.http, "x", "/fast").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_too_large_declared_and_streamed() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&config(upstream.addr, "max_body_bytes = \"1KiB\"", ""));

    let declared = post(proxy.http, "x", "/echo", vec![b'a'; 2048]).await;
    assert_eq!(declared.status, 413);
    assert_eq!(declared.error_code(), "BODY_TOO_LARGE");
    assert_eq!(
        upstream.hits(),
        0,
        "a declared oversize body is refused before forwarding"
    );

    // Chunked: the size is known only while streaming.
    let chunks =
        (0..4).map(|_| Ok::<_, std::io::Error>(Frame::data(Bytes::from(vec![b'b'; 1000]))));
    let body = StreamBody::new(IterStream(chunks));
    let request = Request::post("/echo")
        .header("host", "x")
        .body(body)
        .expect("valid request");
    let streamed = send(proxy.http, request).await;
    assert_eq!(streamed.status, 413, "got {}", streamed.text());
    assert_eq!(streamed.error_code(), "BODY_TOO_LARGE");

    let fits = post(proxy.http, "x", "/echo", vec![b'c'; 1024]).await;
    assert_eq!(fits.status, 200);
    assert_eq!(fits.body.len(), 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_request_without_host() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&config(upstream.addr, "", ""));
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .await
        .expect("write");
    let head = read_head(&mut stream).await;
    assert!(
        head.starts_with("HTTP/1.0 400") || head.starts_with("HTTP/1.1 400"),
        "got {head:?}"
    );
    assert!(head.contains("application/json"));
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&config(
        upstream.addr,
        "header_read_timeout = \"200ms\"\nidle_timeout = \"60s\"",
        "",
    ));
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("a partial head");
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut stream, &mut buf),
    )
    .await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "tidegate closes the connection: {closed:?}"
    );
}

struct IterStream<I>(I);

impl<I: Iterator + Unpin> futures_core::Stream for IterStream<I> {
    type Item = I::Item;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<I::Item>> {
        std::task::Poll::Ready(self.0.next())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_failed_when_no_instance_can_be_started() {
    let text = r#"
        [server]
        listen = ["127.0.0.1:0"]
        [admin]
        listen = "127.0.0.1:0"
        [functions.f]
        command = ["false"]
        routes = [{ path_prefix = "/" }]
    "#;
    let proxy = Tidegate::start(text);
    let answer = get(proxy.http, "x", "/").await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.error_code(), "SCALE_FAILED");
    assert_eq!(answer.json()["error"]["function"], "f");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&config(
        upstream.addr,
        "header_read_timeout = \"10s\"\nidle_timeout = \"300ms\"",
        "",
    ));
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    stream
        .write_all(b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("a request");
    let head = read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The body follows the head; read until the connection closes on its own.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut rest),
    )
    .await;
    assert!(read.is_ok(), "the idle connection is closed by tidegate");
}
