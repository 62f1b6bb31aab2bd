//! HTTP/1.1 details of tidegate's own plain-text server, spoken byte by byte.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::Tidegate;
use crate::upstream::Upstream;

async fn proxy() -> (Tidegate, Upstream) {
    proxy_with(r#"max_body_bytes = "1MiB""#).await
}

/// A proxy whose `[server]` section also has `server` (TOML lines).
async fn proxy_with(server: &str) -> (Tidegate, Upstream) {
    let upstream = Upstream::start("u").await;
    let config = format!(
        r#"
        [server]
        listen = ["127.0.0.1:0"]
        worker_threads = 1
        {server}
        [admin]
        listen = "127.0.0.1:0"
        [functions.f]
        endpoints = ["{}"]
        routes = [{{ path_prefix = "/" }}]
        "#,
        upstream.addr
    );
    (Tidegate::start(&config), upstream)
}

/// Sends `request` and reads until the connection closes (or `expect` bytes arrived).
async fn exchange(stream: &mut TcpStream, request: &[u8], until: &str) -> String {
    stream.write_all(request).await.expect("write request");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(until) {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let (proxy, _upstream) = proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let text = exchange(
        &mut stream,
        b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\n\r\nGET /third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "\"/third\"",
    )
    .await;
    let first = text.find("\"/first\"").expect("first answered");
    let second = text.find("\"/second\"").expect("second answered");
    let third = text.find("\"/third\"").expect("third answered");
    assert!(
        first < second && second < third,
        "answers in request order: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http10_clients_get_a_closing_answer() {
    let (proxy, _upstream) = proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let text = exchange(
        &mut stream,
        b"GET /old HTTP/1.0\r\nHost: x\r\n\r\n",
        "\u{0}",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(text.contains("\"/old\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_uploads_are_decoded_and_forwarded() {
    let (proxy, _upstream) = proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let text = exchange(
        &mut stream,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\n",
        "\u{0}",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let (_, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    assert_eq!(
        dechunk(body),
        "hello, world",
        "the body arrives decoded and whole: {text}"
    );
}

/// Decodes a chunked body (the echo answers in chunks as the upload arrives).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("a chunk-size line");
        let size = usize::from_str_radix(size, 16).expect("hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_continue_is_answered_before_the_body() {
    let (proxy, _upstream) = proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let interim = exchange(
        &mut stream,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        "\r\n\r\n",
    )
    .await;
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
    let text = exchange(&mut stream, b"ping", "ping").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_requests_get_no_body() {
    let (proxy, _upstream) = proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let text = exchange(&mut stream, b"HEAD /big/1000 HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "\"/after\"").await;
    let second = text
        .find("HTTP/1.1 200")
        .and_then(|first| text[first + 1..].find("HTTP/1.1 200"))
        .expect("two answers");
    assert!(
        !text[..second].contains("xxxx"),
        "the HEAD answer has no body: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_heads_get_json_errors() {
    let (proxy, upstream) = proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let text = exchange(
        &mut stream,
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n",
        "\u{0}",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert!(text.contains("\"BAD_REQUEST\""), "{text}");

    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let text = exchange(
        &mut stream,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "\u{0}",
    )
    .await;
    assert!(
        text.starts_with("HTTP/1.1 400"),
        "a smuggling attempt is refused: {text}"
    );

    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let mut huge = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..2000 {
        huge.extend_from_slice(format!("x-filler-{i}: {}\r\n", "y".repeat(40)).as_bytes());
    }
    huge.extend_from_slice(b"\r\n");
    let text = exchange(&mut stream, &huge, "\u{0}").await;
    assert!(
        text.starts_with("HTTP/1.1 431"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(text.contains("\"HEADERS_TOO_LARGE\""));
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_refused_without_100_continue_closes_the_connection() {
    // The client waits for `100 Continue` before sending its body and is told 413
    // instead: it may never send the body, so the bytes that follow on the connection
    // cannot be told apart from a next request.
    let (proxy, _upstream) = proxy_with(r#"max_body_bytes = "1KiB""#).await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let started = std::time::Instant::now();
    let text = exchange(
        &mut stream,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n",
        "\u{0}",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed at once, not after a timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_body_that_never_comes_does_not_hold_the_connection() {
    // The instance answers without reading the body; tidegate would skip the (small)
    // rest of it to keep the connection, but the client sends none.
    let (proxy, _upstream) = proxy_with(r#"header_read_timeout = "1s""#).await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let started = std::time::Instant::now();
    let text = exchange(
        &mut stream,
        b"POST /answers-at-once HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
        "\u{0}",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed after header_read_timeout, not held open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absolute_form_target_sets_the_host_the_instance_sees() {
    // RFC 9112 §3.2.2: the target's authority wins over `Host`, and a proxy forwards the
    // host it routed by, not the one it ignored.
    let (proxy, _upstream) = proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let text = exchange(
        &mut stream,
        b"GET http://alpha.test/abs HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
        "\u{0}",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let (_, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let seen: serde_json::Value = serde_json::from_str(body).expect("the instance's JSON");
    assert_eq!(seen["uri"], "/abs");
    assert_eq!(seen["headers"]["host"], "alpha.test");
    assert_eq!(seen["headers"]["x-forwarded-host"], "alpha.test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_host_headers_are_refused() {
    // RFC 9112 §3.2: routing reads one, the instance may read the other.
    let (proxy, upstream) = proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let text = exchange(
        &mut stream,
        b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n",
        "\u{0}",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert_eq!(upstream.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_upgrade_is_reframed_like_any_answer() {
    // The instance ignores `Upgrade` and streams an ordinary chunked answer, which
    // tidegate reads whole: the client must get one framing for it, not the instance's
    // `Transfer-Encoding: chunked` beside tidegate's `Content-Length`.
    let (proxy, _upstream) = proxy().await;
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    let text = exchange(
        &mut stream,
        b"GET /big/10 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "\u{0}",
    )
    .await;
    let (head, rest) = text.split_once("\r\n\r\n").expect("a first answer");
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{text}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(head.contains("content-length: 10"), "{head}");
    assert!(head.contains("x-request-id"), "{head}");
    assert!(
        rest.starts_with("xxxxxxxxxxHTTP/1.1 200"),
        "the next answer follows the body exactly: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_still_delivers_its_answer() {
    let (proxy, upstream) = proxy().await;
    let stream = TcpStream::connect(proxy.http).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    // A declared 8 MiB body against a 1 MiB limit, sent without waiting: tidegate answers
    // 413 at once, never forwards, and closes. (Its lingering close guards the answer
    // against a reset; on Linux loopback this test passes without it too, so it checks the
    // answer, not the linger.)
    let uploader = tokio::spawn(async move {
        let _ = write
            .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 8388608\r\n\r\n")
            .await;
        let chunk = vec![b'z'; 64 * 1024];
        for _ in 0..128 {
            if write.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    // Read only once the upload has run into the closed connection (or finished).
    let _ = tokio::time::timeout(Duration::from_millis(500), uploader).await;
    let mut answer = Vec::new();
    let read_all =
        tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "the answer arrives whole ({read_all:?}): {text}"
    );
    assert!(text.contains("\"BODY_TOO_LARGE\""), "{text}");
    assert_eq!(upstream.hits(), 0);
}
