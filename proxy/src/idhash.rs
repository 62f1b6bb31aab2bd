//! Hashing for maps keyed by small integers (instance ids, function indexes).
//!
//! The standard library's SipHash resists collision attacks on keys an attacker chooses;
//! these keys are assigned by tidegate itself, so a multiply is enough, and it runs on
//! every request.

use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` hasher for keys made of integers tidegate assigns.
pub type IdBuildHasher = BuildHasherDefault<IdHasher>;

/// Fibonacci hashing of the integers written to it.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_u16(&mut self, value: u16) {
        self.write_u64(u64::from(value));
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn distinct_ids_spread() {
        let hasher = IdBuildHasher::default();
        let hashes: std::collections::HashSet<u64> =
            (0..1000u64).map(|i| hasher.hash_one(i) >> 57).collect();
        assert!(hashes.len() > 64, "the top bits (used for buckets) vary");
    }
}
