//! The priority mix: which share of requests carries which `x-tidegate-priority` class.
//!
//! Written `high=10,normal=60,low=30`: weights, not percentages, so `high=1,low=3` works
//! too. Each request draws its class at random by weight, and the results are recorded per
//! class, which is how a run shows whether `high` really goes first under overload.

use std::fmt;

use http::HeaderValue;
use thiserror::Error;

/// The header that carries a request's priority class, as tidegate's config names it by
/// default.
pub const PRIORITY_HEADER: &str = "x-tidegate-priority";

/// A mix that could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{input:?} is not a priority mix: {reason}; write e.g. \"high=10,normal=60,low=30\"")]
pub struct PriorityError {
    input: String,
    reason: &'static str,
}

/// One class of the mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityClass {
    /// The class name, sent as the header's value.
    pub name: String,
    /// The header value, made once.
    pub header: HeaderValue,
    /// Its relative weight.
    pub weight: u32,
}

/// The classes and their weights; empty when requests carry no priority.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriorityMix {
    classes: Vec<PriorityClass>,
    total: u64,
}

impl PriorityMix {
    /// Reads `name=weight,…`. An empty string is the empty mix.
    pub fn parse(input: &str) -> Result<Self, PriorityError> {
        let error = |reason| PriorityError {
            input: input.to_owned(),
            reason,
        };
        let mut classes: Vec<PriorityClass> = Vec::new();
        for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .ok_or_else(|| error("each class needs a weight"))?;
            let name = name.trim();
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| error("weights are whole numbers"))?;
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(error("class names are visible ASCII without spaces"));
            }
            if classes.iter().any(|c| c.name == name) {
                return Err(error("a class is named twice"));
            }
            let header = HeaderValue::from_str(name)
                .map_err(|_| error("a class name must fit in a header"))?;
            classes.push(PriorityClass {
                name: name.to_owned(),
                header,
                weight,
            });
        }
        let total = classes.iter().map(|c| u64::from(c.weight)).sum();
        if !classes.is_empty() && total == 0 {
            return Err(error("at least one weight must be above zero"));
        }
        Ok(Self { classes, total })
    }

    /// The classes, in the order given.
    pub fn classes(&self) -> &[PriorityClass] {
        &self.classes
    }

    /// Whether requests carry no priority.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Draws a class index by weight; `None` for the empty mix.
    pub fn pick(&self, rng: &mut Rng) -> Option<usize> {
        if self.total == 0 {
            return None;
        }
        let mut ticket = rng.below(self.total);
        for (index, class) in self.classes.iter().enumerate() {
            let weight = u64::from(class.weight);
            if ticket < weight {
                return Some(index);
            }
            ticket -= weight;
        }
        unreachable!("the ticket is below the sum of the weights")
    }
}

/// The form [`PriorityMix::parse`] reads.
impl fmt::Display for PriorityMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, class) in self.classes.iter().enumerate() {
            let comma = if i > 0 { "," } else { "" };
            write!(f, "{comma}{}={}", class.name, class.weight)?;
        }
        Ok(())
    }
}

/// A small, fast random number generator (SplitMix64), one per worker.
///
/// Drawing a class needs no cryptographic quality and no shared state; a crate for it would
/// cost more to build than these lines.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed; different seeds give independent-looking streams.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`, by multiply-and-shift (bias below 2⁻³² for our bounds).
    pub fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_a_mix() {
        let mix = PriorityMix::parse("high=10, normal=60,low=30").unwrap();
        let names: Vec<_> = mix.classes().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["high", "normal", "low"]);
        assert_eq!(mix.to_string(), "high=10,normal=60,low=30");
        assert!(PriorityMix::parse("").unwrap().is_empty());
    }

    #[test]
    fn refuses_what_it_cannot_send() {
        for bad in ["high", "high=x", "high=-1", "=3", "a b=1", "a=1,a=2", "a=0"] {
            assert!(
                PriorityMix::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn draws_classes_in_proportion_to_their_weights() {
        let mix = PriorityMix::parse("high=10,normal=60,low=30,never=0").unwrap();
        let mut rng = Rng::new(7);
        let mut counts = [0_u32; 4];
        for _ in 0..100_000 {
            counts[mix.pick(&mut rng).unwrap()] += 1;
        }
        assert_eq!(counts[3], 0);
        for (count, share) in counts.iter().zip([0.1, 0.6, 0.3]) {
            let observed = f64::from(*count) / 100_000.0;
            assert!((observed - share).abs() < 0.01, "{counts:?}");
        }
        assert_eq!(PriorityMix::default().pick(&mut rng), None);
    }
}
