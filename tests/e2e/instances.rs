//! How tidegate speaks HTTP/1.1 to instances that frame their answers in every allowed
//! way, or close connections under it. The instances here are raw sockets, so each test
//! controls the exact bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{Tidegate, get, post};

/// A raw instance: reads one request head per loop turn, answers `answer`, and closes
/// the connection after the answer when `close_after` is set. Counts connections.
async fn raw_instance(answer: &'static [u8], close_after: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            counter.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                loop {
                    if read_request(&mut stream).await.is_none() {
                        return;
                    }
                    if stream.write_all(answer).await.is_err() || close_after {
                        return;
                    }
                }
            });
        }
    });
    (addr, connections)
}

/// Reads a request head and a `Content-Length` body; `None` at end of stream.
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let length = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(head)
}

fn config(endpoint: SocketAddr) -> String {
    crate::harness::one_function(endpoint, "", "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_delimited_answer_is_relayed_whole() {
    let (addr, connections) = raw_instance(
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
        true,
    )
    .await;
    let proxy = Tidegate::start(&config(addr));
    for _ in 0..3 {
        let answer = get(proxy.http, "x", "/").await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.text(), "until the end");
    }
    assert_eq!(
        connections.load(Ordering::Relaxed),
        3,
        "a close-delimited connection is never reused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_answer_is_decoded_and_reframed() {
    let (addr, _) = raw_instance(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nx-trailer: 1\r\n\r\n",
        false,
    )
    .await;
    let proxy = Tidegate::start(&config(addr));
    for _ in 0..3 {
        let answer = get(proxy.http, "x", "/").await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.text(), "Wikipedia");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_closes_after_each_answer_loses_no_request() {
    let (addr, connections) =
        raw_instance(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true).await;
    let proxy = Tidegate::start(&config(addr));
    // The instance closes without saying so (no `Connection: close`): tidegate pools the
    // connection, finds it closed on the next request, and retries on a fresh one.
    for i in 0..20 {
        let answer = get(proxy.http, "x", "/").await;
        assert_eq!(answer.status, 200, "request {i}: {}", answer.text());
        assert_eq!(answer.text(), "ok");
    }
    assert!(connections.load(Ordering::Relaxed) >= 20);
    // A request with a body cannot be replayed; it still succeeds because the stale
    // connection is detected before use.
    let answer = post(proxy.http, "x", "/", "payload").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_instance_connections_are_reused() {
    let (addr, connections) =
        raw_instance(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false).await;
    let proxy = Tidegate::start(&config(addr));
    for _ in 0..50 {
        assert_eq!(get(proxy.http, "x", "/").await.text(), "ok");
    }
    assert_eq!(
        connections.load(Ordering::Relaxed),
        1,
        "one worker, sequential requests: one connection"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbled_answer_is_upstream_unavailable() {
    let (addr, _) = raw_instance(b"this is not http\r\n\r\n", true).await;
    let proxy = Tidegate::start(&config(addr));
    let answer = get(proxy.http, "x", "/").await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.error_code(), "UPSTREAM_UNAVAILABLE");
}

/// `get`, failing the test instead of hanging when the answer's framing is wrong.
async fn get_in_time(proxy: &Tidegate) -> crate::harness::Answer {
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        get(proxy.http, "x", "/"),
    )
    .await
    .expect("a whole answer in time: its framing matches its body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_encoding_overrides_content_length_and_only_one_reaches_the_client() {
    // RFC 9112 §6.3: chunked wins, and an intermediary must drop the Content-Length before
    // passing the message on; otherwise the client reads 100 bytes of a 4-byte body and
    // takes the next answer on the connection for the rest of this one.
    let (addr, connections) = raw_instance(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 100\r\n\r\n4\r\nWiki\r\n0\r\n\r\n",
        false,
    )
    .await;
    let proxy = Tidegate::start(&config(addr));
    for _ in 0..2 {
        let answer = get_in_time(&proxy).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.text(), "Wiki");
        assert_ne!(
            answer
                .headers
                .get("content-length")
                .map(|v| v.to_str().unwrap_or("")),
            Some("100"),
            "the instance's Content-Length was dropped"
        );
    }
    assert_eq!(
        connections.load(Ordering::Relaxed),
        2,
        "a connection whose framing was ambiguous is not reused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_content_lengths_are_upstream_unavailable() {
    let (addr, _) = raw_instance(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nokxyz",
        true,
    )
    .await;
    let proxy = Tidegate::start(&config(addr));
    let answer = get_in_time(&proxy).await;
    assert_eq!(answer.status, 502, "{}", answer.text());
    assert_eq!(answer.error_code(), "UPSTREAM_UNAVAILABLE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_the_request_did_not_ask_for_is_upstream_unavailable() {
    // The request carried no `Upgrade`; a 101 leaves the connection speaking something
    // else, so it must neither reach the client nor go back to the pool.
    let (addr, connections) = raw_instance(
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n",
        false,
    )
    .await;
    let proxy = Tidegate::start(&config(addr));
    for _ in 0..2 {
        let answer = get_in_time(&proxy).await;
        assert_eq!(answer.status, 502, "{}", answer.text());
    }
    assert_eq!(connections.load(Ordering::Relaxed), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_idempotent_request_is_not_retried_after_the_instance_took_it() {
    // The instance answers its first request, then reads the second and closes without a
    // word, as a crashing function does: tidegate cannot tell whether the request ran.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                while read_request(&mut stream).await.is_some() {
                    let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
                    // Requests 2 and 4 are taken and dropped.
                    if n.is_multiple_of(2) {
                        return;
                    }
                    let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if stream.write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let proxy = Tidegate::start(&config(addr));

    assert_eq!(get(proxy.http, "x", "/").await.status, 200);
    let request = http::Request::post("/")
        .header("host", "x")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("a valid request");
    let answer = crate::harness::send(proxy.http, request).await;
    assert_eq!(answer.status, 502, "{}", answer.text());
    assert_eq!(
        requests.load(Ordering::Relaxed),
        2,
        "a POST is sent once: RFC 9110 §9.2.2 forbids a proxy to retry it"
    );

    // A GET in the same spot is retried on a fresh connection.
    assert_eq!(get(proxy.http, "x", "/").await.status, 200);
    let answer = get(proxy.http, "x", "/").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(requests.load(Ordering::Relaxed), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_stalled_mid_body_frees_its_slot() {
    // Promises 100 bytes, sends 10, then goes silent with the connection open.
    let (addr, _) = raw_instance(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
        false,
    )
    .await;
    let text = crate::harness::one_function(addr, "request_timeout = \"300ms\"", "");
    let proxy = Tidegate::start(&text);
    let mut stream = TcpStream::connect(proxy.http).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let mut received = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut received),
    )
    .await;
    assert!(
        read.is_ok(),
        "tidegate ends the stalled exchange instead of waiting forever"
    );
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.ends_with("0123456789"),
        "what the instance sent is relayed: {text}"
    );
    let state = crate::harness::function_state(proxy.admin, "f", None).await;
    assert_eq!(state["in_flight"], 0, "the instance's slot is free again");
}
