//! What a stored copy may answer: fresh, stale, revalidated, or 304 to the client.

use std::time::Duration;

use http::StatusCode;

use super::super::*;
use super::{NOW, map};
use crate::cache::control::RequestDirectives;

#[test]
fn use_decision_table() {
    let s = Duration::from_secs;
    let policy = |fresh, forbids, swr| Policy {
        fresh_for: s(fresh),
        forbids_stale: forbids,
        stale_while_revalidate: s(swr),
        stale_if_error: s(0),
        validatable: true,
    };
    let request = |cc: &'static str| RequestDirectives::parse(&map(&[("cache-control", cc)]));
    let none = RequestDirectives::default();
    let rows: &[(&str, Policy, u64, RequestDirectives, Use)] = &[
        ("fresh", policy(60, false, 0), 10, none.clone(), Use::Fresh),
        (
            "stale",
            policy(60, false, 0),
            60,
            none.clone(),
            Use::Forward,
        ),
        (
            "no-cache request",
            policy(60, false, 0),
            10,
            request("no-cache"),
            Use::Forward,
        ),
        (
            "request max-age exceeded",
            policy(60, false, 0),
            10,
            request("max-age=5"),
            Use::Forward,
        ),
        (
            "request max-age met",
            policy(60, false, 0),
            10,
            request("max-age=20"),
            Use::Fresh,
        ),
        (
            "min-fresh not met",
            policy(60, false, 0),
            50,
            request("min-fresh=20"),
            Use::Forward,
        ),
        (
            "min-fresh met",
            policy(60, false, 0),
            30,
            request("min-fresh=20"),
            Use::Fresh,
        ),
        (
            "max-stale accepts",
            policy(60, false, 0),
            65,
            request("max-stale=10"),
            Use::Stale,
        ),
        (
            "bare max-stale accepts any",
            policy(60, false, 0),
            6000,
            request("max-stale"),
            Use::Stale,
        ),
        (
            "max-stale too short",
            policy(60, false, 0),
            75,
            request("max-stale=10"),
            Use::Forward,
        ),
        (
            "must-revalidate beats max-stale",
            policy(60, true, 0),
            65,
            request("max-stale"),
            Use::Forward,
        ),
        (
            "stale-while-revalidate window",
            policy(60, false, 30),
            80,
            none.clone(),
            Use::StaleWhileRevalidate,
        ),
        (
            "past the swr window",
            policy(60, false, 30),
            95,
            none.clone(),
            Use::Forward,
        ),
        (
            "must-revalidate beats swr",
            policy(60, true, 30),
            80,
            none.clone(),
            Use::Forward,
        ),
        (
            "no-cache response (lifetime 0)",
            policy(0, true, 0),
            0,
            none.clone(),
            Use::Forward,
        ),
    ];
    for (what, policy, age, request, want) in rows {
        assert_eq!(policy.decide(s(*age), request), *want, "{what}");
    }
}

#[test]
fn stale_if_error_table() {
    let s = Duration::from_secs;
    let policy = |forbids| Policy {
        fresh_for: s(10),
        forbids_stale: forbids,
        stale_while_revalidate: s(0),
        stale_if_error: s(60),
        validatable: false,
    };
    assert!(policy(false).serves_on_error(s(50)), "inside the window");
    assert!(!policy(false).serves_on_error(s(71)), "past the window");
    assert!(
        !policy(true).serves_on_error(s(11)),
        "must-revalidate forbids it"
    );
}

#[test]
fn not_modified_updates_headers_but_not_the_body_length() {
    let mut stored = map(&[
        ("content-length", "5"),
        ("cache-control", "max-age=1"),
        ("etag", "\"a\""),
        ("x-kept", "1"),
    ]);
    let not_modified = map(&[
        ("content-length", "0"),
        ("cache-control", "max-age=60"),
        ("etag", "\"a\""),
        ("x-new", "2"),
    ]);
    merge_not_modified(&mut stored, &not_modified);
    assert_eq!(stored["content-length"], "5");
    assert_eq!(stored["cache-control"], "max-age=60");
    assert_eq!(stored["x-kept"], "1");
    assert_eq!(stored["x-new"], "2");
    assert_eq!(stored.get_all("etag").iter().count(), 1);
}

#[test]
fn client_conditions_table() {
    let stored = map(&[
        ("etag", "W/\"v1\""),
        ("last-modified", "Sun, 06 Nov 1994 07:49:37 GMT"),
    ]);
    type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], u16, bool);
    let rows: &[Row] = &[
        ("no conditions", &[], 200, false),
        ("same ETag", &[("if-none-match", "\"v1\"")], 200, true),
        (
            "weak comparison",
            &[("if-none-match", "W/\"v1\"")],
            200,
            true,
        ),
        (
            "one of a list",
            &[("if-none-match", "\"a,b\", \"v1\"")],
            200,
            true,
        ),
        ("another ETag", &[("if-none-match", "\"v2\"")], 200, false),
        (
            "a comma inside a tag",
            &[("if-none-match", "\"v1,\"")],
            200,
            false,
        ),
        ("any", &[("if-none-match", "*")], 200, true),
        ("not for a 404", &[("if-none-match", "*")], 404, false),
        (
            "If-Modified-Since after Last-Modified",
            &[("if-modified-since", NOW)],
            200,
            true,
        ),
        (
            "If-Modified-Since before Last-Modified",
            &[("if-modified-since", "Sun, 06 Nov 1994 06:49:37 GMT")],
            200,
            false,
        ),
        (
            "If-None-Match wins over If-Modified-Since",
            &[("if-none-match", "\"v2\""), ("if-modified-since", NOW)],
            200,
            false,
        ),
        (
            "an invalid date",
            &[("if-modified-since", "yesterday")],
            200,
            false,
        ),
    ];
    for (what, request, status, want) in rows {
        let status = StatusCode::from_u16(*status).expect("a status");
        assert_eq!(
            not_modified_for(&map(request), status, &stored),
            *want,
            "{what}"
        );
    }
    let without_etag = map(&[("date", NOW)]);
    assert!(
        !not_modified_for(
            &map(&[("if-none-match", "\"v1\"")]),
            StatusCode::OK,
            &without_etag
        ),
        "no ETag stored: If-None-Match cannot match"
    );
    assert!(
        not_modified_for(
            &map(&[("if-modified-since", NOW)]),
            StatusCode::OK,
            &without_etag
        ),
        "Date stands in for a missing Last-Modified"
    );
}
