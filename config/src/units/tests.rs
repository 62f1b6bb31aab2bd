//! Unit tests of duration and size parsing and formatting.

use std::time::Duration;

use super::*;

#[test]
fn durations_in_every_unit_parse() {
    let cases = [
        ("250ms", Duration::from_millis(250)),
        ("30s", Duration::from_secs(30)),
        ("5m", Duration::from_secs(300)),
        ("1h", Duration::from_secs(3600)),
        ("1.5s", Duration::from_millis(1500)),
        ("0s", Duration::ZERO),
        ("0", Duration::ZERO),
        ("100us", Duration::from_micros(100)),
        ("100µs", Duration::from_micros(100)),
        ("7ns", Duration::from_nanos(7)),
        ("1m30s", Duration::from_secs(90)),
        ("1h 30m", Duration::from_secs(5400)),
        (" 2 s ", Duration::from_secs(2)),
        (".5s", Duration::from_millis(500)),
        ("0.001ms", Duration::from_nanos(1000)),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_duration(text), Ok(expected), "parsing {text:?}");
    }
}

#[test]
fn bad_durations_say_what_is_valid() {
    for text in [
        "",
        "30",
        "30sec",
        "-5s",
        "s",
        "1h30",
        "fast",
        "1..5s",
        "99999999999h",
    ] {
        let error = parse_duration(text).expect_err(text);
        assert!(
            error.contains("expected a duration like") || error.contains("too long"),
            "{text:?} gave {error:?}"
        );
    }
    assert!(
        parse_duration("30sec")
            .unwrap_err()
            .contains("unknown unit \"sec\"")
    );
    assert!(parse_duration("30").unwrap_err().contains("no unit"));
}

#[test]
fn sizes_in_every_unit_parse() {
    let cases = [
        ("64MiB", 64 << 20),
        ("10MB", 10_000_000),
        ("512KiB", 512 << 10),
        ("1GiB", 1 << 30),
        ("2TiB", 2 << 40),
        ("3TB", 3_000_000_000_000),
        ("100", 100),
        ("100B", 100),
        ("1.5KiB", 1536),
        ("64 mib", 64 << 20),
        ("0", 0),
        ("1.1MB", 1_100_000),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_bytes(text), Ok(expected), "parsing {text:?}");
    }
}

#[test]
fn bad_sizes_say_what_is_valid() {
    for text in ["", "64M", "lots", "-1", "1.3KiB", "0.5B", "MiB"] {
        let error = parse_bytes(text).expect_err(text);
        assert!(
            error.contains("expected a size like"),
            "{text:?} gave {error:?}"
        );
    }
    assert!(
        parse_bytes("99999999TiB")
            .unwrap_err()
            .contains("too large")
    );
}

#[test]
fn formatted_durations_read_back_exactly() {
    let cases = [
        (Duration::ZERO, "0s"),
        (Duration::from_millis(250), "250ms"),
        (Duration::from_secs(30), "30s"),
        (Duration::from_secs(300), "5m"),
        (Duration::from_secs(3600), "1h"),
        (Duration::from_secs(5400), "1h30m"),
        (Duration::from_secs(3601), "1h1s"),
        (Duration::from_millis(1500), "1.5s"),
        (Duration::from_micros(100), "100us"),
        (Duration::from_nanos(1_000_001), "1.000001ms"),
        (Duration::from_nanos(3), "3ns"),
    ];
    for (duration, text) in cases {
        assert_eq!(format_duration(duration), text);
        assert_eq!(parse_duration(text), Ok(duration), "round trip of {text}");
    }
}

#[test]
fn formatted_sizes_read_back_exactly() {
    let cases = [
        (0, "0B"),
        (100, "100B"),
        (1536, "1.5KiB"),
        (64 << 20, "64MiB"),
        (10 << 20, "10MiB"),
        (1 << 30, "1GiB"),
        (10_000_000, "10MB"),
        (1_000, "1KB"),
        (1_001, "1001B"),
        (u64::MAX, "18446744073709551615B"),
    ];
    for (bytes, text) in cases {
        assert_eq!(format_bytes(bytes), text);
        assert_eq!(parse_bytes(text), Ok(bytes), "round trip of {text}");
    }
}

#[test]
fn serde_modules_read_strings_and_refuse_bare_durations() {
    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    struct Limits {
        #[serde(with = "duration")]
        wait: Duration,
        #[serde(with = "bytes")]
        size: u64,
    }

    let limits: Limits = toml::from_str("wait = \"2s\"\nsize = \"1KiB\"").expect("valid units");
    assert_eq!((limits.wait, limits.size), (Duration::from_secs(2), 1024));
    let written = toml::to_string(&limits).expect("units serialize as strings");
    assert_eq!(written, "wait = \"2s\"\nsize = \"1KiB\"\n");

    let limits: Limits = toml::from_str("wait = \"0s\"\nsize = 4096").expect("an integer size");
    assert_eq!(limits.size, 4096);

    let error = toml::from_str::<Limits>("wait = 30\nsize = 1").unwrap_err();
    assert!(
        error.message().contains(r#"write "30s" or "30ms""#),
        "{error}"
    );
    let error = toml::from_str::<Limits>("wait = \"1s\"\nsize = -1").unwrap_err();
    assert!(error.message().contains("negative"), "{error}");
}
