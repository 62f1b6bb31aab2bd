//! `POST /v1/cache/purge`: removes stored responses of one function, by exact URL, by
//! path prefix, by tag (`Cache-Tag` / `Surrogate-Key`), or all of them.
//!
//! The body is `{"function": "f"}` plus at most one of `"url"`, `"prefix"`, `"tag"`.
//! A URL is matched in the cache's own form (scheme, lowercased host, path, sorted
//! query), so `http://h/p?b=2&a=1` purges what `/p?a=1&b=2` stored; a URL without scheme
//! and host (`/p?x=1`) purges that path and query on every host.

use serde::{Deserialize, Deserializer};

use crate::cache::key;
use crate::error::ProxyError;
use crate::state::FunctionRuntime;

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Purge {
    function: String,
    #[serde(default, deserialize_with = "selector")]
    url: Option<String>,
    #[serde(default, deserialize_with = "selector")]
    prefix: Option<String>,
    #[serde(default, deserialize_with = "selector")]
    tag: Option<String>,
}

/// A selector that is given must say something: `null` or `""` would otherwise read as
/// "no selector", which purges the whole function.
fn selector<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(value) if !value.is_empty() => Ok(Some(value)),
        _ => Err(serde::de::Error::custom(
            "a selector must be a non-empty string (leave it out to purge the whole function)",
        )),
    }
}

/// Parses the body and purges; returns how many responses were removed.
pub fn purge(body: &[u8], functions: &[FunctionRuntime]) -> Result<usize, ProxyError> {
    let purge: Purge = serde_json::from_slice(body).map_err(|error| {
        ProxyError::InvalidBody(format!(
            "expected {{\"function\": NAME}} with one of \"url\", \"prefix\", \"tag\": {error}"
        ))
    })?;
    let given = [&purge.url, &purge.prefix, &purge.tag]
        .iter()
        .filter(|v| v.is_some())
        .count();
    if given > 1 {
        return Err(ProxyError::InvalidBody(
            "give at most one of \"url\", \"prefix\", \"tag\"".to_owned(),
        ));
    }
    if purge.prefix.as_ref().is_some_and(|p| !p.starts_with('/')) {
        return Err(ProxyError::InvalidBody(
            "a prefix is a path, starting with \"/\"".to_owned(),
        ));
    }
    let function = functions
        .iter()
        .find(|f| *f.name == purge.function)
        .ok_or(ProxyError::NotFound("no function with this name"))?;
    let Some(cache) = &function.cache else {
        return Err(ProxyError::InvalidBody(format!(
            "function `{}` has no cache enabled",
            purge.function
        )));
    };

    let purged = if let Some(url) = &purge.url {
        match url.split_once("://") {
            Some((scheme, rest)) => {
                let (host, target) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
                let wanted = key::url_key(&scheme.to_ascii_lowercase(), host, target);
                cache.purge(|k, _| key::url_of(k) == wanted)
            }
            None => {
                let wanted = key::url_key("", "", url);
                let wanted = key::path_of(&wanted).to_owned();
                cache.purge(|k, _| key::path_of(k) == wanted)
            }
        }
    } else if let Some(prefix) = &purge.prefix {
        cache.purge(|k, _| key::path_of(k).starts_with(prefix.as_str()))
    } else if let Some(tag) = &purge.tag {
        cache.purge(|_, entry| entry.tags.iter().any(|t| **t == **tag))
    } else {
        cache.purge(|_, _| true)
    };
    tracing::info!(
        function = %function.name,
        purged,
        url = ?purge.url,
        prefix = ?purge.prefix,
        tag = ?purge.tag,
        "cache purged through the admin API",
    );
    Ok(purged)
}
