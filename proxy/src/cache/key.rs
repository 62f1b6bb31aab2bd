//! Cache keys: which stored response a request may be answered with (RFC 9111 §4.1, §2).
//!
//! A key is one string: `scheme://host/path?query`, the query's parameters sorted so their
//! order does not matter, then one line per configured `key_headers` header with the
//! request's value. The method is implied: only GET answers are stored, and HEAD is
//! answered from them. A stored response with `Vary` adds a second level: the primary key
//! holds the list of varying headers, and each variant sits under the primary key plus
//! the request's values of those headers ([`variant_key`]).
//!
//! The URL part comes first and ends at the first newline, so purging by URL or path
//! prefix reads it straight from the key.

use std::fmt::Write as _;

use http::HeaderMap;
use http::header::HeaderName;

/// The URL part of a key: scheme, lowercased host (port kept), path, sorted query.
pub fn url_key(scheme: &str, host: &str, path_and_query: &str) -> String {
    let mut key = String::with_capacity(scheme.len() + host.len() + path_and_query.len() + 8);
    key.push_str(scheme);
    key.push_str("://");
    for c in host.chars() {
        key.push(c.to_ascii_lowercase());
    }
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    key.push_str(if path.is_empty() { "/" } else { path });
    if let Some(query) = query
        && !query.is_empty()
    {
        key.push('?');
        if query.contains('&') {
            let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
            params.sort_unstable();
            for (i, param) in params.iter().enumerate() {
                if i > 0 {
                    key.push('&');
                }
                key.push_str(param);
            }
        } else {
            key.push_str(query);
        }
    }
    key
}

/// The full primary key: the URL part, then the request's `key_headers` values.
pub fn primary_key(url: String, key_headers: &[HeaderName], request: &HeaderMap) -> String {
    let mut key = url;
    for name in key_headers {
        key.push('\n');
        push_values(&mut key, name, request);
    }
    key
}

/// The key of one variant of a response stored with `Vary`: the primary key, the
/// generation of the `Vary` list it was stored under, and the request's values of the
/// varying headers.
pub fn variant_key(
    primary: &str,
    generation: u64,
    vary: &[HeaderName],
    request: &HeaderMap,
) -> String {
    let mut key = String::with_capacity(primary.len() + 32);
    key.push_str(primary);
    let _ = write!(key, "\n#{generation}");
    for name in vary {
        key.push('\n');
        push_values(&mut key, name, request);
    }
    key
}

/// The URL part of a key (everything before the first newline).
pub fn url_of(key: &str) -> &str {
    key.split('\n').next().unwrap_or(key)
}

/// The path (with query) of a key's URL part.
pub fn path_of(key: &str) -> &str {
    let url = url_of(key);
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or("/", |slash| &after_scheme[slash..])
}

/// The names a response's `Vary` lists, lowercased, in order, without duplicates.
pub fn vary_names(response: &HeaderMap) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = Vec::new();
    for value in response.get_all(http::header::VARY) {
        let Ok(value) = value.to_str() else { continue };
        for name in value.split(',') {
            if let Ok(name) = HeaderName::from_bytes(name.trim().as_bytes())
                && !names.contains(&name)
            {
                names.push(name);
            }
        }
    }
    names
}

/// A header's values as one line; several lines are joined with `,` (RFC 9110 §5.3),
/// and an absent header differs from an empty one.
fn push_values(key: &mut String, name: &HeaderName, request: &HeaderMap) {
    let mut values = request.get_all(name).iter();
    let Some(first) = values.next() else {
        key.push('\u{0}');
        return;
    };
    key.push_str(first.to_str().unwrap_or("\u{1}"));
    for value in values {
        key.push(',');
        key.push_str(value.to_str().unwrap_or("\u{1}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn url_key_table() {
        let rows = [
            (
                "http",
                "Example.COM:8080",
                "/a/b",
                "http://example.com:8080/a/b",
            ),
            ("https", "h", "", "https://h/"),
            ("http", "h", "/p?b=2&a=1", "http://h/p?a=1&b=2"),
            ("http", "h", "/p?a=1&b=2", "http://h/p?a=1&b=2"),
            ("http", "h", "/p?", "http://h/p"),
            ("http", "h", "/p?x", "http://h/p?x"),
            ("http", "h", "/p?b&&a", "http://h/p?a&b"),
        ];
        for (scheme, host, target, want) in rows {
            assert_eq!(
                url_key(scheme, host, target),
                want,
                "{scheme} {host} {target}"
            );
        }
    }

    #[test]
    fn key_headers_and_variants_separate_requests() {
        let mut a = HeaderMap::new();
        a.insert("accept-language", HeaderValue::from_static("fr"));
        let b = HeaderMap::new();
        let names = [HeaderName::from_static("accept-language")];
        let url = || url_key("http", "h", "/");
        assert_ne!(
            primary_key(url(), &names, &a),
            primary_key(url(), &names, &b)
        );
        assert_eq!(primary_key(url(), &[], &a), primary_key(url(), &[], &b));
        let primary = primary_key(url(), &[], &a);
        assert_ne!(
            variant_key(&primary, 1, &names, &a),
            variant_key(&primary, 1, &names, &b)
        );
        assert_ne!(
            variant_key(&primary, 1, &names, &a),
            variant_key(&primary, 2, &names, &a)
        );
        assert_eq!(url_of(&variant_key(&primary, 1, &names, &a)), "http://h/");
    }

    #[test]
    fn path_of_a_key() {
        assert_eq!(path_of("http://h/a/b?x=1\nfr"), "/a/b?x=1");
        assert_eq!(path_of("http://h"), "/");
    }

    #[test]
    fn vary_lists_are_split_and_deduplicated() {
        let mut h = HeaderMap::new();
        h.append("vary", HeaderValue::from_static("Accept-Encoding, accept"));
        h.append("vary", HeaderValue::from_static("accept-encoding"));
        let names: Vec<_> = vary_names(&h)
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        assert_eq!(names, ["accept-encoding", "accept"]);
    }
}
