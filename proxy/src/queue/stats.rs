//! A queue's metrics: waits per class, requests turned away per reason, unknown classes.
//!
//! The handles are made once, when the queue is, so recording costs an atomic add or a
//! histogram insert and never a label lookup. Depth per class is a gauge set at scrape
//! time from the queue itself ([`crate::metrics::update_gauges`]), not on every change.

use std::time::Duration;

use metrics::{Counter, Histogram, counter, histogram};

use crate::metrics::{QUEUE_REJECTED, QUEUE_UNKNOWN_PRIORITY, QUEUE_WAIT};

/// Why a request left the queue without an instance slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The queue was full and the request was not more urgent than anyone in it.
    Full,
    /// A more urgent request took its place.
    Displaced,
    /// It waited out its queue timeout.
    Timeout,
    /// The function's instances fail to start.
    ScaleFailed,
    /// The proxy's shutdown grace ran out.
    ShuttingDown,
}

impl Reason {
    /// Every reason, in the order of [`Stats`]'s counters.
    pub const ALL: [Reason; 5] = [
        Reason::Full,
        Reason::Displaced,
        Reason::Timeout,
        Reason::ScaleFailed,
        Reason::ShuttingDown,
    ];

    /// The `reason` label of `tidegate_queue_rejected_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Full => "full",
            Reason::Displaced => "displaced",
            Reason::Timeout => "timeout",
            Reason::ScaleFailed => "scale_failed",
            Reason::ShuttingDown => "shutting_down",
        }
    }
}

/// One queue's metric handles.
#[derive(Debug)]
pub struct Stats {
    waits: Vec<Histogram>,
    rejected: Vec<Counter>,
    unknown: Counter,
}

impl Stats {
    /// Handles for `function` with the given class names.
    pub fn new(function: &str, classes: &[Box<str>]) -> Self {
        let waits = classes
            .iter()
            .map(|class| {
                histogram!(QUEUE_WAIT, "function" => function.to_owned(), "priority" => class.to_string())
            })
            .collect();
        let rejected = Reason::ALL
            .iter()
            .map(|reason| {
                counter!(QUEUE_REJECTED, "function" => function.to_owned(), "reason" => reason.as_str())
            })
            .collect();
        let unknown = counter!(QUEUE_UNKNOWN_PRIORITY, "function" => function.to_owned());
        Stats {
            waits,
            rejected,
            unknown,
        }
    }

    /// A request of `class` got a slot after waiting `wait`.
    pub fn waited(&self, class: usize, wait: Duration) {
        self.waits[class].record(wait.as_secs_f64());
    }

    /// A request was turned away.
    pub fn rejected(&self, reason: Reason) {
        let at = Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.rejected[at].increment(1);
    }

    /// A request named a class the function does not have.
    pub fn unknown_priority(&self) {
        self.unknown.increment(1);
    }
}
