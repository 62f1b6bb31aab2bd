//! What may be stored, and its lifetime and age.

use std::time::Duration;

use http::header::{AUTHORIZATION, CACHE_CONTROL};
use http::{HeaderMap, Method, StatusCode};

use super::super::*;
use super::{NOW, map, now};
use crate::cache::control::{RequestDirectives, ResponseDirectives};

struct Row {
    what: &'static str,
    method: Method,
    request: &'static [(&'static str, &'static str)],
    status: u16,
    response: &'static [(&'static str, &'static str)],
    default_ttl: u64,
    want: Result<u64, &'static str>,
}

fn row(
    what: &'static str,
    request: &'static [(&'static str, &'static str)],
    status: u16,
    response: &'static [(&'static str, &'static str)],
    want: Result<u64, &'static str>,
) -> Row {
    Row {
        what,
        method: Method::GET,
        request,
        status,
        response,
        default_ttl: 0,
        want,
    }
}

#[test]
fn storable_and_lifetime_table() {
    let rows = [
        row(
            "max-age",
            &[],
            200,
            &[("cache-control", "max-age=60")],
            Ok(60),
        ),
        row(
            "s-maxage wins over max-age",
            &[],
            200,
            &[("cache-control", "max-age=60, s-maxage=5")],
            Ok(5),
        ),
        row(
            "max-age wins over Expires",
            &[],
            200,
            &[
                ("cache-control", "max-age=7"),
                ("expires", "Sun, 06 Nov 1994 09:49:37 GMT"),
            ],
            Ok(7),
        ),
        row(
            "Expires minus Date",
            &[],
            200,
            &[("date", NOW), ("expires", "Sun, 06 Nov 1994 08:50:37 GMT")],
            Ok(60),
        ),
        row(
            "invalid Expires is expired, no validator: not stored",
            &[],
            200,
            &[("expires", "0")],
            Err("no-freshness"),
        ),
        row(
            "invalid Expires with ETag: stored for validation",
            &[],
            200,
            &[("expires", "0"), ("etag", "\"a\"")],
            Ok(0),
        ),
        row(
            "heuristic: 10 % of Date - Last-Modified",
            &[],
            200,
            &[
                ("date", NOW),
                ("last-modified", "Sun, 06 Nov 1994 07:49:37 GMT"),
            ],
            Ok(360),
        ),
        row(
            "heuristic capped at a day",
            &[],
            200,
            &[
                ("date", NOW),
                ("last-modified", "Tue, 06 Nov 1984 08:49:37 GMT"),
            ],
            Ok(HEURISTIC_CAP.as_secs()),
        ),
        row(
            "heuristic not for a 302",
            &[],
            302,
            &[
                ("date", NOW),
                ("last-modified", "Sun, 06 Nov 1994 07:49:37 GMT"),
            ],
            Err("no-freshness"),
        ),
        row(
            "explicit max-age makes a 500 storable",
            &[],
            500,
            &[("cache-control", "max-age=3")],
            Ok(3),
        ),
        row("nothing to go by", &[], 200, &[], Err("no-freshness")),
        row(
            "no-store in the response",
            &[],
            200,
            &[("cache-control", "no-store, max-age=60")],
            Err("no-store"),
        ),
        row(
            "no-store in the request",
            &[("cache-control", "no-store")],
            200,
            &[("cache-control", "max-age=60")],
            Err("request-no-store"),
        ),
        row(
            "private",
            &[],
            200,
            &[("cache-control", "private, max-age=60")],
            Err("private"),
        ),
        row(
            "Authorization without permission",
            &[("authorization", "Bearer x")],
            200,
            &[("cache-control", "max-age=60")],
            Err("authorization"),
        ),
        row(
            "Authorization with public",
            &[("authorization", "Bearer x")],
            200,
            &[("cache-control", "public, max-age=60")],
            Ok(60),
        ),
        row(
            "Authorization with s-maxage",
            &[("authorization", "Bearer x")],
            200,
            &[("cache-control", "s-maxage=9")],
            Ok(9),
        ),
        row(
            "Authorization with must-revalidate",
            &[("authorization", "Bearer x")],
            200,
            &[("cache-control", "must-revalidate, max-age=4")],
            Ok(4),
        ),
        row(
            "Vary: *",
            &[],
            200,
            &[("cache-control", "max-age=60"), ("vary", "accept, *")],
            Err("vary-star"),
        ),
        row(
            "Set-Cookie",
            &[],
            200,
            &[("cache-control", "max-age=60"), ("set-cookie", "a=b")],
            Err("set-cookie"),
        ),
        row(
            "206 is never stored",
            &[],
            206,
            &[("cache-control", "max-age=60")],
            Err("status"),
        ),
        row(
            "304 is never stored",
            &[],
            304,
            &[("cache-control", "max-age=60")],
            Err("status"),
        ),
        row(
            "no-cache with ETag: stored, validated on use",
            &[],
            200,
            &[("cache-control", "no-cache"), ("etag", "\"v\"")],
            Ok(0),
        ),
        row(
            "a 304 to the client's own If-None-Match",
            &[("if-none-match", "\"v\"")],
            304,
            &[("etag", "\"v\"")],
            Err("client-conditional"),
        ),
        row(
            "a 304 to the client's own If-Modified-Since",
            &[("if-modified-since", NOW)],
            304,
            &[],
            Err("client-conditional"),
        ),
        row(
            "max-age=0 without validator: nothing could use it",
            &[],
            200,
            &[("cache-control", "max-age=0")],
            Err("no-freshness"),
        ),
        row(
            "s-maxage=0 without validator",
            &[],
            200,
            &[("cache-control", "s-maxage=0, max-age=60")],
            Err("no-freshness"),
        ),
        row(
            "no-cache with a lifetime but no validator",
            &[],
            200,
            &[("cache-control", "no-cache, max-age=60")],
            Err("no-freshness"),
        ),
        row(
            "max-age=0 with ETag: stored for validation",
            &[],
            200,
            &[("cache-control", "max-age=0"), ("etag", "\"v\"")],
            Ok(0),
        ),
        row(
            "max-age=0 with stale-while-revalidate: served stale while refreshed",
            &[],
            200,
            &[("cache-control", "max-age=0, stale-while-revalidate=30")],
            Ok(0),
        ),
        row(
            "max-age=0 with stale-if-error: served when the function fails",
            &[],
            200,
            &[("cache-control", "max-age=0, stale-if-error=30")],
            Ok(0),
        ),
        row(
            "max-age=0, stale-if-error forbidden by must-revalidate",
            &[],
            200,
            &[(
                "cache-control",
                "max-age=0, stale-if-error=30, must-revalidate",
            )],
            Err("no-freshness"),
        ),
        Row {
            what: "POST is not stored",
            method: Method::POST,
            ..row(
                "",
                &[],
                200,
                &[("cache-control", "max-age=60")],
                Err("method"),
            )
        },
        Row {
            what: "HEAD is not stored (served from a stored GET instead)",
            method: Method::HEAD,
            ..row(
                "",
                &[],
                200,
                &[("cache-control", "max-age=60")],
                Err("method"),
            )
        },
        Row {
            what: "default_ttl for a plain success",
            default_ttl: 30,
            ..row("", &[], 200, &[], Ok(30))
        },
        Row {
            what: "default_ttl does not override the origin's directives",
            default_ttl: 30,
            ..row("", &[], 200, &[("cache-control", "max-age=5")], Ok(5))
        },
        Row {
            what: "default_ttl is not for errors",
            default_ttl: 30,
            ..row("", &[], 500, &[], Err("no-freshness"))
        },
        Row {
            what: "default_ttl does not override private",
            default_ttl: 30,
            ..row(
                "",
                &[],
                200,
                &[("cache-control", "private")],
                Err("private"),
            )
        },
    ];
    for row in rows {
        let request = map(row.request);
        let response = map(row.response);
        let got = storable(
            &row.method,
            &request,
            &RequestDirectives::parse(&request),
            StatusCode::from_u16(row.status).expect("a status"),
            &response,
            &ResponseDirectives::parse(&response),
            Duration::from_secs(row.default_ttl),
            now(),
        )
        .map(|l| l.fresh_for.as_secs())
        .map_err(NotStored::reason);
        assert_eq!(got, row.want, "{}", row.what);
    }
    // Keep the names used so the table reads in terms of the RFC's fields.
    let _ = (AUTHORIZATION, CACHE_CONTROL);
}

#[test]
fn only_refusals_from_the_response_speak_for_every_request() {
    let rows = [
        (NotStored::Method, false),
        (NotStored::ClientConditional, false),
        (NotStored::RequestNoStore, false),
        (NotStored::Authorization, false),
        (NotStored::Status, true),
        (NotStored::NoStore, true),
        (NotStored::Private, true),
        (NotStored::SetCookie, true),
        (NotStored::VaryStar, true),
        (NotStored::NoFreshness, true),
        (NotStored::TooLarge, true),
    ];
    for (refusal, from_response) in rows {
        assert_eq!(
            refusal.depends_on_response(),
            from_response,
            "{}",
            refusal.reason()
        );
    }
}

#[test]
fn initial_age_table() {
    let s = Duration::from_secs;
    type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], u64, u64);
    let rows: &[Row] = &[
        ("no Date, no Age: the exchange's delay", &[], 2, 2),
        ("Age plus delay", &[("age", "10")], 1, 11),
        (
            "apparent age from Date wins when larger",
            &[("date", "Sun, 06 Nov 1994 08:48:37 GMT"), ("age", "5")],
            0,
            60,
        ),
        (
            "a Date in the future counts as zero",
            &[("date", "Sun, 06 Nov 1994 09:49:37 GMT")],
            0,
            0,
        ),
        ("an invalid Age is ignored", &[("age", "x")], 0, 0),
    ];
    for (what, headers, delay, want) in rows {
        assert_eq!(
            initial_age(&map(headers), s(*delay), now()),
            s(*want),
            "{what}"
        );
    }
}

#[test]
fn policy_from_directives() {
    let response = map(&[
        (
            "cache-control",
            "max-age=5, stale-while-revalidate=7, stale-if-error=9, proxy-revalidate",
        ),
        ("etag", "\"x\""),
    ]);
    let cc = ResponseDirectives::parse(&response);
    let lifetime = Lifetime {
        fresh_for: Duration::from_secs(5),
        heuristic: false,
    };
    let p = Policy::new(lifetime, &cc, &response);
    assert_eq!(p.fresh_for, Duration::from_secs(5));
    assert!(p.forbids_stale, "proxy-revalidate forbids stale use");
    assert_eq!(p.stale_while_revalidate, Duration::from_secs(7));
    assert_eq!(p.stale_if_error, Duration::from_secs(9));
    assert!(p.validatable);
}

#[test]
fn a_304_is_judged_on_the_merged_headers() {
    let stored = [("cache-control", "max-age=60"), ("etag", "\"v\"")];
    type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], Result<u64, &'a str>);
    let rows: &[Row] = &[
        ("a plain 304", &[("etag", "\"v\"")], Ok(60)),
        ("a new lifetime", &[("cache-control", "max-age=5")], Ok(5)),
        (
            "Set-Cookie",
            &[("set-cookie", "session=one")],
            Err("set-cookie"),
        ),
        (
            "private",
            &[("cache-control", "private, max-age=60")],
            Err("private"),
        ),
        (
            "no-store",
            &[("cache-control", "no-store")],
            Err("no-store"),
        ),
    ];
    for (what, not_modified, want) in rows {
        let mut merged = map(&stored);
        merge_not_modified(&mut merged, &map(not_modified));
        let got = storable(
            &Method::GET,
            &HeaderMap::new(),
            &RequestDirectives::default(),
            StatusCode::OK,
            &merged,
            &ResponseDirectives::parse(&merged),
            Duration::ZERO,
            now(),
        );
        assert_eq!(
            got.map(|l| l.fresh_for.as_secs())
                .map_err(NotStored::reason),
            *want,
            "{what}"
        );
        if let Err(refusal) = got {
            assert!(refusal.depends_on_response(), "{what}: the copy must go");
        }
    }
}
