//! The priority queue: what do queueing one request and dispatching the most urgent cost
//! when 10, 10,000 and 100,000 requests already wait?
//!
//! Comparison point: `vec_scan` ([`tidegate_benches::queues::VecQueue`]), one vector of
//! waiters scanned whole at each dispatch for the lowest effective class. Same waiters,
//! the same 10/30/60 % high/normal/low mix, same run.
//!
//! What to expect: the queue keeps one FIFO line per class and compares the class heads
//! only (the head of a line is its oldest, hence most aged, waiter), so `lines` should
//! cost the same at every depth; `vec_scan` grows linearly with depth.
//!
//! `handoff` measures the whole path a waiter takes through `Queue` and a real `Fleet`
//! (one instance, one slot): queue a request, release the slot (the fleet offers it to the
//! queue, which leases it and sends it to the head waiter), and the waiter receiving it.

use std::collections::VecDeque;
use std::hint::black_box;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use tidegate_benches::queues::{self, VecQueue, Waiting};
use tidegate_proxy::queue::{Queue, Waiter};
use tidegate_scaler::{Fleet, Instance, InstanceId, InstanceState, Lease};
use tokio::time::Instant;

fn enqueue_and_dispatch(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_enqueue_dispatch");
    for depth in queues::DEPTHS {
        // A fixed `now`: the figure is the structure's cost, not the clock's.
        let now = Instant::now();
        let mut lines = queues::filled_lines(depth, now);
        let mut i = 0u64;
        group.bench_function(BenchmarkId::new("lines", depth), |b| {
            b.iter(|| {
                i += 1;
                lines.push(queues::class_of(i), now, Waiting);
                black_box(lines.pop_most_urgent(now));
            })
        });

        let mut peer = VecQueue::filled(depth, now);
        let mut i = 0u64;
        group.bench_function(BenchmarkId::new("vec_scan", depth), |b| {
            b.iter(|| {
                i += 1;
                peer.push(queues::class_of(i), now);
                black_box(peer.pop_most_urgent(now));
            })
        });
    }
    group.finish();
}

fn handoff(c: &mut Criterion) {
    let mut group = c.benchmark_group("queue_handoff");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime for the waiters' timers");
    let _entered = runtime.enter();
    for depth in queues::DEPTHS {
        let config = toml::from_str(&format!("max_depth = {}", depth + 10)).expect("queue");
        let queue = Arc::new(Queue::new("f".into(), &config));
        let fleet = Arc::new(Fleet::new("f", 1));
        fleet.set_handoff(queue.clone());
        let addr = SocketAddr::from(([127, 0, 0, 1], 9));
        fleet.add(Arc::new(Instance::new(
            InstanceId(0),
            addr,
            None,
            InstanceState::Ready,
        )));
        let wait = Duration::from_secs(3600);

        let mut held = Some(queue.try_now(&fleet).expect("the only slot is free"));
        let mut waiters: VecDeque<Waiter<'_>> = (0..depth)
            .map(|_| queue.enqueue(&fleet, 1, wait).expect("room"))
            .collect();
        group.bench_function(BenchmarkId::new("queue", depth), |b| {
            b.iter(|| {
                waiters.push_back(queue.enqueue(&fleet, 1, wait).expect("room"));
                drop(held.take());
                let mut head = waiters.pop_front().expect("a waiter");
                held = Some(granted(&mut head));
            })
        });
        drop(held);
        drop(waiters);
    }
    group.finish();
}

// The head waiter's lease, which the release just sent it.
fn granted(waiter: &mut Waiter<'_>) -> Lease {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(waiter.granted()).as_mut().poll(&mut cx) {
        Poll::Ready(Ok(lease)) => lease,
        _ => panic!("the released slot goes to the head waiter"),
    }
}

criterion_group!(benches, enqueue_and_dispatch, handoff);
criterion_main!(benches);
