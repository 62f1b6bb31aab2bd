//! The autoscaling policy: from samples of load to the number of instances a function
//! should have, and why.
//!
//! [`Policy`] is pure and deterministic. It does no I/O, spawns nothing and never reads the
//! clock: the caller feeds it a [`Sample`] each tick with [`Policy::observe`], then asks
//! [`Policy::decide`] at the time it passes in, and gets a [`Decision`]. The same samples
//! at the same times always give the same decisions, which is what lets the scenarios in
//! `tests.rs` run under paused time.
//!
//! One decision, step by step (DESIGN.md, "The scaler"):
//!
//! 1. A manual pin wins outright.
//! 2. Observed concurrency (in-flight + queued) is averaged over the stable and the panic
//!    window; each gives a desire, ceil(average / `target_concurrency`). When traffic
//!    arrives after an idle stable window (at zero, or at the minimum), both windows
//!    restart with it, so the idle spell before does not dilute the burst.
//! 3. Panic starts when the panic desire reaches `panic_threshold` × ready instances
//!    (counting at least one, so from zero any real burst panics), and ends after a whole
//!    stable window without that condition. In panic the panic desire is used, and the
//!    policy never scales down.
//! 4. Every other configured trigger gives a desire (see `triggers.rs`); the largest wins,
//!    concurrency first on a tie. The winner is clamped to [min, max].
//! 5. Scaling down waits: the policy goes no lower than the largest desire of the last
//!    `scale_down_delay`, and keeps its last instance until `scale_to_zero_grace` has passed
//!    without traffic.
//! 6. The step from the last decision is limited per tick ([`MAX_SCALE_UP_FACTOR`],
//!    [`MIN_SCALE_UP_STEP`], [`MAX_SCALE_DOWN_DIVISOR`]).
//! 7. The bounds are hard: a raised `min` or a lowered `max` applies at once.
//!
//! What this module does not own: gathering samples, starting or draining instances, and
//! choosing which instance to drain. Those belong to the loop that drives it.

mod triggers;
mod window;

#[cfg(test)]
mod tests;

use std::fmt;

use tidegate_config::Scaling;
use tokio::time::Instant;

pub use triggers::Observations;

use triggers::{TriggerWindows, desire};
use window::Window;

/// Each tick the policy may at most double the instances it asked for last time...
///
/// Why a limit at all: one bad sample (a metric glitch, a burst of retries) should not
/// start a hundred processes on one machine. Why ×2: a real step still grows
/// geometrically, and a step from zero to 20 instances takes two ticks (0 → 10 → 20), well
/// inside the 5 s target at the default 1 s tick. Knative's default is far looser
/// (×1000) because pods land on many nodes; the `process` provider shares one machine.
pub const MAX_SCALE_UP_FACTOR: u32 = 2;

/// ...or add this many, whichever is more, so that small fleets (and a fleet at zero,
/// where doubling gives nothing) are not held to a crawl.
pub const MIN_SCALE_UP_STEP: u32 = 10;

/// Each tick the policy may at most halve the instances it asked for last time (rounding
/// down, so one instance may go to zero). The scale-down delay already guards against
/// flapping; this keeps a sudden drop from draining most of the fleet at once, which
/// would leave no room if the load comes back while the drained ones finish. Knative's
/// default rate is the same.
pub const MAX_SCALE_DOWN_DIVISOR: u32 = 2;

/// One periodic observation of a function's load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// When it was taken, by tokio's clock.
    pub at: Instant,
    /// Requests being served by instances.
    pub in_flight: u32,
    /// Requests waiting for an instance slot.
    pub queued: u32,
    /// Instances in the Ready state.
    pub ready: u32,
    /// What the other triggers observed.
    pub observed: Observations,
}

/// An operator's manual scaling (`POST /v1/functions/{name}/scale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manual {
    /// Exactly this many instances; the policy is bypassed, delays and rates included.
    Pin(u32),
    /// Replace the configured bounds; `None` keeps the configured one.
    Bounds {
        /// Replaces `min_instances`.
        min: Option<u32>,
        /// Replaces `max_instances`.
        max: Option<u32>,
    },
}

/// What the policy decided at one tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Instances the function should have.
    pub desired: u32,
    /// What set `desired`.
    pub reason: Reason,
    /// Whether the policy is in panic mode.
    pub panic: bool,
}

/// What set a [`Decision`]'s figure: the winning trigger, a bound, or a hold.
///
/// When a rate limit cut the step short, the reason is still the trigger that drove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// In-flight + queued requests against `target_concurrency`.
    Concurrency,
    /// Requests per second against `target_rps`.
    RequestRate,
    /// CPU use against `target_cpu_percent`.
    Cpu,
    /// Memory use against `target_memory_percent`.
    Memory,
    /// Queue depth against `target_queue_depth`.
    QueueDepth,
    /// The custom metric against its target.
    Custom,
    /// Raised to `min_instances` (configured or overridden).
    MinInstances,
    /// Capped at `max_instances` (configured or overridden).
    MaxInstances,
    /// Pinned by an operator.
    ManualPin,
    /// The desire dropped, but not for a whole `scale_down_delay` yet.
    ScaleDownDelay,
    /// Nothing wants an instance, but the last one stays until `scale_to_zero_grace`.
    ScaleToZeroGrace,
    /// The desire dropped during panic, which never scales down.
    PanicHold,
}

impl Reason {
    /// A stable lowercase name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Concurrency => "concurrency",
            Reason::RequestRate => "rps",
            Reason::Cpu => "cpu",
            Reason::Memory => "memory",
            Reason::QueueDepth => "queue_depth",
            Reason::Custom => "custom",
            Reason::MinInstances => "min_instances",
            Reason::MaxInstances => "max_instances",
            Reason::ManualPin => "manual_pin",
            Reason::ScaleDownDelay => "scale_down_delay",
            Reason::ScaleToZeroGrace => "scale_to_zero_grace",
            Reason::PanicHold => "panic_hold",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The autoscaling policy of one function. See the module docs for the rules.
#[derive(Debug, Clone)]
pub struct Policy {
    scaling: Scaling,
    manual: Option<Manual>,

    /// In-flight + queued over `stable_window` and `panic_window`.
    stable: Window,
    panic_window: Window,
    triggers: TriggerWindows,
    /// Desires (after bounds) over `scale_down_delay`; their max is the floor when going down.
    recent_desires: Window,

    /// Ready instances in the latest sample.
    ready: u32,
    /// Time of the latest sample with traffic, or of the first sample when none had any,
    /// so that the grace of a function that never saw a request runs from the start.
    last_traffic: Option<Instant>,
    /// When the panic condition last held; `Some` while in panic.
    last_panic_condition: Option<Instant>,
    /// The figure of the last decision, which rates and holds are measured from.
    desired: u32,
}

impl Policy {
    /// A policy with no history, whose last decision counts as zero instances.
    pub fn new(scaling: Scaling) -> Self {
        Self {
            stable: Window::new(scaling.stable_window),
            panic_window: Window::new(scaling.panic_window),
            triggers: TriggerWindows::new(&scaling),
            recent_desires: Window::new(scaling.scale_down_delay),
            scaling,
            manual: None,
            ready: 0,
            last_traffic: None,
            last_panic_condition: None,
            desired: 0,
        }
    }

    /// Sets or clears (`None`: back to the policy) a manual override, from the next decision.
    pub fn set_manual(&mut self, manual: Option<Manual>) {
        self.manual = manual;
    }

    /// The manual override in force, if any.
    pub fn manual(&self) -> Option<Manual> {
        self.manual
    }

    /// Records one sample. Samples are expected in time order, one per tick.
    pub fn observe(&mut self, sample: Sample) {
        let concurrency = f64::from(sample.in_flight) + f64::from(sample.queued);
        // Traffic after an idle spell as long as the stable window (a function at zero, or
        // idle at its minimum): the windows hold nothing but that silence. Averaging the
        // burst with it would bring instances a few at a time, tick after tick; averaging
        // only since the traffic began sizes the fleet for the burst at once.
        if concurrency > 0.0 && self.stable.max(sample.at).unwrap_or(0.0) == 0.0 {
            self.stable.clear();
            self.panic_window.clear();
        }
        self.stable.push(sample.at, concurrency);
        self.panic_window.push(sample.at, concurrency);
        self.triggers.push(sample.at, &sample.observed);
        self.ready = sample.ready;

        // Any sign of requests counts as traffic for the scale-to-zero grace.
        let rps = sample.observed.requests_per_second.unwrap_or(0.0);
        if concurrency > 0.0 || rps > 0.0 || self.last_traffic.is_none() {
            self.last_traffic = Some(sample.at);
        }
    }

    /// Between ticks: a request is waiting and the function has no instance ready or
    /// starting. Asks for at least one instance (within the bounds) at once, and counts as
    /// traffic for the scale-to-zero grace. Adds nothing to the windows: one request seen
    /// off-tick says nothing about the load's size, and the next tick's sample will.
    pub fn demand(&mut self, now: Instant) -> Decision {
        if let Some(Manual::Pin(instances)) = self.manual {
            return self.remember(instances, Reason::ManualPin, false);
        }
        self.last_traffic = Some(now);
        let (min, max) = self.bounds();
        let (desired, reason) = clamp((self.desired.max(1), Reason::Concurrency), min, max);
        let panic = self.last_panic_condition.is_some();
        self.remember(desired, reason, panic)
    }

    /// Decides the instances wanted at `now`, and remembers it as the last decision.
    pub fn decide(&mut self, now: Instant) -> Decision {
        // 1. A pin is the operator's word: no delays, no rates, no panic.
        if let Some(Manual::Pin(instances)) = self.manual {
            self.last_panic_condition = None;
            self.recent_desires.clear();
            return self.remember(instances, Reason::ManualPin, false);
        }
        let (min, max) = self.bounds();
        let previous = self.desired;

        // 2. Concurrency over both windows.
        let target = self.scaling.target_concurrency;
        let stable_desire = desire(self.stable.mean(now).unwrap_or(0.0), target);
        let panic_desire = desire(self.panic_window.mean(now).unwrap_or(0.0), target);

        // 3. Panic: entered on the condition, left a whole stable window after it last held.
        let ready = f64::from(self.ready.max(1));
        if panic_desire > 0 && f64::from(panic_desire) >= self.scaling.panic_threshold * ready {
            self.last_panic_condition = Some(now);
        }
        let panic = match self.last_panic_condition {
            Some(at) if now.saturating_duration_since(at) < self.scaling.stable_window => true,
            _ => {
                self.last_panic_condition = None;
                false
            }
        };

        // 4. The largest desire wins; concurrency comes first, so it wins ties.
        let concurrency = if panic { panic_desire } else { stable_desire };
        let mut wanted = (concurrency, Reason::Concurrency);
        for (other, reason) in self.triggers.desires(&self.scaling, now) {
            if other > wanted.0 {
                wanted = (other, reason);
            }
        }
        let (mut desired, mut reason) = clamp(wanted, min, max);
        self.recent_desires.push(now, f64::from(desired));

        // 5. Going down waits for the delay, the grace, and never happens in panic.
        if desired < previous {
            if panic {
                (desired, reason) = (previous, Reason::PanicHold);
            } else {
                // The window includes this tick, so `held` is at least `desired`.
                let held = self.recent_desires.max(now).unwrap_or(0.0) as u32;
                if held > desired {
                    (desired, reason) = (held.min(previous), Reason::ScaleDownDelay);
                }
            }
        }
        if desired == 0 && previous > 0 && !self.grace_over(now) {
            (desired, reason) = (1, Reason::ScaleToZeroGrace);
        }

        // 6. Rates: bound the step from the last decision, keeping the reason that drove it.
        let most = previous
            .saturating_mul(MAX_SCALE_UP_FACTOR)
            .max(previous.saturating_add(MIN_SCALE_UP_STEP));
        let least = previous / MAX_SCALE_DOWN_DIVISOR;
        desired = desired.clamp(least, most);

        // 7. Bounds are hard, even against a rate or a hold: an override applies at once.
        let (desired, reason) = clamp((desired, reason), min, max);
        self.remember(desired, reason, panic)
    }

    /// The bounds in force: the configured ones, each replaced by an override if given. A
    /// `min` above `max` gives way to `max`, the bound that protects the machine.
    fn bounds(&self) -> (u32, u32) {
        let (mut min, mut max) = (self.scaling.min_instances, self.scaling.max_instances);
        if let Some(Manual::Bounds {
            min: low,
            max: high,
        }) = self.manual
        {
            min = low.unwrap_or(min);
            max = high.unwrap_or(max);
        }
        (min.min(max), max)
    }

    /// Whether `scale_to_zero_grace` has passed since the last traffic.
    fn grace_over(&self, now: Instant) -> bool {
        self.last_traffic
            .is_none_or(|at| now.saturating_duration_since(at) >= self.scaling.scale_to_zero_grace)
    }

    fn remember(&mut self, desired: u32, reason: Reason, panic: bool) -> Decision {
        self.desired = desired;
        Decision {
            desired,
            reason,
            panic,
        }
    }
}

/// Clamps a desire to [min, max], naming the bound when it applied.
fn clamp((desired, reason): (u32, Reason), min: u32, max: u32) -> (u32, Reason) {
    if desired > max {
        (max, Reason::MaxInstances)
    } else if desired < min {
        (min, Reason::MinInstances)
    } else {
        (desired, reason)
    }
}
