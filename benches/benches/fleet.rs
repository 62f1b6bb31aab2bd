//! Least-in-flight selection: what does leasing a slot on the least-loaded ready instance
//! (`Fleet::try_acquire`) and releasing it (dropping the `Lease`) cost, at 1, 4, 32
//! and 256 instances, alone and with a second thread leasing from the same fleet?
//!
//! Comparison point: `mutex_vec` (`tidegate_benches::fleets::MutexFleet`), the obvious design the fleet's
//! lock-free snapshot was chosen over: a mutex around a vector of in-flight counts, locked
//! to scan and pick, and again to release. Same sizes, same contention, same run.
//!
//! What to expect from the code as it is: up to
//! `tidegate_scaler::fleet::POWER_OF_TWO_ABOVE` (32) instances the
//! fleet scans them all, so the cost grows from 1 to 32; above, it samples two at random
//! ("power of two choices"), so 256 should cost about what a small fleet does. Contended,
//! both threads write the same cache lines on every lease: the instance's in-flight and
//! served counters and the reference counts of the `Arc<Fleet>` and `Arc<Instance>` the
//! lease holds. With `--workers 2`, two worker threads of the proxy share one fleet in
//! exactly this way. The second thread needs a core of its own for that, which a busy
//! machine may not give it: each contended figure is followed by the contender's own rate,
//! to tell real contention from time-sharing one core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tidegate_benches::fleets::{self, MutexFleet, with_contender};

fn acquire(c: &mut Criterion) {
    let mut group = c.benchmark_group("fleet_acquire");
    for size in fleets::SIZES {
        let fleet = fleets::ready_fleet(size);
        let naive = MutexFleet::new(size);

        // Acquire and release, both inside the timed loop: a lease lives exactly as long as
        // its request, so the pair is the per-request cost.
        let lease_fleet = || drop(black_box(fleet.try_acquire().expect("no limit is set")));
        let lease_naive = || drop(black_box(naive.acquire()));

        group.bench_function(BenchmarkId::new("fleet/alone", size), |b| {
            b.iter(lease_fleet)
        });
        group.bench_function(BenchmarkId::new("mutex_vec/alone", size), |b| {
            b.iter(lease_naive)
        });

        let started = Instant::now();
        let ((), rounds) = with_contender(
            || drop(fleet.try_acquire()),
            || {
                group.bench_function(BenchmarkId::new("fleet/contended", size), |b| {
                    b.iter(lease_fleet)
                });
            },
        );
        report_contender("fleet", size, rounds, started.elapsed());

        let started = Instant::now();
        let ((), rounds) = with_contender(
            || drop(naive.acquire()),
            || {
                group.bench_function(BenchmarkId::new("mutex_vec/contended", size), |b| {
                    b.iter(lease_naive)
                });
            },
        );
        report_contender("mutex_vec", size, rounds, started.elapsed());
    }
    group.finish();
}

// A contended figure means something only if the second thread really ran beside the
// measured one. On a busy two-core machine it may have shared a core with it instead, and
// then barely contended: its rate, next to the figure, tells the two cases apart. The rate
// is over the whole benchmark, criterion's analysis included, so it reads low.
fn report_contender(name: &str, size: usize, rounds: u64, elapsed: Duration) {
    assert!(rounds > 0, "the contender leased while we measured");
    let per_us = rounds as f64 / elapsed.as_secs_f64() / 1e6;
    eprintln!(
        "fleet_acquire/{name}/contended/{size}: the contender leased {per_us:.1} times per µs"
    );
}

criterion_group!(benches, acquire);
criterion_main!(benches);
