//! The response cache end to end: the real binary in front of a scripted origin that
//! counts its executions.

mod conditional;
mod labels;
mod origin;
mod refusals;
mod stale;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;

use crate::harness::{Answer, Tidegate, admin_get, admin_send, one_function, send, wait_until};
use origin::Origin;

fn start(origin: &Origin, cache: &str) -> Tidegate {
    Tidegate::start(&one_function(
        origin.addr,
        "",
        &format!("[functions.f.cache]\nenabled = true\n{cache}"),
    ))
}

async fn request(
    tidegate: &Tidegate,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "cache.test");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    send(
        tidegate.http,
        builder
            .body(Empty::<Bytes>::new())
            .expect("a valid request"),
    )
    .await
}

async fn get(tidegate: &Tidegate, path: &str) -> Answer {
    request(tidegate, "GET", path, &[]).await
}

fn outcome(answer: &Answer) -> &str {
    answer
        .headers
        .get("x-tidegate-cache")
        .map(|v| v.to_str().expect("ASCII"))
        .unwrap_or("none")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_answer_is_served_without_an_execution() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    let first = get(&tidegate, "/a?x=1&y=2&cc=max-age%3D60").await;
    assert_eq!(outcome(&first), "MISS");
    assert!(
        first.headers["cache-status"]
            .to_str()
            .unwrap()
            .contains("stored")
    );
    let second = get(&tidegate, "/a?cc=max-age%3D60&y=2&x=1").await;
    assert_eq!(
        outcome(&second),
        "HIT",
        "query parameter order does not matter"
    );
    assert_eq!(second.body, first.body);
    assert!(second.headers.contains_key("age"), "a hit carries Age");
    assert!(
        second.headers["cache-status"]
            .to_str()
            .unwrap()
            .starts_with("tidegate; hit; ttl=")
    );
    let head = request(&tidegate, "HEAD", "/a?x=1&y=2&cc=max-age%3D60", &[]).await;
    assert_eq!(outcome(&head), "HIT", "HEAD is served from the stored GET");
    assert!(head.body.is_empty());
    assert_eq!(
        head.headers["content-length"],
        first.body.len().to_string().as_str(),
        "HEAD carries the stored GET's Content-Length"
    );
    assert_eq!(origin.executions(), 1);

    let state = admin_get(tidegate.admin, "/v1/functions/f", None)
        .await
        .json();
    assert_eq!(state["cache"]["hits"], 2);
    assert_eq!(state["cache"]["misses"], 1);
    let metrics = admin_get(tidegate.admin, "/metrics", None).await.text();
    assert!(
        metrics.contains("tidegate_cache_requests_total{function=\"f\",result=\"hit\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("tidegate_cache_bytes{function=\"f\"}"));
}

/// One row per storing and use rule: the request sent twice, the second's outcome, and
/// the executions the two cost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storing_and_use_rules() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    // (what, method, query, request headers, second outcome, executions)
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
        usize,
    );
    let rows: &[Row] = &[
        ("max-age", "GET", "cc=max-age%3D60", &[], "HIT", 1),
        ("s-maxage", "GET", "cc=s-maxage%3D60", &[], "HIT", 1),
        ("no-store", "GET", "cc=no-store", &[], "MISS", 2),
        (
            "private",
            "GET",
            "cc=private%2Cmax-age%3D60",
            &[],
            "MISS",
            2,
        ),
        ("no caching headers", "GET", "", &[], "MISS", 2),
        (
            "status 500 without directives",
            "GET",
            "status=500",
            &[],
            "MISS",
            2,
        ),
        (
            "Authorization, no permission",
            "GET",
            "cc=max-age%3D60",
            &[("authorization", "Bearer x")],
            "MISS",
            2,
        ),
        (
            "Authorization with public",
            "GET",
            "cc=public%2Cmax-age%3D60",
            &[("authorization", "Bearer x")],
            "HIT",
            1,
        ),
        ("Vary: *", "GET", "cc=max-age%3D60&vary=*", &[], "MISS", 2),
        (
            "Vary, same value",
            "GET",
            "cc=max-age%3D60&vary=accept-language",
            &[("accept-language", "fr")],
            "HIT",
            1,
        ),
        (
            "heuristic from Last-Modified",
            "GET",
            "lm=Tue%2C%2006%20Nov%201984%2008%3A49%3A37%20GMT",
            &[],
            "HIT",
            1,
        ),
        (
            "request no-store",
            "GET",
            "cc=max-age%3D60",
            &[("cache-control", "no-store")],
            "MISS",
            2,
        ),
        (
            "request max-age=0, no validator",
            "GET",
            "cc=max-age%3D60",
            &[("cache-control", "max-age=0")],
            "MISS",
            2,
        ),
        (
            "request no-cache, ETag",
            "GET",
            "cc=max-age%3D60&etag=%22v1%22",
            &[("cache-control", "no-cache")],
            "REVALIDATED",
            2,
        ),
        (
            "request min-fresh too long",
            "GET",
            "cc=max-age%3D60",
            &[("cache-control", "min-fresh=120")],
            "MISS",
            2,
        ),
        ("POST", "POST", "cc=max-age%3D60", &[], "BYPASS", 2),
        (
            "Range",
            "GET",
            "cc=max-age%3D60",
            &[("range", "bytes=0-1")],
            "BYPASS",
            2,
        ),
    ];
    for (i, (what, method, query, headers, want, executions)) in rows.iter().enumerate() {
        let before = origin.executions();
        let path = format!("/rule{i}?{query}");
        request(&tidegate, method, &path, headers).await;
        let second = request(&tidegate, method, &path, headers).await;
        assert_eq!(outcome(&second), *want, "{what}");
        assert_eq!(
            origin.executions() - before,
            *executions,
            "executions: {what}"
        );
    }

    // Vary with another value is another variant.
    let path = "/vary?cc=max-age%3D60&vary=accept-language";
    let fr = request(&tidegate, "GET", path, &[("accept-language", "fr")]).await;
    let de = request(&tidegate, "GET", path, &[("accept-language", "de")]).await;
    assert_eq!(
        outcome(&de),
        "MISS",
        "another Vary value is another variant"
    );
    let fr_again = request(&tidegate, "GET", path, &[("accept-language", "fr")]).await;
    assert_eq!((outcome(&fr_again), &fr_again.body), ("HIT", &fr.body));

    // only-if-cached: from the cache or 504.
    let stored = request(
        &tidegate,
        "GET",
        "/rule0?cc=max-age%3D60",
        &[("cache-control", "only-if-cached")],
    )
    .await;
    assert_eq!(outcome(&stored), "HIT");
    let missing = request(
        &tidegate,
        "GET",
        "/nothing",
        &[("cache-control", "only-if-cached")],
    )
    .await;
    assert_eq!(missing.status, 504);
    assert_eq!(missing.error_code(), "NOT_CACHED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_misses_cost_one_execution() {
    let origin = Origin::start().await;
    let tidegate = std::sync::Arc::new(start(&origin, ""));
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let tidegate = tidegate.clone();
        requests.spawn(async move { get(&tidegate, "/collapse?cc=max-age%3D60&sleep=500").await });
    }
    let mut bodies = Vec::new();
    while let Some(answer) = requests.join_next().await {
        let answer = answer.expect("the request task runs");
        assert_eq!(answer.status, 200);
        bodies.push(answer.body);
    }
    assert_eq!(
        origin.executions(),
        1,
        "one execution for 100 identical misses"
    );
    assert!(bodies.iter().all(|b| b == "exec 1"));

    // An answer that cannot be stored releases the waiters: each goes to the function.
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let tidegate = tidegate.clone();
        requests.spawn(async move { get(&tidegate, "/uncacheable?cc=no-store&sleep=300").await });
    }
    while let Some(answer) = requests.join_next().await {
        assert_eq!(answer.expect("the request task runs").status, 200);
    }
    assert_eq!(origin.executions(), 11, "each uncacheable request executes");

    // The key is now hit-for-miss: a request no longer waits behind another one in
    // flight. The first sleeps 30 s in the function; the second is answered meanwhile.
    let path = "/uncacheable?cc=no-store&sleep=300";
    let slow = tokio::spawn(slow_get(tidegate.clone(), path));
    wait_until("the slow request reached the function", || async {
        origin.executions() == 12
    })
    .await;
    let quick = answered_meanwhile(&origin, get(&tidegate, path)).await;
    assert_eq!(outcome(&quick), "MISS");
    assert!(
        !slow.is_finished(),
        "the slow request is still in the function"
    );
    assert_eq!(origin.executions(), 13);
    slow.abort();
}

/// How long the function takes for a [`slow_get`]: long enough that an answer given while
/// it runs cannot have waited for it.
const SLOW: &str = "30000";

/// A GET the function answers after [`SLOW`] milliseconds (the URL, and so the key, is
/// `path`'s).
async fn slow_get(tidegate: std::sync::Arc<Tidegate>, path: &'static str) -> Answer {
    request(&tidegate, "GET", path, &[("x-origin-sleep", SLOW)]).await
}

/// Awaits an answer that must not wait for a [`slow_get`]: when it arrives, no slow
/// execution may have finished yet. (An answer that waited would arrive only after.)
async fn answered_meanwhile(
    origin: &Origin,
    answer: impl std::future::Future<Output = Answer>,
) -> Answer {
    let answer = answer.await;
    assert_eq!(
        origin.slow_done(),
        0,
        "answered while the slow request is still in the function"
    );
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_ttl_and_unsafe_methods_invalidate() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "default_ttl = \"60s\"");
    assert_eq!(outcome(&get(&tidegate, "/doc").await), "MISS");
    assert_eq!(
        outcome(&get(&tidegate, "/doc").await),
        "HIT",
        "default_ttl stores a plain answer"
    );
    assert_eq!(
        outcome(&request(&tidegate, "PUT", "/doc", &[]).await),
        "BYPASS"
    );
    assert_eq!(
        outcome(&get(&tidegate, "/doc").await),
        "MISS",
        "a PUT invalidates its target"
    );

    get(&tidegate, "/other").await;
    request(&tidegate, "POST", "/form?location=%2Fother", &[]).await;
    assert_eq!(
        outcome(&get(&tidegate, "/other").await),
        "MISS",
        "Location is invalidated too"
    );

    get(&tidegate, "/third").await;
    assert_eq!(outcome(&get(&tidegate, "/third").await), "HIT");
    request(&tidegate, "POST", "/form?cl=%2Fthird", &[]).await;
    assert_eq!(
        outcome(&get(&tidegate, "/third").await),
        "MISS",
        "Content-Location is invalidated too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_headers_keep_one_copy_per_value() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "key_headers = [\"x-tenant\"]");
    let path = "/tenant?cc=max-age%3D60";
    let a = request(&tidegate, "GET", path, &[("x-tenant", "a")]).await;
    let b = request(&tidegate, "GET", path, &[("x-tenant", "b")]).await;
    assert_eq!(
        (outcome(&a), outcome(&b)),
        ("MISS", "MISS"),
        "one copy per tenant"
    );
    let none = get(&tidegate, path).await;
    assert_eq!(outcome(&none), "MISS", "no header is a value of its own");
    for (tenant, first) in [("a", &a), ("b", &b)] {
        let again = request(&tidegate, "GET", path, &[("x-tenant", tenant)]).await;
        assert_eq!(
            (outcome(&again), &again.body),
            ("HIT", &first.body),
            "tenant {tenant}"
        );
    }
    assert_eq!(origin.executions(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_by_url_prefix_tag_and_function() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "");
    let paths = [
        "/p/a?cc=max-age%3D60&tag=red",
        "/p/b?cc=max-age%3D60&tag=blue",
        "/q/c?cc=max-age%3D60&tag=red",
        "/q/d?cc=max-age%3D60",
        "/s/e?cc=max-age%3D60&skey=green%20yellow",
    ];
    for path in paths {
        get(&tidegate, path).await;
    }
    let purge = |body: &'static str| admin_send(tidegate.admin, "POST", "/v1/cache/purge", body);
    let purged = |answer: Answer| answer.json()["purged"].as_u64().expect("a count");

    let url = r#"{"function": "f", "url": "http://cache.test/p/a?tag=red&cc=max-age%3D60"}"#;
    assert_eq!(purged(purge(url).await), 1);
    assert_eq!(outcome(&get(&tidegate, paths[0]).await), "MISS");
    assert_eq!(
        purged(purge(r#"{"function": "f", "prefix": "/p/"}"#).await),
        2
    );
    assert_eq!(outcome(&get(&tidegate, paths[1]).await), "MISS");
    // /p/a (red) went with the prefix; /q/c is the red one left.
    assert_eq!(purged(purge(r#"{"function": "f", "tag": "red"}"#).await), 1);
    assert_eq!(outcome(&get(&tidegate, paths[2]).await), "MISS");
    assert_eq!(outcome(&get(&tidegate, paths[3]).await), "HIT");
    // Surrogate-Key is a space-separated list of tags.
    assert_eq!(
        purged(purge(r#"{"function": "f", "tag": "yellow"}"#).await),
        1
    );
    assert_eq!(outcome(&get(&tidegate, paths[4]).await), "MISS");
    // A selector given as null or empty, or a prefix that is not a path, is refused
    // rather than read as "everything".
    for body in [
        r#"{"function": "f", "tag": null}"#,
        r#"{"function": "f", "prefix": ""}"#,
        r#"{"function": "f", "url": ""}"#,
        r#"{"function": "f", "prefix": "p/"}"#,
    ] {
        let answer = purge(body).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.error_code(), "BAD_REQUEST", "{body}");
    }
    // Left: /p/b, /q/c (stored again above), /q/d and /s/e (stored again above).
    assert_eq!(purged(purge(r#"{"function": "f"}"#).await), 4);
    assert_eq!(outcome(&get(&tidegate, paths[3]).await), "MISS");
    assert_eq!(purge(r#"{"function": "nope"}"#).await.status, 404);
    assert_eq!(
        purge(r#"{"function": "f", "url": "/x", "tag": "y"}"#)
            .await
            .status,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_keeps_the_cache_within_max_bytes() {
    let origin = Origin::start().await;
    let tidegate = start(&origin, "max_bytes = \"64KiB\"");
    for i in 0..40 {
        let answer = get(&tidegate, &format!("/big{i}?cc=max-age%3D60&size=4096")).await;
        assert_eq!(answer.body.len(), 4096);
    }
    let state = admin_get(tidegate.admin, "/v1/functions/f", None)
        .await
        .json();
    let bytes = state["cache"]["bytes"].as_u64().expect("bytes held");
    assert!(bytes > 0 && bytes <= 64 * 1024, "held {bytes} bytes");
    let mut hits = 0;
    for i in 0..40 {
        if outcome(&get(&tidegate, &format!("/big{i}?cc=max-age%3D60&size=4096")).await) == "HIT" {
            hits += 1;
        }
    }
    assert!(hits < 40, "some answers were evicted");
    // An object over an eighth of max_bytes is not stored at all.
    get(&tidegate, "/huge?cc=max-age%3D60&size=20000").await;
    assert_eq!(
        outcome(&get(&tidegate, "/huge?cc=max-age%3D60&size=20000").await),
        "MISS"
    );
}
