//! Answers the cache may not store, and what each refusal does to the key: a refusal that
//! comes from the response (a 304 bringing `Set-Cookie`, a zero lifetime) drops the
//! stored copy and turns collapsing off; one that comes from one request
//! (`Authorization`, `no-store`) does neither.

use std::sync::Arc;

use super::origin::Origin;
use super::{answered_meanwhile, get, outcome, request, slow_get, start, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_304_that_may_not_be_stored_answers_its_client_and_drops_the_copy() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    // (what the 304 brings, path): each stored with an ETag, then revalidated.
    let rows = [
        (
            "Set-Cookie",
            "/nm-cookie?cc=max-age%3D60&etag=%22e%22&cookie304=session%3Done",
        ),
        (
            "private",
            "/nm-private?cc=max-age%3D60&etag=%22e%22&cc304=private%2Cmax-age%3D60",
        ),
        (
            "no-store",
            "/nm-no-store?cc=max-age%3D60&etag=%22e%22&cc304=no-store",
        ),
    ];
    for (what, path) in rows {
        let before = origin.executions();
        let stored = get(&tidegate, path).await;
        assert_eq!(outcome(&stored), "MISS", "{what}");
        // The client's max-age=0 makes the fresh copy unusable: a conditional request.
        let revalidated = request(&tidegate, "GET", path, &[("cache-control", "max-age=0")]).await;
        assert_eq!(outcome(&revalidated), "REVALIDATED", "{what}");
        assert_eq!(revalidated.body, stored.body, "{what}: the stored body");
        if what == "Set-Cookie" {
            assert_eq!(
                revalidated.headers["set-cookie"], "session=one",
                "the client that caused the 304 gets its cookie"
            );
        }

        let next = get(&tidegate, path).await;
        assert_eq!(outcome(&next), "MISS", "{what}: the copy was dropped");
        assert!(
            !next.headers.contains_key("set-cookie"),
            "{what}: no later answer carries the cookie"
        );
        assert_eq!(origin.executions() - before, 3, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_of_one_request_keeps_the_stored_copy() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    // (what, the request's headers): each answer is refused because of the request.
    let rows: [(&str, &[(&str, &str)]); 2] = [
        (
            "Authorization",
            &[
                ("authorization", "Bearer x"),
                ("cache-control", "max-age=0"),
            ],
        ),
        (
            "request no-store",
            &[("cache-control", "no-store, max-age=0")],
        ),
    ];
    for (i, (what, headers)) in rows.into_iter().enumerate() {
        let path = format!("/one-request{i}?cc=max-age%3D60");
        let stored = get(&tidegate, &path).await;
        let refused = request(&tidegate, "GET", &path, headers).await;
        assert_eq!(outcome(&refused), "MISS", "{what}");
        let again = get(&tidegate, &path).await;
        assert_eq!(
            (outcome(&again), &again.body),
            ("HIT", &stored.body),
            "{what}: the stored copy is still served"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_of_one_request_keeps_collapsing_on() {
    let origin = Origin::start().await;
    let tidegate = Arc::new(start(&origin, ""));
    let path = "/collapsed-after-authorization?cc=max-age%3D60";
    let refused = request(&tidegate, "GET", path, &[("authorization", "Bearer x")]).await;
    assert_eq!(
        outcome(&refused),
        "MISS",
        "not stored for a request with Authorization"
    );

    // A leader in the function for 30 s; a second request waits for it rather than
    // going to the function on its own, as it would on a hit-for-miss key.
    let leader = tokio::spawn(slow_get(tidegate.clone(), path));
    wait_until("the leader reached the function", || async {
        origin.executions() == 2
    })
    .await;
    let waiter = tokio::spawn({
        let tidegate = tidegate.clone();
        async move { get(&tidegate, path).await }
    });
    let led = leader.await.expect("the leader's task runs");
    assert_eq!(outcome(&led), "MISS");
    let waited = waiter.await.expect("the waiter's task runs");
    assert_eq!(
        (outcome(&waited), &waited.body),
        ("HIT", &led.body),
        "the second request was answered from the leader's execution"
    );
    let status = waited.headers["cache-status"].to_str().expect("ASCII");
    assert!(
        status.starts_with("tidegate; hit; collapsed; ttl="),
        "RFC 9211's collapsed parameter: {status}"
    );
    assert_eq!(origin.executions(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_lifetime_without_validator_is_not_stored_and_skips_collapsing() {
    let origin = Origin::start().await;
    let tidegate = Arc::new(start(&origin, ""));
    let path = "/zero?cc=max-age%3D0";
    assert_eq!(outcome(&get(&tidegate, path).await), "MISS");

    // Nothing to collapse on: a request in the function for 30 s does not hold up the next.
    let slow = tokio::spawn(slow_get(tidegate.clone(), path));
    wait_until("the slow request reached the function", || async {
        origin.executions() == 2
    })
    .await;
    let quick = answered_meanwhile(&origin, get(&tidegate, path)).await;
    assert_eq!(outcome(&quick), "MISS");
    assert!(
        !quick.headers["cache-status"]
            .to_str()
            .unwrap()
            .contains("stored")
    );
    assert!(
        !slow.is_finished(),
        "the slow request is still in the function"
    );
    assert_eq!(origin.executions(), 3);
    slow.abort();
}
