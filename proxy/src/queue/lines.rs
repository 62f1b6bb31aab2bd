//! The ordered structure of a queue: one FIFO line per priority class, and aging.
//!
//! Why not one heap or one sorted list: a waiter's urgency changes as it waits (it rises
//! one class per `aging` interval), so a heap keyed on urgency would go stale. But within
//! a class, the oldest waiter is always the most aged, so the most urgent waiter overall is
//! always at the head of some line: dispatch compares the heads only, O(classes), however
//! deep the queue. Likewise the least urgent waiter is at the tail of some line (the
//! newest of its class has aged least), which is what overflow displaces.
//!
//! Cancellation is lazy: a waiter that gives up (timeout, client gone) is not searched
//! for; its entry becomes a tombstone ([`Live::is_live`] turns false) that dispatch skips
//! when it reaches a head or tail. The live count per class stays exact because the owner
//! calls [`Lines::cancelled`]; a line that holds more tombstones than live entries is
//! compacted, so tombstones never cost more than the live entries do.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// What tells a queued item from a tombstone.
pub trait Live {
    /// Whether the waiter still waits. Once false, it stays false.
    fn is_live(&self) -> bool;
}

/// One queued item, with what ordering needs to know about it.
#[derive(Debug)]
pub struct Entry<T> {
    /// Arrival order across all classes; breaks ties between equally urgent waiters.
    pub seq: u64,
    /// When it was queued; its age raises its urgency.
    pub since: Instant,
    /// What waits.
    pub item: T,
}

/// Waiters in priority classes, FIFO within a class, with aging. Class 0 is the most
/// urgent.
#[derive(Debug)]
pub struct Lines<T> {
    lines: Vec<VecDeque<Entry<T>>>,
    // Live entries per line; `lines[c].len() - live[c]` are tombstones.
    live: Vec<usize>,
    aging: Duration,
    next_seq: u64,
}

impl<T: Live> Lines<T> {
    /// Empty lines for `classes` classes; a waiter rises one class per `aging` waited
    /// (`Duration::ZERO`: never).
    pub fn new(classes: usize, aging: Duration) -> Self {
        Lines {
            lines: (0..classes).map(|_| VecDeque::new()).collect(),
            live: vec![0; classes],
            aging,
            next_seq: 0,
        }
    }

    /// Live entries in all classes.
    pub fn len(&self) -> usize {
        self.live.iter().sum()
    }

    /// Whether no live entry is queued.
    pub fn is_empty(&self) -> bool {
        self.live.iter().all(|&n| n == 0)
    }

    /// Live entries per class, in class order.
    pub fn depths(&self) -> &[usize] {
        &self.live
    }

    /// Queues `item` at the back of `class`'s line.
    pub fn push(&mut self, class: usize, since: Instant, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.lines[class].push_back(Entry { seq, since, item });
        self.live[class] += 1;
    }

    /// Records that a live entry of `class` became a tombstone. Compacts the line when
    /// tombstones outnumber the live entries, so the memory they hold stays bounded.
    pub fn cancelled(&mut self, class: usize) {
        self.live[class] -= 1;
        let line = &mut self.lines[class];
        if line.len() > 2 * self.live[class] + 64 {
            line.retain(|entry| entry.item.is_live());
        }
    }

    /// The class a waiter of `class` queued at `since` counts as at `now`.
    pub fn effective(&self, class: usize, since: Instant, now: Instant) -> usize {
        if self.aging.is_zero() {
            return class;
        }
        let steps = now.saturating_duration_since(since).as_nanos() / self.aging.as_nanos();
        class.saturating_sub(usize::try_from(steps).unwrap_or(usize::MAX))
    }

    /// Removes and returns the most urgent live entry at `now` and its class: the lowest
    /// effective class among the line heads, the oldest on a tie.
    pub fn pop_most_urgent(&mut self, now: Instant) -> Option<(usize, Entry<T>)> {
        let mut best: Option<(usize, u64, usize)> = None;
        for class in 0..self.lines.len() {
            let Some(head) = self.live_head(class) else {
                continue;
            };
            let (since, seq) = (head.since, head.seq);
            let key = (self.effective(class, since, now), seq);
            if best.is_none_or(|(e, s, _)| key < (e, s)) {
                best = Some((key.0, key.1, class));
            }
        }
        let (_, _, class) = best?;
        let entry = self.lines[class].pop_front()?;
        self.live[class] -= 1;
        Some((class, entry))
    }

    /// The least urgent live entry at `now`, as (its class, its effective class): the
    /// highest effective class among the line tails, the newest on a tie.
    pub fn least_urgent(&mut self, now: Instant) -> Option<(usize, usize)> {
        let mut worst: Option<(usize, u64, usize)> = None;
        for class in 0..self.lines.len() {
            let Some(tail) = self.live_tail(class) else {
                continue;
            };
            let (since, seq) = (tail.since, tail.seq);
            let key = (self.effective(class, since, now), seq);
            if worst.is_none_or(|(e, s, _)| key > (e, s)) {
                worst = Some((key.0, key.1, class));
            }
        }
        worst.map(|(effective, _, class)| (class, effective))
    }

    /// Removes and returns the newest live entry of `class`.
    pub fn pop_newest(&mut self, class: usize) -> Option<Entry<T>> {
        self.live_tail(class)?;
        let entry = self.lines[class].pop_back()?;
        self.live[class] -= 1;
        Some(entry)
    }

    /// When the longest-waiting live entry was queued.
    pub fn oldest(&mut self) -> Option<Instant> {
        (0..self.lines.len())
            .filter_map(|class| self.live_head(class).map(|head| head.since))
            .min()
    }

    /// Removes every entry, live or not, returning the live ones.
    pub fn take_all(&mut self) -> Vec<Entry<T>> {
        self.live.iter_mut().for_each(|n| *n = 0);
        self.lines
            .iter_mut()
            .flat_map(|line| line.drain(..))
            .filter(|entry| entry.item.is_live())
            .collect()
    }

    // The first live entry of a line, dropping the tombstones before it.
    fn live_head(&mut self, class: usize) -> Option<&Entry<T>> {
        let line = &mut self.lines[class];
        while line.front().is_some_and(|entry| !entry.item.is_live()) {
            line.pop_front();
        }
        line.front()
    }

    // The last live entry of a line, dropping the tombstones after it.
    fn live_tail(&mut self, class: usize) -> Option<&Entry<T>> {
        let line = &mut self.lines[class];
        while line.back().is_some_and(|entry| !entry.item.is_live()) {
            line.pop_back();
        }
        line.back()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    // A test item: a name, and a flag the test clears to cancel it.
    #[derive(Debug, Clone)]
    struct Item(&'static str, Rc<Cell<bool>>);

    impl Live for Item {
        fn is_live(&self) -> bool {
            self.1.get()
        }
    }

    fn item(name: &'static str) -> Item {
        Item(name, Rc::new(Cell::new(true)))
    }

    fn pop(lines: &mut Lines<Item>, now: Instant) -> &'static str {
        lines.pop_most_urgent(now).expect("a live entry").1.item.0
    }

    #[tokio::test(start_paused = true)]
    async fn classes_in_precedence_then_fifo_within_a_class() {
        let mut lines = Lines::new(3, Duration::ZERO);
        let now = Instant::now();
        for (class, name) in [(2, "low1"), (1, "normal1"), (2, "low2"), (0, "high1")] {
            lines.push(class, now, item(name));
        }
        lines.push(0, now, item("high2"));
        let order: Vec<_> = (0..5).map(|_| pop(&mut lines, now)).collect();
        assert_eq!(order, ["high1", "high2", "normal1", "low1", "low2"]);
        assert!(lines.pop_most_urgent(now).is_none());
        assert!(lines.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_rises_one_class_per_aging_interval() {
        let aging = Duration::from_secs(5);
        let mut lines = Lines::new(3, aging);
        let start = Instant::now();
        lines.push(2, start, item("old-low"));
        tokio::time::advance(Duration::from_secs(5)).await;
        lines.push(1, Instant::now(), item("new-normal"));
        // After one interval the old low waiter counts as normal and is older: it wins.
        assert_eq!(lines.effective(2, start, Instant::now()), 1);
        assert_eq!(pop(&mut lines, Instant::now()), "old-low");

        lines.push(2, Instant::now(), item("fresh-low"));
        tokio::time::advance(Duration::from_secs(9)).await;
        lines.push(0, Instant::now(), item("high"));
        // 9 s: new-normal has aged one step (to high) but is older than `high`;
        // fresh-low has aged one step (to normal).
        let now = Instant::now();
        assert_eq!(pop(&mut lines, now), "new-normal");
        assert_eq!(pop(&mut lines, now), "high");
        assert_eq!(pop(&mut lines, now), "fresh-low");
    }

    #[tokio::test(start_paused = true)]
    async fn aging_never_goes_past_the_top_class() {
        let lines = Lines::<Item>::new(3, Duration::from_millis(10));
        let start = Instant::now();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(lines.effective(2, start, Instant::now()), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_least_urgent_is_the_newest_of_the_lowest_class() {
        let mut lines = Lines::new(3, Duration::from_secs(5));
        let now = Instant::now();
        lines.push(2, now, item("low-old"));
        lines.push(1, now, item("normal"));
        lines.push(2, now, item("low-new"));
        assert_eq!(lines.least_urgent(now), Some((2, 2)));
        assert_eq!(lines.pop_newest(2).expect("a low entry").item.0, "low-new");
        assert_eq!(lines.len(), 2);

        // Both age alike: after one interval the low waiter counts as normal, the normal
        // one as high; a normal newcomer is then the least urgent.
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(lines.least_urgent(Instant::now()), Some((2, 1)));
        lines.push(1, Instant::now(), item("normal-new"));
        assert_eq!(
            lines.least_urgent(Instant::now()),
            Some((1, 1)),
            "newest on a tie"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tombstones_are_skipped_and_counts_stay_exact() {
        let mut lines = Lines::new(2, Duration::ZERO);
        let now = Instant::now();
        let a = item("a");
        lines.push(0, now, a.clone());
        lines.push(0, now, item("b"));
        let c = item("c");
        lines.push(1, now, c.clone());
        a.1.set(false);
        lines.cancelled(0);
        c.1.set(false);
        lines.cancelled(1);
        assert_eq!(lines.depths(), &[1, 0]);
        assert_eq!(
            lines.least_urgent(now),
            Some((0, 0)),
            "c's tombstone is not a tail"
        );
        assert_eq!(pop(&mut lines, now), "b");
        assert!(lines.pop_most_urgent(now).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn lines_full_of_tombstones_are_compacted() {
        let mut lines = Lines::new(1, Duration::ZERO);
        let now = Instant::now();
        lines.push(0, now, item("head"));
        for _ in 0..1000 {
            let gone = item("gone");
            lines.push(0, now, gone.clone());
            gone.1.set(false);
            lines.cancelled(0);
        }
        assert!(lines.lines[0].len() <= 2 * lines.len() + 65);
        assert_eq!(pop(&mut lines, now), "head");
    }
}
