//! Durations and sizes as people write them: `"250ms"`, `"1.5s"`, `"64MiB"`, `"1024"`.
//!
//! The spelling follows tidegate's config file, so the same words work in a config, on a
//! command line and in a query string. The parser is our own rather than `tidegate-config`'s
//! because this crate must build, and serve as an upstream, without the proxy's crates.

use std::time::Duration;

use thiserror::Error;

/// A duration or size that could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{input:?} is not a valid {what}: {hint}")]
pub struct UnitError {
    input: String,
    what: &'static str,
    hint: &'static str,
}

impl UnitError {
    fn new(input: &str, what: &'static str, hint: &'static str) -> Self {
        Self {
            input: input.to_owned(),
            what,
            hint,
        }
    }
}

/// Reads a duration: a number, then one of `ns`, `us`, `ms`, `s`, `m`, `h` (`"0"` alone is
/// also accepted). Fractions are allowed: `"1.5s"`.
///
/// A bare number is refused rather than guessed at: `latency=50` could mean seconds or
/// milliseconds, and a wrong guess silently skews a benchmark.
pub fn parse_duration(input: &str) -> Result<Duration, UnitError> {
    const HINT: &str = "write a number and a unit, e.g. \"50ms\", \"1.5s\", \"2m\"";
    let text = input.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }

    let (number, unit) = split_number(text);
    let seconds_per_unit = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(UnitError::new(input, "duration", HINT)),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| UnitError::new(input, "duration", HINT))?;
    Duration::try_from_secs_f64(value * seconds_per_unit)
        .map_err(|_| UnitError::new(input, "duration", "it must be positive and finite"))
}

/// Reads a size in bytes: a number, then optionally `B`, `KB`/`kB`, `KiB`, `MB`, `MiB`,
/// `GB`, `GiB` (case-insensitive). A bare number counts bytes: `size=1024`.
pub fn parse_size(input: &str) -> Result<u64, UnitError> {
    const HINT: &str = "write bytes, or a number and a unit, e.g. \"1024\", \"64KiB\", \"10MiB\"";
    let text = input.trim();
    let (number, unit) = split_number(text);
    let bytes_per_unit: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" => 1 << 10,
        "mb" => 1_000_000,
        "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return Err(UnitError::new(input, "size", HINT)),
    };

    // Whole numbers stay in integers so that `size=12345678901` is exact.
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(bytes_per_unit)
            .ok_or_else(|| UnitError::new(input, "size", "it is too large"));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| UnitError::new(input, "size", HINT))?;
    let bytes = value * bytes_per_unit as f64;
    if !(0.0..=u64::MAX as f64).contains(&bytes) {
        return Err(UnitError::new(
            input,
            "size",
            "it must be positive and fit in 64 bits",
        ));
    }
    Ok(bytes.round() as u64)
}

/// Splits `"12.5ms"` into `("12.5", "ms")`.
fn split_number(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ns"), Ok(Duration::from_nanos(250)));
        assert_eq!(parse_duration("20us"), Ok(Duration::from_micros(20)));
        assert_eq!(parse_duration("50ms"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn durations_without_a_unit_are_refused() {
        assert!(parse_duration("50").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes_in_every_unit() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("12B"), Ok(12));
        assert_eq!(parse_size("2kB"), Ok(2_000));
        assert_eq!(parse_size("2KiB"), Ok(2_048));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("1.5MiB"), Ok(3 << 19));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("1gib"), Ok(1 << 30));
    }

    #[test]
    fn sizes_that_make_no_sense_are_refused() {
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10 furlongs").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }
}
