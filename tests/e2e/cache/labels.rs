//! What a client is told the cache did: `x-tidegate-cache` and the RFC 9211
//! `Cache-Status`, on every answer of a cache-enabled function.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::origin::Origin;
use super::{get, outcome, request, start};
use crate::harness::{Answer, admin_get};

fn cache_status(answer: &Answer) -> &str {
    answer.headers["cache-status"]
        .to_str()
        .expect("an ASCII Cache-Status")
}

/// The `ttl` parameter of a served copy.
fn ttl(answer: &Answer) -> i64 {
    let status = cache_status(answer);
    let (_, ttl) = status
        .split_once("; ttl=")
        .unwrap_or_else(|| panic!("a ttl in {status:?}"));
    ttl.parse().expect("ttl is an integer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_status_follows_rfc_9211() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");

    // Misses say why they went to the function; a hit says how fresh it still is.
    let path = "/labels?cc=max-age%3D3600";
    let miss = get(&tidegate, path).await;
    assert_eq!(cache_status(&miss), "tidegate; fwd=uri-miss; stored");
    let hit = get(&tidegate, path).await;
    assert!(cache_status(&hit).starts_with("tidegate; hit; ttl="));
    // An hour less the copy's age: however slow the machine, well above zero.
    assert!((3000..=3600).contains(&ttl(&hit)), "{}", cache_status(&hit));

    // A variant not stored yet is a vary-miss.
    let varying = "/labels-vary?cc=max-age%3D60&vary=accept-language";
    request(&tidegate, "GET", varying, &[("accept-language", "fr")]).await;
    let de = request(&tidegate, "GET", varying, &[("accept-language", "de")]).await;
    assert_eq!(cache_status(&de), "tidegate; fwd=vary-miss; stored");

    // A method that is never cached, and a request the cache cannot take part in.
    let post = request(&tidegate, "POST", path, &[]).await;
    assert_eq!(
        (outcome(&post), cache_status(&post)),
        ("BYPASS", "tidegate; fwd=method")
    );
    let range = request(&tidegate, "GET", path, &[("range", "bytes=0-1")]).await;
    assert_eq!(
        (outcome(&range), cache_status(&range)),
        ("BYPASS", "tidegate; fwd=bypass")
    );

    // An error that forwarded nothing has no fwd.
    let missing = request(
        &tidegate,
        "GET",
        "/labels-nothing",
        &[("cache-control", "only-if-cached")],
    )
    .await;
    assert_eq!(missing.status, 504);
    assert_eq!(
        (outcome(&missing), cache_status(&missing)),
        ("MISS", "tidegate; detail=error")
    );

    // Errors of forwarded requests keep the reason they were forwarded, and their outcome.
    origin.stop();
    let post = request(&tidegate, "POST", path, &[]).await;
    assert_eq!(post.status, 502);
    assert_eq!(
        (outcome(&post), cache_status(&post)),
        ("BYPASS", "tidegate; fwd=method; detail=error")
    );
    let gone = get(&tidegate, "/labels-gone").await;
    assert_eq!(gone.status, 502);
    assert_eq!(
        (outcome(&gone), cache_status(&gone)),
        ("MISS", "tidegate; fwd=uri-miss; detail=error")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_switch_is_labelled_and_counted_as_a_bypass() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    let mut stream = TcpStream::connect(tidegate.http)
        .await
        .expect("connect to tidegate");
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: cache.test\r\nConnection: Upgrade\r\n\
              Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .expect("write the handshake");
    let head = crate::proxying::read_head(&mut stream)
        .await
        .to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "switched, got {head:?}");
    assert!(head.contains("x-tidegate-cache: bypass\r\n"), "{head}");
    assert!(
        head.contains("cache-status: tidegate; fwd=bypass\r\n"),
        "{head}"
    );

    let metrics = admin_get(tidegate.admin, "/metrics", None).await.text();
    assert!(
        metrics.contains(r#"tidegate_cache_requests_total{function="f",result="bypass"} 1"#),
        "{metrics}"
    );
}
