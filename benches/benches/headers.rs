//! Header rewriting: what does the proxy's work on a request head cost (a request id,
//! hop-by-hop removal, `x-forwarded-for`, `-proto`, `-host` and `via`), on a browser's
//! twelve headers and on wrk's one, and what is that next to just cloning the same map?
//!
//! Comparison point: `clone`, a `HeaderMap::clone` of the same head in the same run, the
//! cheapest thing a proxy can do with a head it owns. The whole rewrite is `rewrite`; its
//! steps are also measured alone (`request_id`, `hop_by_hop`, `forwarded`) to show which
//! one to work on. Every measurement excludes making its input map and dropping its output,
//! so `clone` is the clone alone and `rewrite` the rewrite alone. Each input map is built as
//! the HTTP/1.1 server builds one (see `tidegate_benches::requests`).

use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use http::header;
use tidegate_benches::requests;
use tidegate_proxy::headers::{RequestIds, X_REQUEST_ID, remove_hop_by_hop, set_forwarded};

fn rewrite(c: &mut Criterion) {
    let mut group = c.benchmark_group("headers");
    let ids = RequestIds::new();
    let from = requests::connection();

    for (name, head) in requests::heads() {
        let map = head.map();
        let host = map.get(header::HOST).cloned();

        group.bench_function(BenchmarkId::new("clone", name), |b| {
            b.iter_with_large_drop(|| black_box(&map).clone())
        });

        group.bench_function(BenchmarkId::new("rewrite", name), |b| {
            b.iter_batched_ref(
                || head.map(),
                |headers| requests::rewrite(headers, &ids, &from),
                BatchSize::SmallInput,
            )
        });

        group.bench_function(BenchmarkId::new("request_id", name), |b| {
            b.iter_batched_ref(
                || head.map(),
                |headers| {
                    let id = ids.next();
                    headers.insert(X_REQUEST_ID, id.clone());
                    id
                },
                BatchSize::SmallInput,
            )
        });

        group.bench_function(BenchmarkId::new("hop_by_hop", name), |b| {
            b.iter_batched_ref(
                || head.map(),
                |headers| remove_hop_by_hop(headers, false),
                BatchSize::SmallInput,
            )
        });

        group.bench_function(BenchmarkId::new("forwarded", name), |b| {
            b.iter_batched_ref(
                || head.map(),
                |headers| set_forwarded(headers, &from, host.as_ref(), false),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, rewrite);
criterion_main!(benches);
