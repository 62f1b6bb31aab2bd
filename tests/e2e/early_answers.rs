//! Instances that answer before they have read the whole request body: tidegate relays
//! the answer, and what is left of the body neither holds the instance's connection nor
//! spills into the client's next request.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::harness::Tidegate;
use crate::proxying::read_head;

fn config(endpoint: std::net::SocketAddr) -> String {
    crate::harness::one_function(endpoint, "", "")
}

/// Reads a head byte by byte, leaving any body unread.
async fn read_head_only(stream: &mut TcpStream) -> Option<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_sent_while_the_body_is_still_arriving_reaches_the_client() {
    // The instance refuses on the head alone and closes without reading the body, as
    // servers with a body limit do: tidegate's next write of the body fails, and the
    // answer already received is still what the client gets.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if read_head_only(&mut stream).await.is_some() {
                    let _ = stream
                        .write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
                        .await;
                }
            });
        }
    });
    let proxy = Tidegate::start(&config(addr));

    let stream = TcpStream::connect(proxy.http).await.expect("connect");
    let (mut read, mut write) = stream.into_split();
    let size = 8 << 20;
    tokio::spawn(async move {
        let head = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n");
        if write.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b'b'; 64 * 1024];
        for _ in 0..size / chunk.len() {
            // Fails once tidegate has answered and closed; that is expected.
            if write.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), read.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "an answer before the close");
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "the instance's own answer, not a 502: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_of_an_answered_body_is_not_sent_on_and_the_next_request_is_whole() {
    // First connection: answer at once, then report whether tidegate lets it go. Later
    // connections: echo each request's body.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (released_tx, released_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut first, _) = listener.accept().await.expect("a first connection");
        tokio::spawn(async move {
            read_head_only(&mut first).await.expect("a request head");
            first
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
                .await
                .expect("write the early answer");
            let mut sink = [0u8; 1024];
            let released = tokio::time::timeout(Duration::from_secs(5), async {
                while first.read(&mut sink).await.is_ok_and(|n| n > 0) {}
            })
            .await
            .is_ok();
            let _ = released_tx.send(released);
        });
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                while read_head_only(&mut stream).await.is_some() {
                    // Every later request is `Content-Length: 5`; echo its body.
                    let mut body = [0u8; 5];
                    if stream.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let mut answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec();
                    answer.extend_from_slice(&body);
                    if stream.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let proxy = Tidegate::start(&config(addr));

    let mut client = TcpStream::connect(proxy.http).await.expect("connect");
    client
        .write_all(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        .await
        .expect("write the first half");
    let head = read_head(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut early = [0u8; 5];
    client.read_exact(&mut early).await.expect("the early body");
    assert_eq!(&early, b"early");

    assert!(
        released_rx
            .await
            .expect("the first instance connection reports"),
        "once the answer is relayed, the instance's connection is closed, not held open \
         by a task waiting for the rest of a body no one will read"
    );

    client
        .write_all(b"67890POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        .await
        .expect("write the rest and a second request");
    let mut rest = String::new();
    tokio::time::timeout(Duration::from_secs(10), client.read_to_string(&mut rest))
        .await
        .expect("the second answer in time")
        .expect("read");
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest}");
    assert!(
        rest.ends_with("\r\n\r\nhello"),
        "the second request's body reached the instance whole: {rest}"
    );
}
