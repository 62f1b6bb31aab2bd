//! The priority queue end to end: one instance with `container_concurrency = 1` and a
//! slow path, so every request after the first waits in the queue.

use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::harness::{Answer, Tidegate, function_state, get, get_with, one_function, wait_until};
use crate::upstream::Upstream;

/// One instance, one slot; `queue` is added to `[functions.f.queue]`.
fn single_slot(upstream: &Upstream, queue: &str) -> String {
    one_function(
        upstream.addr,
        "",
        &format!("[functions.f.scaling]\ncontainer_concurrency = 1\n[functions.f.queue]\n{queue}"),
    )
}

async fn queued(proxy: &Tidegate) -> u64 {
    function_state(proxy.admin, "f", None).await["queued"]
        .as_u64()
        .expect("queued is a count")
}

/// Holds the only slot with a slow request until it answers.
async fn hold_slot(proxy: &Tidegate, ms: u64) -> tokio::task::JoinHandle<Answer> {
    let http = proxy.http;
    let holder = tokio::spawn(async move { get(http, "x", &format!("/slow/{ms}")).await });
    wait_until("the slow request holds the slot", || async {
        function_state(proxy.admin, "f", None).await["in_flight"] == 1
    })
    .await;
    holder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_request_sent_after_many_low_ones_is_served_first() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&single_slot(&upstream, ""));
    let holder = hold_slot(&proxy, 3000).await;

    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let mut send_one = |name: &'static str, class: &'static str| {
        let (http, order) = (proxy.http, order.clone());
        tasks.push(tokio::spawn(async move {
            let answer = get_with(http, "x", "/slow/50", &[("x-tidegate-priority", class)]).await;
            order.lock().expect("order lock").push(name);
            answer
        }));
    };
    for (i, name) in ["low1", "low2", "low3", "low4", "low5"]
        .into_iter()
        .enumerate()
    {
        send_one(name, "low");
        wait_until("the low request is queued", || async {
            queued(&proxy).await == i as u64 + 1
        })
        .await;
    }
    send_one("high", "high");
    wait_until("the high request is queued", || async {
        queued(&proxy).await == 6
    })
    .await;

    // The admin API shows depth per class and the oldest wait.
    let state = function_state(proxy.admin, "f", None).await;
    assert_eq!(state["queue"]["depth"]["low"], 5);
    assert_eq!(state["queue"]["depth"]["high"], 1);
    assert!(
        state["queue"]["oldest_wait_seconds"]
            .as_f64()
            .expect("a wait")
            > 0.0
    );

    assert_eq!(holder.await.expect("holder").status, 200);
    for task in tasks {
        let answer = task.await.expect("queued request");
        assert_eq!(answer.status, 200);
        let timing = answer.headers["server-timing"].to_str().expect("ascii");
        assert!(timing.starts_with("queue;dur="), "Server-Timing: {timing}");
        assert!(timing.contains(", fn;dur="), "Server-Timing: {timing}");
    }
    let order = order.lock().expect("order lock").clone();
    assert_eq!(order, ["high", "low1", "low2", "low3", "low4", "low5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_queue_full_and_a_more_urgent_request_displaces() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&single_slot(&upstream, "max_depth = 1"));
    let holder = hold_slot(&proxy, 3000).await;
    let http = proxy.http;

    let low = tokio::spawn(async move {
        get_with(http, "x", "/low", &[("x-tidegate-priority", "low")]).await
    });
    wait_until("the low request is queued", || async {
        queued(&proxy).await == 1
    })
    .await;

    // Not more urgent than the low waiter: refused.
    let refused = get_with(http, "x", "/also-low", &[("x-tidegate-priority", "low")]).await;
    assert_eq!(refused.status, 503);
    assert_eq!(refused.error_code(), "QUEUE_FULL");
    assert!(refused.headers.contains_key("retry-after"));

    // More urgent: takes the low waiter's place, which is answered QUEUE_FULL.
    let high = tokio::spawn(async move {
        get_with(http, "x", "/high", &[("x-tidegate-priority", "high")]).await
    });
    let displaced = low.await.expect("low task");
    assert_eq!(displaced.status, 503);
    assert_eq!(displaced.error_code(), "QUEUE_FULL");
    let retry_after: u64 = displaced.headers["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!((1..=10).contains(&retry_after), "Retry-After {retry_after}");

    assert_eq!(holder.await.expect("holder").status, 200);
    assert_eq!(high.await.expect("high task").status, 200);
    assert_eq!(upstream.hits(), 2, "the holder and the high request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_past_its_timeout_gets_queue_timeout() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&single_slot(&upstream, "timeout = \"10s\""));
    let holder = hold_slot(&proxy, 1500).await;

    // The client asks for a shorter wait than configured.
    // Had its header been ignored, it would have waited for the holder and been served.
    let answer = get_with(
        proxy.http,
        "x",
        "/x",
        &[("x-tidegate-queue-timeout", "200ms")],
    )
    .await;
    assert_eq!(answer.status, 504);
    assert_eq!(answer.error_code(), "QUEUE_TIMEOUT");
    assert_eq!(queued(&proxy).await, 0, "it left the queue");

    holder.await.expect("holder");
    assert_eq!(upstream.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_while_queued_is_never_forwarded() {
    let upstream = Upstream::start("u").await;
    let proxy = Tidegate::start(&single_slot(&upstream, ""));
    let holder = hold_slot(&proxy, 3000).await;

    // Plain HTTP/1.1, with a body the proxy must not read while the request waits.
    let mut client = TcpStream::connect(proxy.http).await.expect("connect");
    client
        .write_all(b"POST /counted HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello")
        .await
        .expect("send the request");
    wait_until("the request is queued", || async {
        queued(&proxy).await == 1
    })
    .await;
    drop(client);
    wait_until("the request left the queue", || async {
        queued(&proxy).await == 0
    })
    .await;

    assert_eq!(holder.await.expect("holder").status, 200);
    // Anything forwarded would reach the upstream now that the slot is free.
    let after = get(proxy.http, "x", "/after").await;
    assert_eq!(after.status, 200);
    assert_eq!(
        upstream.hits(),
        2,
        "the holder and the request after, nothing else"
    );
}
