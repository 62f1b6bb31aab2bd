//! Routing: what does [`Router::lookup`] cost for a request routed by exact host, by
//! wildcard host, by path prefix, and for one that matches nothing, and how does each grow
//! from a table of 10 routes to one of 1,000?
//!
//! Comparison points, measured in the same run on the same tables and requests:
//!
//! - `linear`: the naive router ([`LinearRoutes`]), every route tried on every lookup. The
//!   router should beat it everywhere; where it does not by much, the router is scanning too.
//! - `std_hashmap`: a bare `std` `HashMap<Box<str>, usize>` lookup of the exact host, the
//!   floor under any host-keyed table (one SipHash of the host, one probe).
//!
//! What to expect from the code as it is: an exact host costs about the floor at any size.
//! Wildcards are a list, longest suffix first, tried after the exact-host map misses; routes
//! without a host are a list of prefixes, longest first, tried after every wildcard. So a
//! wildcard, a prefix and a miss all grow with the table. Each request targets the median
//! route of its kind (see `tidegate_benches::routes`).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tidegate_benches::routes::{self, LinearRoutes};
use tidegate_proxy::route::Router;

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("route_lookup");
    for size in routes::SIZES {
        let config = routes::config(size);
        let router = Router::new(&config);
        let linear = LinearRoutes::new(&config);
        let cases = routes::cases(size);

        for case in &cases {
            let host = Some(case.host.as_str());
            // The unit tests check this too; asserting here as well means a change to the
            // router cannot quietly turn a match into a miss that then looks fast.
            assert_eq!(
                router.lookup(host, &case.path).map(|m| m.function),
                case.expected,
                "the router routes {case:?} as the fixture intends"
            );

            let id = BenchmarkId::new(format!("router/{}", case.kind.name()), size);
            group.bench_function(id, |b| {
                b.iter(|| {
                    router
                        .lookup(black_box(host), black_box(&case.path))
                        .map(|m| m.function)
                })
            });

            let id = BenchmarkId::new(format!("linear/{}", case.kind.name()), size);
            group.bench_function(id, |b| {
                b.iter(|| linear.lookup(black_box(host), black_box(&case.path)))
            });
        }

        let hosts = routes::exact_host_map(&config);
        let exact = &cases[0];
        assert_eq!(hosts.get(exact.host.as_str()).copied(), exact.expected);
        group.bench_function(BenchmarkId::new("std_hashmap/exact_host", size), |b| {
            b.iter(|| hosts.get(black_box(exact.host.as_str())).copied())
        });
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
