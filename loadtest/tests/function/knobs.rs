//! Every per-request knob, by query parameter and by `x-fn-*` header, over HTTP/1.1 and h2c.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;

use crate::support::{Instance, empty, eventually, feed, full};

const LATENCY_HEADER: &str = "x-fn-latency-us";

fn drawn_latency_us(reply: &crate::support::Reply) -> u64 {
    reply.headers[LATENCY_HEADER]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("a request with a latency knob reports the latency drawn")
}

#[tokio::test]
async fn the_default_answer_is_the_greeting() {
    let instance = Instance::start(&[]).await;
    let reply = instance.get("/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "hello world\n");
    assert_eq!(reply.headers["content-length"], "12");
    assert_eq!(reply.headers["content-type"], "text/plain");
}

#[tokio::test]
async fn h2c_with_prior_knowledge_is_served() {
    let instance = Instance::start(&[]).await;
    let uri = format!("http://{}/some/path?echo=headers", instance.addr);
    let reply = instance
        .send_h2(Request::get(uri).body(empty()).expect("a valid request"))
        .await;
    let head: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON");
    assert_eq!(head["version"], "HTTP/2.0");
    assert_eq!(head["path"], "/some/path");
    assert_eq!(head["authority"], instance.addr.to_string());
}

#[tokio::test]
async fn a_fixed_latency_delays_the_answer() {
    let instance = Instance::start(&[]).await;
    let reply = instance.get("/?latency=100ms").await;
    assert_eq!(drawn_latency_us(&reply), 100_000);
    assert!(
        reply.elapsed >= Duration::from_millis(100),
        "{:?}",
        reply.elapsed
    );

    let reply = instance
        .send(
            Request::get("/")
                .header("x-fn-latency", "30ms")
                .body(empty())
                .expect("a valid request"),
        )
        .await;
    assert_eq!(drawn_latency_us(&reply), 30_000);
}

#[tokio::test]
async fn uniform_and_exponential_latencies_are_drawn_per_request() {
    let instance = Instance::start(&[]).await;
    let mut uniform = Vec::new();
    let mut exponential = Vec::new();
    for _ in 0..20 {
        uniform.push(drawn_latency_us(
            &instance.get("/?latency=uniform:1ms..5ms").await,
        ));
        exponential.push(drawn_latency_us(&instance.get("/?latency=exp:1ms").await));
    }
    assert!(
        uniform.iter().all(|us| (1_000..=5_000).contains(us)),
        "{uniform:?}"
    );
    assert!(
        uniform.iter().any(|us| *us != uniform[0]),
        "draws vary: {uniform:?}"
    );
    assert!(
        exponential.iter().any(|us| *us != exponential[0]),
        "{exponential:?}"
    );
}

#[tokio::test]
async fn cpu_burns_processor_time() {
    let instance = Instance::start(&[]).await;
    let before = instance.cpu_ticks();
    let reply = instance.get("/?cpu=400ms").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.elapsed >= Duration::from_millis(400),
        "{:?}",
        reply.elapsed
    );
    // 400 ms of busy loop is 40 ticks on an idle core, fewer when other processes share
    // it (the loop runs on wall time); a knob that slept would use next to none.
    let used = instance.cpu_ticks() - before;
    assert!(used >= 10, "the instance used only {used} ticks of CPU");
}

#[tokio::test]
async fn mem_is_resident_while_the_request_runs_and_freed_after() {
    let instance = Instance::start(&[]).await;
    let base = instance.rss();
    let held = 64 << 20;

    let request = instance.get("/?mem=64MiB&latency=1s");
    let mut request = std::pin::pin!(request);
    let mut peak = base;
    loop {
        tokio::select! {
            reply = &mut request => {
                assert_eq!(reply.status, StatusCode::OK);
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(5)) => {
                peak = peak.max(instance.rss());
            }
        }
    }
    assert!(
        peak >= base + held * 9 / 10,
        "peak RSS {peak} from a base of {base}"
    );
    eventually("the memory is returned", || async {
        instance.rss() < base + held / 2
    })
    .await;
}

#[tokio::test]
async fn size_sets_the_body_length() {
    let instance = Instance::start(&[]).await;
    for (knob, len) in [("100000", 100_000), ("1KiB", 1024), ("0", 0)] {
        let reply = instance.get(&format!("/?size={knob}")).await;
        assert_eq!(reply.body.len(), len);
        assert!(reply.body.iter().all(|b| *b == b'x'));
        assert_eq!(reply.headers["content-length"], len.to_string());
    }
}

#[tokio::test]
async fn status_sets_the_status() {
    let instance = Instance::start(&[]).await;
    assert_eq!(instance.get("/?status=503").await.status, 503);
    assert_eq!(instance.get("/?status=204").await.status, 204);
    assert_eq!(instance.get("/?status=99").await.status, 400);
}

#[tokio::test]
async fn caching_headers_are_set_from_query_and_headers() {
    let instance = Instance::start(&[]).await;
    let request =
        Request::get("/?cache-control=public%2C%20max-age%3D60&etag=%22v1%22&vary=accept-encoding")
            .header("x-fn-last-modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            .header("x-fn-cache-tag", "product-7")
            .body(empty())
            .expect("a valid request");
    let reply = instance.send(request).await;
    assert_eq!(reply.headers["cache-control"], "public, max-age=60");
    assert_eq!(reply.headers["etag"], "\"v1\"");
    assert_eq!(reply.headers["vary"], "accept-encoding");
    assert_eq!(
        reply.headers["last-modified"],
        "Wed, 21 Oct 2015 07:28:00 GMT"
    );
    assert_eq!(reply.headers["cache-tag"], "product-7");
}

#[tokio::test]
async fn a_header_knob_overrides_the_query() {
    let instance = Instance::start(&[]).await;
    let request = Request::get("/?size=5")
        .header("x-fn-size", "7")
        .body(empty())
        .expect("a valid request");
    assert_eq!(instance.send(request).await.body.len(), 7);
}

#[tokio::test]
async fn a_bad_knob_is_a_400_that_names_it() {
    let instance = Instance::start(&[]).await;
    let reply = instance.get("/?mem=lots").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.starts_with(b"knob mem:"), "{:?}", reply.body);
}

#[tokio::test]
async fn echo_returns_the_body() {
    let instance = Instance::start(&[]).await;
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let request = Request::post("/upload?echo=1")
        .header("content-type", "application/x-test")
        .body(full(payload.clone()))
        .expect("a valid request");
    let reply = instance.send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/x-test");
    assert_eq!(reply.body, payload);
}

#[tokio::test]
async fn echo_streams_each_chunk_back_before_the_body_ends() {
    let instance = Instance::start(&[]).await;
    let (sender, body) = feed();
    let request = Request::post("/").header("x-fn-echo", "1").body(body);
    let response = instance
        .open(request.expect("a valid request"))
        .await
        .expect("the head comes back before the body ends");
    let mut echoed = response.into_body();

    for chunk in ["first", "second"] {
        sender
            .send(Bytes::from(chunk))
            .await
            .expect("the request body is open");
        let frame = echoed.frame().await.expect("a frame").expect("no error");
        assert_eq!(frame.into_data().expect("a data frame"), chunk);
    }
    drop(sender);
    assert!(
        echoed.frame().await.is_none(),
        "the echo ends with the request body"
    );
}

#[tokio::test]
async fn echo_headers_describes_the_request_head() {
    let instance = Instance::start(&[]).await;
    let request = Request::put("/items/7?echo=headers&x=1")
        .header("x-trace", "a")
        .header("x-trace", "b")
        .body(full("12345"))
        .expect("a valid request");
    let reply = instance.send(request).await;
    assert_eq!(reply.headers["content-type"], "application/json");
    let head: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON");
    assert_eq!(head["method"], "PUT");
    assert_eq!(head["path"], "/items/7");
    assert_eq!(head["query"], "echo=headers&x=1");
    assert_eq!(head["version"], "HTTP/1.1");
    assert_eq!(head["headers"]["x-trace"], "a, b");
    assert_eq!(head["headers"]["host"], instance.addr.to_string());
    assert_eq!(head["body_bytes"], 5);
}
