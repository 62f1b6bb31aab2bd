//! How long a request waits before it is answered: fixed, uniform, or exponential.
//!
//! Latencies are drawn from a per-thread xorshift generator seeded by std's `RandomState`:
//! good enough to shape a load, free of locks, and no `rand` crate to build.

use std::cell::Cell;
use std::hash::BuildHasher;
use std::str::FromStr;
use std::time::Duration;

use crate::units::{UnitError, parse_duration};

/// A latency distribution, as the `latency` knob spells it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// `50ms`: always this long.
    Fixed(Duration),
    /// `uniform:10ms..50ms`: any value in the range, equally likely.
    Uniform {
        /// The shortest wait.
        low: Duration,
        /// The longest wait.
        high: Duration,
    },
    /// `exp:20ms`: exponentially distributed with this mean, as independent arrivals give;
    /// its long tail is what exercises a proxy's queue.
    Exponential {
        /// The average wait.
        mean: Duration,
    },
}

impl Latency {
    /// Draws one wait from the distribution.
    pub fn sample(&self) -> Duration {
        match *self {
            Self::Fixed(wait) => wait,
            Self::Uniform { low, high } => low + (high - low).mul_f64(unit_random()),
            // Inverse transform: 1 - u lies in (0, 1], so the logarithm is finite.
            Self::Exponential { mean } => mean.mul_f64(-(1.0 - unit_random()).ln()),
        }
    }
}

impl FromStr for Latency {
    type Err = UnitError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(range) = text.strip_prefix("uniform:") {
            let (low, high) = range.split_once("..").unwrap_or((range, ""));
            let (low, high) = (parse_duration(low)?, parse_duration(high)?);
            // A reversed range is read as meant rather than refused.
            return Ok(Self::Uniform {
                low: low.min(high),
                high: low.max(high),
            });
        }
        if let Some(mean) = text.strip_prefix("exp:") {
            return Ok(Self::Exponential {
                mean: parse_duration(mean)?,
            });
        }
        parse_duration(text).map(Self::Fixed)
    }
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(std::collections::hash_map::RandomState::new().hash_one(0u64) | 1);
}

/// A uniform draw in `[0, 1)` from xorshift64*.
fn unit_random() -> f64 {
    let bits = STATE.with(|state| {
        let mut x = state.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        state.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    });
    // The top 53 bits fill an f64's mantissa exactly.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_spellings() {
        assert_eq!(
            "50ms".parse(),
            Ok(Latency::Fixed(Duration::from_millis(50)))
        );
        assert_eq!(
            "uniform:10ms..50ms".parse(),
            Ok(Latency::Uniform {
                low: Duration::from_millis(10),
                high: Duration::from_millis(50)
            })
        );
        assert_eq!(
            "exp:20ms".parse(),
            Ok(Latency::Exponential {
                mean: Duration::from_millis(20)
            })
        );
        assert!("uniform:10ms".parse::<Latency>().is_err());
        assert!("gamma:3ms".parse::<Latency>().is_err());
    }

    #[test]
    fn uniform_draws_stay_in_range() {
        let latency: Latency = "uniform:10ms..50ms".parse().expect("a valid range");
        for _ in 0..10_000 {
            let wait = latency.sample();
            assert!((Duration::from_millis(10)..=Duration::from_millis(50)).contains(&wait));
        }
    }

    #[test]
    fn exponential_draws_average_near_the_mean() {
        let latency: Latency = "exp:20ms".parse().expect("a valid mean");
        let draws = 100_000;
        let total: Duration = (0..draws).map(|_| latency.sample()).sum();
        let mean_ms = total.as_secs_f64() * 1e3 / f64::from(draws);
        // The standard error over 100,000 draws is 0.06 ms; 1 ms of slack never flakes.
        assert!((19.0..21.0).contains(&mean_ms), "mean was {mean_ms} ms");
    }
}
