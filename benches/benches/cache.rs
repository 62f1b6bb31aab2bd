//! The response cache's hit path: what does answering a request from the cache cost —
//! building the key, the lookup, the freshness decision and assembling the response —
//! and how does that compare with the cheapest possible in-memory answer?
//!
//! Comparison point: `floor`, a `HashMap<String, (HeaderMap, Bytes)>` lookup by the raw
//! request target plus the clone of the stored head and body that any cache serving
//! from memory has to make. `hit` is tidegate's whole hit path; `key`, `lookup` and
//! `respond` are its steps alone, to show which one to work on. The stored answer has
//! the eight headers of a typical small JSON response; the request has wrk's one header.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, StatusCode};
use tidegate_proxy::cache::control::RequestDirectives;
use tidegate_proxy::cache::freshness::Policy;
use tidegate_proxy::cache::key::{primary_key, url_key};
use tidegate_proxy::cache::store::{Entry, Store};
use tidegate_proxy::cache::{Outcome, respond};

const TARGET: &str = "/api/items?page=2&sort=name";

fn stored_head() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [
        ("content-type", "application/json"),
        ("cache-control", "public, max-age=60"),
        ("etag", "\"5d8c72a5edda8\""),
        ("last-modified", "Tue, 03 Dec 2024 10:00:00 GMT"),
        ("date", "Tue, 03 Dec 2024 10:00:00 GMT"),
        ("server", "tidegate-fn"),
        ("vary", "accept-encoding"),
        ("x-powered-by", "bench"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h
}

fn hit_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache");
    let mut request = HeaderMap::new();
    request.insert("host", HeaderValue::from_static("bench.localhost:8080"));
    let body = Bytes::from_static(b"{\"items\": [1, 2, 3], \"page\": 2}\n");
    let policy = Policy {
        fresh_for: Duration::from_secs(3600),
        ..Policy::default()
    };
    let store = Store::new(64 << 20);
    let key = primary_key(
        url_key("http", "bench.localhost:8080", TARGET),
        &[],
        &request,
    );
    // Without `Vary` on the stored copy: one lookup, as for most function answers.
    let mut head = stored_head();
    head.remove("vary");
    let entry = Entry::new(StatusCode::OK, head.clone(), body.clone(), policy);
    store.insert(&key, Vec::new(), &request, entry);
    let request_id = HeaderValue::from_static("0000000000000001");
    let directives = RequestDirectives::default();

    group.bench_function("key", |b| {
        b.iter(|| {
            primary_key(
                url_key("http", black_box("bench.localhost:8080"), black_box(TARGET)),
                &[],
                &request,
            )
        })
    });
    group.bench_function("lookup", |b| {
        b.iter(|| store.get(black_box(&key), &request))
    });
    let found = store.get(&key, &request).expect("the entry was stored");
    group.bench_function("respond", |b| {
        b.iter(|| {
            respond(
                &found,
                Duration::from_secs(1),
                Outcome::Hit,
                "tidegate; hit",
                &request_id,
            )
        })
    });
    group.bench_function("hit", |b| {
        b.iter(|| {
            let key = primary_key(
                url_key("http", black_box("bench.localhost:8080"), black_box(TARGET)),
                &[],
                &request,
            );
            let entry = store.get(&key, &request).expect("a hit");
            let age = entry.current_age();
            assert_eq!(
                entry.policy.decide(age, &directives),
                tidegate_proxy::cache::freshness::Use::Fresh
            );
            respond(&entry, age, Outcome::Hit, "tidegate; hit", &request_id)
        })
    });

    let mut floor: HashMap<String, (HeaderMap, Bytes)> = HashMap::new();
    floor.insert(TARGET.to_owned(), (head, body));
    group.bench_function("floor", |b| {
        b.iter(|| {
            let (head, body) = floor.get(black_box(TARGET)).expect("stored");
            (head.clone(), body.clone())
        })
    });
    group.finish();
}

criterion_group!(benches, hit_path);
criterion_main!(benches);
