//! Stale copies: revalidated with `ETag` or `Last-Modified`, refreshed in the background
//! (RFC 5861 `stale-while-revalidate`), and served when the function fails or has no
//! instance and cannot start one (`stale-if-error`).

use std::time::Duration;

use http::Method;

use super::origin::Origin;
use super::{answered_meanwhile, get, outcome, request, slow_get, start, wait_until};
use crate::harness::{TempDir, Tidegate, function_binary, function_state, process_function};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_while_revalidate_answers_at_once_and_refreshes_once() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    let tidegate = std::sync::Arc::new(tidegate);
    // `slow` is refreshed by a request that takes 30 s in the function, `quick` by one
    // that does not.
    let slow = "/swr-slow?cc=max-age%3D1%2Cstale-while-revalidate%3D60";
    let quick = "/swr-quick?cc=max-age%3D1%2Cstale-while-revalidate%3D60";
    assert_eq!(get(&tidegate, slow).await.body, "exec 1");
    assert_eq!(get(&tidegate, quick).await.body, "exec 2");
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // The refresh carries the client's headers: this one sleeps 30 s in the function.
    let stale = answered_meanwhile(&origin, slow_get(tidegate.clone(), slow)).await;
    assert_eq!(
        (outcome(&stale), &stale.body[..]),
        ("STALE", &b"exec 1"[..])
    );
    wait_until("the refresh reached the function", || async {
        origin.executions() == 3
    })
    .await;
    let again = answered_meanwhile(&origin, get(&tidegate, slow)).await;
    assert_eq!(outcome(&again), "STALE", "answered while the refresh runs");
    assert_eq!(origin.executions(), 3, "one refresh at a time");

    assert_eq!(outcome(&get(&tidegate, quick).await), "STALE");
    wait_until("the background refresh stored a new copy", || async {
        outcome(&get(&tidegate, quick).await) == "HIT"
    })
    .await;
    assert_eq!(origin.executions(), 4, "one background refresh each");
    assert_eq!(get(&tidegate, quick).await.body, "exec 4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_if_error_serves_when_the_instances_are_gone() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    let allowed = "/sie?cc=max-age%3D1%2Cstale-if-error%3D60";
    let forbidden = "/sie?cc=max-age%3D1%2Cstale-if-error%3D60%2Cmust-revalidate";
    get(&tidegate, allowed).await;
    get(&tidegate, forbidden).await;
    origin.stop();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let stale = get(&tidegate, allowed).await;
    assert_eq!((stale.status.as_u16(), outcome(&stale)), (200, "STALE"));
    assert_eq!(stale.body, "exec 1");
    let refused = get(&tidegate, forbidden).await;
    assert_eq!(refused.status, 502, "must-revalidate forbids stale answers");
    assert_eq!(outcome(&refused), "MISS", "errors are labelled too");
    assert_eq!(
        refused.headers["cache-status"], "tidegate; fwd=stale; detail=error",
        "the request was forwarded, and failed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_copies_are_revalidated_with_their_etag() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    let path = "/reval?cc=max-age%3D1&etag=%22e1%22";
    assert_eq!(outcome(&get(&tidegate, path).await), "MISS");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let revalidated = get(&tidegate, path).await;
    assert_eq!(outcome(&revalidated), "REVALIDATED");
    assert_eq!(
        revalidated.body, "exec 1",
        "the stored body, validated by a 304"
    );
    assert_eq!(
        outcome(&get(&tidegate, path).await),
        "HIT",
        "fresh again after the 304"
    );
    assert_eq!(origin.executions(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_in_the_stale_window_refreshes_with_a_get() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    let path = "/swr-head?cc=max-age%3D1%2Cstale-while-revalidate%3D60";
    let stored = get(&tidegate, path).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let head = request(&tidegate, "HEAD", path, &[]).await;
    assert_eq!(outcome(&head), "STALE");
    assert!(head.body.is_empty());
    assert_eq!(
        head.headers["content-length"],
        stored.body.len().to_string().as_str()
    );
    let status = head.headers["cache-status"].to_str().expect("ASCII");
    let ttl: i64 = status
        .rsplit_once("; ttl=")
        .and_then(|(_, ttl)| ttl.parse().ok())
        .unwrap_or_else(|| panic!("a ttl in {status:?}"));
    assert!(ttl < 0, "a stale copy has a negative ttl: {status}");

    wait_until("the background refresh reached the function", || async {
        origin.executions() == 2
    })
    .await;
    assert_eq!(
        origin.methods(),
        [Method::GET, Method::GET],
        "the refresh is a GET"
    );
    wait_until("the refresh stored a new copy", || async {
        outcome(&get(&tidegate, path).await) == "HIT"
    })
    .await;
    assert_eq!(get(&tidegate, path).await.body, "exec 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_copies_are_revalidated_with_last_modified() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    // No ETag: If-Modified-Since is the only validator.
    let path = "/lm?cc=max-age%3D60&lm=Tue%2C%2006%20Nov%201984%2008%3A49%3A37%20GMT";
    assert_eq!(outcome(&get(&tidegate, path).await), "MISS");
    let revalidated = request(&tidegate, "GET", path, &[("cache-control", "no-cache")]).await;
    assert_eq!(outcome(&revalidated), "REVALIDATED");
    assert_eq!(
        revalidated.body, "exec 1",
        "the stored body, validated by a 304"
    );
    assert_eq!(origin.executions(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_if_error_serves_when_the_function_cannot_start_an_instance() {
    // The first instance answers two requests and exits; every later start fails.
    let dir = TempDir::new();
    let started = dir.0.join("started");
    let script = format!(
        "if [ -e {started} ]; then echo cannot start >&2; exit 3; fi; \
         touch {started}; exec {function} --crash-after 2",
        started = started.display(),
        function = function_binary().display(),
    );
    let config = process_function("", "")
        .replace(
            &format!("command = [\"{}\"]", function_binary().display()),
            &format!("command = [\"sh\", \"-c\", {script:?}]"),
        )
        .replace(
            "[functions.f.scaling]",
            "[functions.f.cache]\nenabled = true\n[functions.f.scaling]",
        );
    let tidegate = Tidegate::start_in(dir, &config);
    let host = "f.test";
    let allowed = "/?cache-control=max-age%3D1%2C%20stale-if-error%3D60";
    let forbidden = "/?cache-control=max-age%3D1%2C%20stale-if-error%3D60%2C%20must-revalidate";
    let stored = crate::harness::get(tidegate.http, host, allowed).await;
    assert_eq!(stored.status, 200);
    assert_eq!(
        crate::harness::get(tidegate.http, host, forbidden)
            .await
            .status,
        200
    );
    wait_until("the instance exited", || async {
        let state = function_state(tidegate.admin, "f", None).await;
        state["instances"]["ready"] == 0 && state["instances"]["starting"] == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let stale = crate::harness::get(tidegate.http, host, allowed).await;
    assert_eq!((stale.status.as_u16(), outcome(&stale)), (200, "STALE"));
    assert_eq!(stale.body, stored.body);
    assert_eq!(
        stale.headers["cache-status"]
            .to_str()
            .expect("ASCII")
            .split("; ttl=")
            .next(),
        Some("tidegate; fwd=stale; detail=stale-if-error")
    );

    let refused = crate::harness::get(tidegate.http, host, forbidden).await;
    assert_eq!(
        refused.status, 503,
        "must-revalidate forbids the stale copy"
    );
    assert_eq!(refused.error_code(), "SCALE_FAILED");
    assert_eq!(
        refused.headers["cache-status"], "tidegate; detail=error",
        "nothing was forwarded"
    );
}
