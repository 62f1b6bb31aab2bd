//! The queue joined to a real fleet, under paused time: ordering, aging, displacement,
//! timeouts, withdrawal, and which releases reach which waiter.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tidegate_scaler::{Fleet, Instance, InstanceId, InstanceState, Lease};

use super::*;

const HIGH: usize = 0;
const NORMAL: usize = 1;
const LOW: usize = 2;
const WAIT: Duration = Duration::from_secs(10);

fn queue(extra: &str) -> Arc<Queue> {
    let config: QueueConfig = toml::from_str(extra).expect("a valid queue table");
    Arc::new(Queue::new("f".into(), &config))
}

// A fleet with `n` ready instances of `limit` slots each, its slots handed to `queue`.
fn fleet(queue: &Arc<Queue>, n: u64, limit: u32) -> Arc<Fleet> {
    let fleet = Arc::new(Fleet::new("f", limit));
    fleet.set_handoff(queue.clone());
    for id in 0..n {
        fleet.add(instance(id, InstanceState::Ready));
    }
    fleet
}

fn instance(id: u64, state: InstanceState) -> Arc<Instance> {
    let addr = SocketAddr::from(([127, 0, 0, 1], 10_000 + id as u16));
    Arc::new(Instance::new(InstanceId(id), addr, None, state))
}

// Polls a waiter once: its answer if it has one.
fn answer(waiter: &mut Waiter<'_>) -> Option<Result<Lease, ProxyError>> {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(waiter.granted()).as_mut().poll(&mut cx) {
        Poll::Ready(result) => Some(result),
        Poll::Pending => None,
    }
}

fn granted(waiter: &mut Waiter<'_>) -> Lease {
    match answer(waiter) {
        Some(Ok(lease)) => lease,
        other => panic!("expected a lease, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_freed_slot_goes_to_the_most_urgent_waiter_then_fifo() {
    let q = queue("");
    let f = fleet(&q, 1, 1);
    let busy = q.try_now(&f).expect("the only slot is free");
    let mut low1 = q.enqueue(&f, LOW, WAIT).expect("room");
    let mut low2 = q.enqueue(&f, LOW, WAIT).expect("room");
    let mut normal = q.enqueue(&f, NORMAL, WAIT).expect("room");
    let mut high = q.enqueue(&f, HIGH, WAIT).expect("room");
    assert_eq!(q.depth(), 4);
    assert_eq!(
        f.waiting(),
        4,
        "the controller's queued is the queue's depth"
    );
    assert!(answer(&mut low1).is_none(), "no slot is free");

    drop(busy);
    let lease = granted(&mut high);
    assert!(answer(&mut normal).is_none(), "one slot wakes one waiter");
    drop(lease);
    let lease = granted(&mut normal);
    drop(lease);
    let lease = granted(&mut low1);
    assert!(answer(&mut low2).is_none());
    drop(lease);
    drop(granted(&mut low2));
    assert_eq!(q.depth(), 0);
    assert_eq!(f.in_flight(), 0, "every lease was released");
}

#[tokio::test(start_paused = true)]
async fn aging_lifts_a_long_waiting_low_request_above_newer_high_ones() {
    let q = queue(r#"aging = "1s""#);
    let f = fleet(&q, 1, 1);
    let busy = q.try_now(&f).expect("free slot");
    let mut low = q.enqueue(&f, LOW, WAIT).expect("room");
    tokio::time::advance(Duration::from_millis(2500)).await;
    let mut high = q.enqueue(&f, HIGH, WAIT).expect("room");

    drop(busy);
    let lease = granted(&mut low);
    assert!(
        answer(&mut high).is_none(),
        "the aged low waiter went first"
    );
    drop(lease);
    drop(granted(&mut high));
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_displaces_the_newest_least_urgent_waiter() {
    let q = queue("max_depth = 2");
    let f = fleet(&q, 1, 1);
    let _busy = q.try_now(&f).expect("free slot");
    let mut low_old = q.enqueue(&f, LOW, WAIT).expect("room");
    let mut low_new = q.enqueue(&f, LOW, WAIT).expect("room");

    // More urgent than the least urgent: takes the newest low waiter's place.
    let _high = q.enqueue(&f, HIGH, WAIT).expect("displaces a low waiter");
    match answer(&mut low_new) {
        Some(Err(ProxyError::QueueFull { retry_after })) => {
            assert!(retry_after >= Duration::from_secs(1) && retry_after <= WAIT);
        }
        other => panic!("the newest low waiter is displaced, got {other:?}"),
    }
    assert!(answer(&mut low_old).is_none(), "the older low waiter stays");
    assert_eq!(q.depth(), 2);

    // Not more urgent than anyone: refused itself.
    let _normal = q
        .enqueue(&f, NORMAL, WAIT)
        .expect("displaces the last low waiter");
    assert!(matches!(
        answer(&mut low_old),
        Some(Err(ProxyError::QueueFull { .. }))
    ));
    match q.enqueue(&f, LOW, WAIT) {
        Err(ProxyError::QueueFull { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(1));
        }
        other => panic!("a low newcomer to a full queue is refused, got {other:?}"),
    }
    match q.enqueue(&f, NORMAL, WAIT) {
        Err(ProxyError::QueueFull { .. }) => {}
        other => panic!("an equally urgent newcomer is refused, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_that_will_not_wait_is_refused_at_once_and_displaces_nobody() {
    let q = queue("max_depth = 1");
    let f = fleet(&q, 1, 1);
    let _busy = q.try_now(&f).expect("free slot");
    let mut low = q.enqueue(&f, LOW, WAIT).expect("room");
    assert!(matches!(
        q.enqueue(&f, HIGH, Duration::ZERO),
        Err(ProxyError::QueueTimeout)
    ));
    assert!(answer(&mut low).is_none(), "the low waiter keeps its place");
    assert_eq!(q.depth(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_past_its_deadline_times_out_and_leaves() {
    let q = queue("");
    let f = fleet(&q, 1, 1);
    let busy = q.try_now(&f).expect("free slot");
    let mut short = q
        .enqueue(&f, NORMAL, Duration::from_millis(500))
        .expect("room");
    let mut long = q.enqueue(&f, LOW, WAIT).expect("room");

    let timed_out = tokio::time::timeout(Duration::from_secs(1), short.granted()).await;
    assert!(matches!(
        timed_out.expect("the queue answers first"),
        Err(ProxyError::QueueTimeout)
    ));
    drop(short);
    assert_eq!(q.depth(), 1, "the timed-out waiter left at once");

    drop(busy);
    drop(granted(&mut long));
}

#[tokio::test(start_paused = true)]
async fn a_withdrawn_waiter_never_gets_a_slot_and_a_late_grant_is_passed_on() {
    let q = queue("");
    let f = fleet(&q, 1, 1);
    let busy = q.try_now(&f).expect("free slot");
    let gone = q.enqueue(&f, HIGH, WAIT).expect("room");
    let late = q.enqueue(&f, HIGH, WAIT).expect("room");
    let mut next = q.enqueue(&f, LOW, WAIT).expect("room");
    drop(gone);
    assert_eq!(q.depth(), 2, "withdrawing is counted at once");

    // The slot skips the withdrawn waiter and reaches `late`, which gives up without
    // looking: the lease it was sent is released, and reaches `next`.
    drop(busy);
    drop(late);
    drop(granted(&mut next));
    assert_eq!(q.depth(), 0);
    assert_eq!(f.in_flight(), 0, "no lease leaked");
}

#[tokio::test(start_paused = true)]
async fn a_new_ready_instance_serves_as_many_waiters_as_it_has_slots() {
    let q = queue("");
    let f = fleet(&q, 0, 2);
    let mut waiters: Vec<_> = (0..3)
        .map(|_| q.enqueue(&f, NORMAL, WAIT).expect("room"))
        .collect();
    let starting = instance(7, InstanceState::Starting);
    f.add(starting.clone());
    assert!(
        answer(&mut waiters[0]).is_none(),
        "a starting instance takes nothing"
    );
    f.mark_ready(&starting);
    let a = granted(&mut waiters[0]);
    let b = granted(&mut waiters[1]);
    assert!(
        answer(&mut waiters[2]).is_none(),
        "two slots, two waiters served"
    );
    assert_eq!(q.depth(), 1);
    drop((a, b));
}

#[tokio::test(start_paused = true)]
async fn a_slot_freed_on_a_draining_instance_is_not_handed_over() {
    let q = queue("");
    let f = fleet(&q, 1, 1);
    let busy = q.try_now(&f).expect("free slot");
    let mut waiter = q.enqueue(&f, NORMAL, WAIT).expect("room");
    f.instances()[0].set_state(InstanceState::Draining);
    drop(busy);
    assert!(answer(&mut waiter).is_none());
    assert_eq!(f.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_failing_fleet_answers_its_waiters_scale_failed() {
    let q = queue("");
    let f = fleet(&q, 0, 1);
    let mut waiter = q.enqueue(&f, NORMAL, WAIT).expect("room");
    f.set_failing(true);
    assert_eq!(
        answer(&mut waiter).map(|r| r.err()),
        Some(Some(ProxyError::ScaleFailed))
    );
    assert_eq!(q.depth(), 0);
}

#[tokio::test(start_paused = true)]
async fn nobody_waiting_means_no_lock_and_no_queue() {
    let q = queue("");
    let f = fleet(&q, 1, 0);
    let a = q.try_now(&f).expect("no limit");
    let b = q.try_now(&f).expect("no limit");
    assert_eq!(q.depth(), 0);
    drop((a, b));
    assert_eq!(f.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_snapshot_shows_depth_per_class_and_the_oldest_wait() {
    let q = queue("");
    let f = fleet(&q, 1, 1);
    let _busy = q.try_now(&f).expect("free slot");
    let _a = q.enqueue(&f, LOW, WAIT).expect("room");
    tokio::time::advance(Duration::from_secs(2)).await;
    let _b = q.enqueue(&f, HIGH, WAIT).expect("room");
    let snapshot = q.snapshot();
    let depths: Vec<_> = snapshot.depths.iter().map(|(n, d)| (&**n, *d)).collect();
    assert_eq!(depths, [("high", 1), ("normal", 0), ("low", 1)]);
    assert_eq!(snapshot.oldest_wait, Some(Duration::from_secs(2)));
}
