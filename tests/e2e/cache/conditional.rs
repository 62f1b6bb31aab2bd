//! A client's own conditional request against a fresh stored copy (RFC 9111 §4.3.2): a
//! `304` from the cache when the copy meets it, the stored `200` when it does not, and
//! the function is not asked either way.

use super::origin::Origin;
use super::{get, outcome, request, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_s_own_conditions_on_a_fresh_copy_are_answered_by_the_cache() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    let lm = "Tue, 06 Nov 1984 08:49:37 GMT";
    let path =
        "/cond?cc=max-age%3D60&etag=%22v1%22&lm=Tue%2C%2006%20Nov%201984%2008%3A49%3A37%20GMT";
    let stored = get(&tidegate, path).await;

    let unchanged = request(&tidegate, "GET", path, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(
        (unchanged.status.as_u16(), outcome(&unchanged)),
        (304, "HIT")
    );
    assert!(unchanged.body.is_empty());
    assert_eq!(unchanged.headers["etag"], "\"v1\"");

    let changed = request(&tidegate, "GET", path, &[("if-none-match", "\"v0\"")]).await;
    assert_eq!((changed.status.as_u16(), outcome(&changed)), (200, "HIT"));
    assert_eq!(changed.body, stored.body);

    let since = request(&tidegate, "GET", path, &[("if-modified-since", lm)]).await;
    assert_eq!((since.status.as_u16(), outcome(&since)), (304, "HIT"));

    assert_eq!(
        origin.executions(),
        1,
        "the function was asked once, for the first GET"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_started_by_a_conditional_request_uses_the_cache_s_validators() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    let path = "/cond-swr?cc=max-age%3D1%2Cstale-while-revalidate%3D60&etag=%22v1%22";
    get(&tidegate, path).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    // The client's own ETag is current: a 304 from the stale copy, and one refresh.
    let stale = request(&tidegate, "GET", path, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!((stale.status.as_u16(), outcome(&stale)), (304, "STALE"));
    // That refresh renews the copy: later requests are hits, with no refresh of their own.
    super::wait_until("the refresh renewed the copy", || async {
        outcome(&get(&tidegate, path).await) == "HIT"
    })
    .await;
    assert_eq!(origin.executions(), 2, "one refresh, and it was stored");
}
