//! Durations and byte sizes as people write them: `"250ms"`, `"1m30s"`, `"64MiB"`.
//!
//! Parsing is exact: `"1.5s"` is 1,500,000,000 ns and `"1.5KiB"` is 1,536 bytes, computed in
//! integers so no float rounding creeps in. Formatting produces the shortest exact spelling,
//! so `parse(format(x)) == x` for every value (the summary of `tidegate check` relies on it
//! being copy-pasteable). The [`duration`] and [`bytes`] modules plug both into serde
//! through `#[serde(with = "...")]`.

use std::time::Duration;

/// What a valid duration looks like; every duration error ends with it.
const DURATION_HINT: &str =
    r#"expected a duration like "250ms", "30s" or "5m" (units: ns, us, ms, s, m, h)"#;

/// What a valid size looks like; every size error ends with it.
const SIZE_HINT: &str = r#"expected a size like "64MiB", "10MB" or "512KiB", or a plain number of bytes (units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"#;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses a duration: one or more `NUMBER UNIT` parts (`"1h30m"`), each number an integer or
/// decimal, each unit one of `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`. A bare `"0"` is zero.
///
/// ```
/// # use std::time::Duration;
/// use tidegate_config::units::parse_duration;
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert!(parse_duration("30").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(format!("empty duration; {DURATION_HINT}"));
    }
    // Zero needs no unit to be unambiguous, and people write it that way.
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }

    let mut rest = trimmed;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (number, after) = split_number(rest)
            .ok_or_else(|| format!("\"{text}\" is not a duration; {DURATION_HINT}"))?;
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(after.len());
        let unit = &after[..unit_len];
        let nanos_per_unit: u128 = match unit {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            "" => return Err(format!("\"{text}\" has no unit; {DURATION_HINT}")),
            other => {
                return Err(format!(
                    "unknown unit \"{other}\" in \"{text}\"; {DURATION_HINT}"
                ));
            }
        };
        let nanos = number
            .scaled(nanos_per_unit)
            .ok_or_else(|| format!("\"{text}\" is too long a duration"))?;
        total = total
            .checked_add(nanos.whole)
            .ok_or_else(|| format!("\"{text}\" is too long a duration"))?;
        rest = after[unit_len..].trim_start();
    }

    // `Duration::from_nanos` takes a u64: about 584 years, plenty for any timeout.
    let nanos = u64::try_from(total).map_err(|_| format!("\"{text}\" is too long a duration"))?;
    Ok(Duration::from_nanos(nanos))
}

/// Parses a size in bytes: a plain integer (`"100"`), or a number and a unit, decimal
/// (`B`, `KB`, `MB`, `GB`, `TB`: powers of 1000) or binary (`KiB`, `MiB`, `GiB`, `TiB`:
/// powers of 1024), case-insensitive. The result must be a whole number of bytes.
///
/// ```
/// use tidegate_config::units::parse_bytes;
/// assert_eq!(parse_bytes("64MiB"), Ok(64 * 1024 * 1024));
/// assert_eq!(parse_bytes("1.5KiB"), Ok(1536));
/// assert_eq!(parse_bytes("100"), Ok(100));
/// ```
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let (number, unit) =
        split_number(trimmed).ok_or_else(|| format!("\"{text}\" is not a size; {SIZE_HINT}"))?;
    let unit = unit.trim_start();

    // Bare "K"/"M"/"G" are refused: whether they mean 1000 or 1024 is a coin toss.
    let bytes_per_unit: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "unknown unit \"{unit}\" in \"{text}\"; {SIZE_HINT}"
            ));
        }
    };
    let bytes = number
        .scaled(bytes_per_unit)
        .ok_or_else(|| format!("\"{text}\" is too large a size"))?;
    if bytes.has_fraction {
        return Err(format!(
            "\"{text}\" is not a whole number of bytes; {SIZE_HINT}"
        ));
    }
    u64::try_from(bytes.whole).map_err(|_| format!("\"{text}\" is too large a size"))
}

/// Formats a duration as the shortest exact string [`parse_duration`] reads back:
/// `"0s"`, `"250ms"`, `"1.5s"`, `"1m30s"`, `"2h"`.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }

    // Whole seconds read best as hours, minutes and seconds.
    if nanos.is_multiple_of(NANOS_PER_SEC) {
        let secs = duration.as_secs();
        let mut out = String::new();
        for (amount, unit) in [
            (secs / 3600, "h"),
            (secs % 3600 / 60, "m"),
            (secs % 60, "s"),
        ] {
            if amount > 0 {
                out.push_str(&format!("{amount}{unit}"));
            }
        }
        return out;
    }

    let (per_unit, unit) = match nanos {
        n if n >= NANOS_PER_SEC => (NANOS_PER_SEC, "s"),
        n if n >= 1_000_000 => (1_000_000, "ms"),
        n if n >= 1_000 => (1_000, "us"),
        _ => (1, "ns"),
    };
    format!("{}{unit}", format_decimal(nanos, per_unit))
}

/// Formats a size as the shortest exact string [`parse_bytes`] reads back, preferring binary
/// units: `"64MiB"`, `"1.5KiB"`, `"10MB"`, `"100B"`.
pub fn format_bytes(bytes: u64) -> String {
    let value = u128::from(bytes);
    if value == 0 {
        return "0B".to_owned();
    }

    // Up to two decimals keep "1.5KiB" readable without ever rounding.
    let binary = [
        ("TiB", 1u128 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, per_unit) in binary {
        if value >= per_unit && (value * 100) % per_unit == 0 {
            return format!("{}{unit}", format_decimal(value, per_unit));
        }
    }
    let decimal = [
        ("TB", 1_000_000_000_000u128),
        ("GB", 1_000_000_000),
        ("MB", 1_000_000),
    ];
    for (unit, per_unit) in decimal.into_iter().chain([("KB", 1_000)]) {
        if value >= per_unit && value % per_unit == 0 {
            return format!("{}{unit}", value / per_unit);
        }
    }
    format!("{bytes}B")
}

/// `value / per_unit` written exactly, with no trailing zeros after the point.
fn format_decimal(value: u128, per_unit: u128) -> String {
    let whole = value / per_unit;
    let mut fraction = value % per_unit;
    if fraction == 0 {
        return whole.to_string();
    }
    let mut digits = String::new();
    while fraction > 0 {
        fraction *= 10;
        digits.push(char::from(b'0' + (fraction / per_unit) as u8));
        fraction %= per_unit;
    }
    format!("{whole}.{digits}")
}

/// A decimal number as written, kept as digits so scaling it is exact.
struct Number<'a> {
    whole: &'a str,
    fraction: &'a str,
}

/// A number times a unit: the whole part, and whether anything was left below one.
struct Scaled {
    whole: u128,
    has_fraction: bool,
}

impl Number<'_> {
    /// `self × per_unit`, or `None` on overflow.
    fn scaled(&self, per_unit: u128) -> Option<Scaled> {
        let whole: u128 = if self.whole.is_empty() {
            0
        } else {
            self.whole.parse().ok()?
        };
        let mut total = whole.checked_mul(per_unit)?;

        // Long fractions beyond what any unit can resolve only add a remainder.
        let mut numerator: u128 = 0;
        let mut denominator: u128 = 1;
        let mut has_fraction = false;
        for digit in self.fraction.bytes() {
            if denominator >= 10u128.pow(24) {
                has_fraction |= digit != b'0';
                continue;
            }
            numerator = numerator * 10 + u128::from(digit - b'0');
            denominator *= 10;
        }
        let product = numerator.checked_mul(per_unit)?;
        total = total.checked_add(product / denominator)?;
        has_fraction |= product % denominator != 0;
        Some(Scaled {
            whole: total,
            has_fraction,
        })
    }
}

/// Splits a leading decimal number (`12`, `1.5`, `.5`) from the rest of `text`.
fn split_number(text: &str) -> Option<(Number<'_>, &str)> {
    let whole_len = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (whole, rest) = text.split_at(whole_len);
    let (fraction, rest) = match rest.strip_prefix('.') {
        Some(after_point) => {
            let len = after_point
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_point.len());
            after_point.split_at(len)
        }
        None => ("", rest),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    Some((Number { whole, fraction }, rest))
}

/// `#[serde(with = "units::duration")]`: a [`Duration`] written as a string like `"30s"`.
pub mod duration {
    use std::fmt;
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    /// Reads a duration string; a bare number is refused with a hint to add a unit.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_str(DurationVisitor)
    }

    /// Writes the duration as [`super::format_duration`] spells it.
    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_duration(*value))
    }

    struct DurationVisitor;

    impl Visitor<'_> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(r#"a duration like "250ms", "30s" or "5m""#)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            super::parse_duration(text).map_err(E::custom)
        }

        // A bare number could mean seconds or milliseconds; make the writer say which.
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Duration, E> {
            Err(E::custom(format!(
                r#"a duration needs a unit: write "{n}s" or "{n}ms", not {n}"#
            )))
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Duration, E> {
            Err(E::custom(format!(
                r#"a duration needs a unit: write "{n}s" or "{n}ms", not {n}"#
            )))
        }
    }
}

/// `#[serde(with = "units::bytes")]`: a size written as a string like `"64MiB"`, or an integer
/// number of bytes.
pub mod bytes {
    use std::fmt;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    /// Reads a size string or a non-negative integer.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_any(BytesVisitor)
    }

    /// Writes the size as [`super::format_bytes`] spells it.
    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format_bytes(*value))
    }

    struct BytesVisitor;

    impl Visitor<'_> for BytesVisitor {
        type Value = u64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(r#"a size like "64MiB", "10MB" or "512KiB", or a number of bytes"#)
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
            super::parse_bytes(text).map_err(E::custom)
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<u64, E> {
            Ok(n)
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<u64, E> {
            u64::try_from(n).map_err(|_| E::custom(format!("a size cannot be negative ({n})")))
        }
    }
}

#[cfg(test)]
mod tests;
