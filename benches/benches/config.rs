//! Loading a configuration, a cold path measured for reference: what does
//! `tidegate_config::parse` cost on `examples/full.toml` (every key, one function) and on
//! the 1,000-route table of the routing bench, and what does building the routing table
//! ([`Router::new`]) from the parsed result cost?
//!
//! Comparison point: `toml_table`, parsing the same text into a bare `toml::Table` in the
//! same run. That is the TOML parser alone; the difference is tidegate's schema, defaults,
//! key location for error messages and validation.
//!
//! None of this runs per request. It matters for start-up, for `tidegate check`, and for
//! reloading on SIGHUP once that exists: a reload rebuilds both.

use std::hint::black_box;
use std::path::Path;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tidegate_benches::routes;
use tidegate_proxy::route::Router;

const FULL: &str = include_str!("../../examples/full.toml");

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("config_parse");
    // Milliseconds per iteration at 1,000 routes: fewer samples keep a run short.
    group.sample_size(20);

    let table = routes::config_toml(1_000);
    for (name, text) in [("full_toml", FULL), ("routes_1000", table.as_str())] {
        // `full.toml` takes its admin token from `${TIDEGATE_ADMIN_TOKEN}`. Looked up here
        // rather than set in the environment, which would need `unsafe` in this edition.
        let parse = || {
            tidegate_config::parse_with_env(text, Path::new("bench.toml"), |name| {
                (name == "TIDEGATE_ADMIN_TOKEN").then(|| "bench-token".to_owned())
            })
        };
        parse().expect("the bench configurations are valid");

        group.bench_function(BenchmarkId::new("tidegate", name), |b| {
            b.iter(|| parse().map(|config| black_box(config).functions.len()))
        });
        group.bench_function(BenchmarkId::new("toml_table", name), |b| {
            b.iter(|| black_box(text).parse::<toml::Table>().map(|t| t.len()))
        });
    }
    group.finish();
}

fn build_router(c: &mut Criterion) {
    let mut group = c.benchmark_group("router_build");
    group.sample_size(20);
    for size in routes::SIZES {
        let config = routes::config(size);
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| Router::new(black_box(&config)))
        });
    }
    group.finish();
}

criterion_group!(benches, parse, build_router);
criterion_main!(benches);
