//! `Content-Length` read strictly, the same way for requests and responses.
//!
//! A length that two parsers read differently is how a request is smuggled past a proxy
//! or a response split in front of a client, so anything but plain decimal digits is
//! refused: `u64::from_str` alone also takes a leading `+`. Repeats of one value (as more
//! lines, or a list in one line) are allowed (RFC 9110 §8.6), disagreeing values are not,
//! and a repeated length is folded into one line before the message goes on, so the next
//! hop reads exactly what tidegate read.

use http::HeaderMap;
use http::header::{CONTENT_LENGTH, HeaderValue};

/// Why a message's `Content-Length` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLength {
    /// A value that is not a decimal number within `u64`.
    #[error("invalid Content-Length")]
    Malformed,
    /// Two values that disagree.
    #[error("conflicting Content-Length values")]
    Conflicting,
}

/// The declared body length, if any; leaves exactly one `Content-Length` line behind.
pub fn content_length(headers: &mut HeaderMap) -> Result<Option<u64>, InvalidLength> {
    let mut length = None;
    let mut repeated = false;
    for value in headers.get_all(CONTENT_LENGTH) {
        for part in value.as_bytes().split(|b| *b == b',') {
            let parsed = parse_digits(part.trim_ascii())?;
            match length {
                Some(known) if known != parsed => return Err(InvalidLength::Conflicting),
                Some(_) => repeated = true,
                None => length = Some(parsed),
            }
        }
    }
    if repeated && let Some(length) = length {
        headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    }
    Ok(length)
}

fn parse_digits(digits: &[u8]) -> Result<u64, InvalidLength> {
    if digits.is_empty() {
        return Err(InvalidLength::Malformed);
    }
    digits.iter().try_fold(0u64, |n, digit| {
        if !digit.is_ascii_digit() {
            return Err(InvalidLength::Malformed);
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(digit - b'0')))
            .ok_or(InvalidLength::Malformed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lengths(values: &[&str]) -> (Result<Option<u64>, InvalidLength>, Vec<String>) {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CONTENT_LENGTH, HeaderValue::from_str(value).unwrap());
        }
        let result = content_length(&mut headers);
        let left = headers
            .get_all(CONTENT_LENGTH)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        (result, left)
    }

    #[test]
    fn plain_and_repeated_lengths_are_read_and_folded() {
        assert_eq!(lengths(&[]).0, Ok(None));
        assert_eq!(lengths(&["42"]), (Ok(Some(42)), vec!["42".to_owned()]));
        assert_eq!(lengths(&[" 7 "]).0, Ok(Some(7)));
        assert_eq!(lengths(&["5", "5"]), (Ok(Some(5)), vec!["5".to_owned()]));
        assert_eq!(lengths(&["5, 5"]), (Ok(Some(5)), vec!["5".to_owned()]));
    }

    #[test]
    fn anything_but_digits_or_disagreement_is_refused() {
        for bad in ["+5", "-1", "0x10", "5 5", "", "5,", "18446744073709551616"] {
            assert_eq!(
                lengths(&[bad]).0,
                Err(InvalidLength::Malformed),
                "{bad:?} is refused"
            );
        }
        assert_eq!(lengths(&["5", "6"]).0, Err(InvalidLength::Conflicting));
        assert_eq!(lengths(&["5, 6"]).0, Err(InvalidLength::Conflicting));
    }
}
