//! The triggers besides concurrency: what each observes, and the desire each gives.
//!
//! Every trigger follows one rule: desire = ceil(observed total / per-instance target),
//! with the total averaged over the stable window. Observations are therefore totals
//! across the function's instances (the CPU percent of all instances added up, the custom
//! metric summed), never per-instance figures; the caller adds them up once, and the policy
//! needs no instance count to turn a per-instance mean back into a total.

use tidegate_config::Scaling;
use tokio::time::Instant;

use super::Reason;
use super::window::Window;

/// What the other triggers observed in one sample; `None` where nothing was measured.
///
/// A trigger with no target in the configuration ignores its observation; a trigger with a
/// target but no observations in the stable window gives no desire.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observations {
    /// Requests per second to the function, over all instances.
    pub requests_per_second: Option<f64>,
    /// CPU use of all instances added up, in percent of one core.
    pub cpu_percent: Option<f64>,
    /// Memory use of all instances added up, in percent of one instance's `memory_mb`.
    pub memory_percent: Option<f64>,
    /// Requests waiting in the function's queue.
    pub queue_depth: Option<f64>,
    /// The custom metric, summed across instances (and label sets).
    pub custom: Option<f64>,
}

/// The stable-window average of each trigger's observations.
#[derive(Debug, Clone)]
pub(crate) struct TriggerWindows {
    rps: Window,
    cpu: Window,
    memory: Window,
    queue_depth: Window,
    custom: Window,
}

impl TriggerWindows {
    /// Empty windows, each over `scaling.stable_window`.
    pub(crate) fn new(scaling: &Scaling) -> Self {
        let window = || Window::new(scaling.stable_window);
        Self {
            rps: window(),
            cpu: window(),
            memory: window(),
            queue_depth: window(),
            custom: window(),
        }
    }

    /// Records the observations present in one sample taken at `at`.
    pub(crate) fn push(&mut self, at: Instant, observed: &Observations) {
        let pairs = [
            (&mut self.rps, observed.requests_per_second),
            (&mut self.cpu, observed.cpu_percent),
            (&mut self.memory, observed.memory_percent),
            (&mut self.queue_depth, observed.queue_depth),
            (&mut self.custom, observed.custom),
        ];
        for (window, value) in pairs {
            if let Some(value) = value.filter(|v| v.is_finite()) {
                window.push(at, value);
            }
        }
    }

    /// The desire of each configured trigger that has observations, in a fixed order (rps,
    /// cpu, memory, queue depth, custom) so that ties resolve the same way every time.
    pub(crate) fn desires(&mut self, scaling: &Scaling, now: Instant) -> Vec<(u32, Reason)> {
        let custom_target = scaling.custom.as_ref().map(|custom| custom.target);
        let pairs = [
            (&mut self.rps, scaling.target_rps, Reason::RequestRate),
            (&mut self.cpu, scaling.target_cpu_percent, Reason::Cpu),
            (
                &mut self.memory,
                scaling.target_memory_percent,
                Reason::Memory,
            ),
            (
                &mut self.queue_depth,
                scaling.target_queue_depth,
                Reason::QueueDepth,
            ),
            (&mut self.custom, custom_target, Reason::Custom),
        ];
        let mut desires = Vec::new();
        for (window, target, reason) in pairs {
            let Some(target) = target else { continue };
            if let Some(mean) = window.mean(now) {
                desires.push((desire(mean, target), reason));
            }
        }
        desires
    }
}

/// Instances needed to carry `total` at `per_instance` each: ceil(total / per_instance).
///
/// A hair is taken off before rounding up, so that a mean that floating point left at
/// 20.000000000004 asks for 2 instances at a target of 10, not 3. Zero, negative or
/// non-finite inputs ask for none; config validation already rejects such targets.
pub(crate) fn desire(total: f64, per_instance: f64) -> u32 {
    const HAIR: f64 = 1e-9;
    if !(total > 0.0 && per_instance > 0.0 && per_instance.is_finite()) {
        return 0;
    }
    // `as` saturates: an absurd total asks for u32::MAX, and the bounds cap it.
    (total / per_instance - HAIR).ceil().max(1.0) as u32
}

#[cfg(test)]
mod tests {
    use super::desire;

    #[test]
    fn desire_rounds_up_and_tolerates_float_noise() {
        assert_eq!(desire(0.0, 10.0), 0);
        assert_eq!(desire(0.1, 10.0), 1);
        assert_eq!(desire(20.0, 10.0), 2);
        assert_eq!(desire(20.000_000_000_004, 10.0), 2);
        assert_eq!(desire(21.0, 10.0), 3);
        assert_eq!(desire(5.0, 0.0), 0);
        assert_eq!(desire(f64::INFINITY, 10.0), u32::MAX);
    }
}
