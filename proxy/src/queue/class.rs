//! Which priority class a request waits in, and how long it may wait.
//!
//! The class comes from, in order: the priority header when its value names a configured
//! class; the route's own `priority`; the function's `default_priority`. A header value
//! that names no class is not refused — a client cannot know every function's classes —
//! it falls back as if absent, and is counted.
//!
//! The wait is the function's `queue.timeout`, or less when the client asks for less with
//! `x-tidegate-queue-timeout` (a duration like config's, `500ms`). A longer value is cut
//! to the configured timeout; an invalid one is ignored (logged at debug): the request
//! still deserves an answer, and the configured bound is the safe reading.

use std::time::Duration;

use http::{HeaderMap, HeaderName};
use tidegate_config::Queue as QueueConfig;

/// The request header a client asks for a shorter queue wait with.
pub const QUEUE_TIMEOUT_HEADER: HeaderName = HeaderName::from_static("x-tidegate-queue-timeout");

/// A function's priority classes, most urgent first.
#[derive(Debug)]
pub struct Classes {
    names: Box<[Box<str>]>,
    default: usize,
    header: HeaderName,
}

/// A resolved class, and whether the priority header named an unknown one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// Index into the classes, 0 the most urgent.
    pub class: usize,
    /// The header was present but named no configured class.
    pub unknown: bool,
}

impl Classes {
    /// The classes of a validated `[functions.NAME.queue]`.
    pub fn new(config: &QueueConfig) -> Self {
        let names: Box<[Box<str>]> = config
            .priorities
            .iter()
            .map(|p| p.as_str().into())
            .collect();
        let default = names
            .iter()
            .position(|n| **n == *config.default_priority)
            .unwrap_or(0);
        let header = HeaderName::try_from(config.priority_header.as_str())
            .unwrap_or(HeaderName::from_static("x-tidegate-priority"));
        Classes {
            names,
            default,
            header,
        }
    }

    /// The class names, most urgent first.
    pub fn names(&self) -> &[Box<str>] {
        &self.names
    }

    /// The class of a request with `headers`, routed by a route with `route_priority`.
    pub fn resolve(&self, headers: &HeaderMap, route_priority: Option<&str>) -> Resolved {
        let mut unknown = false;
        if let Some(value) = headers.get(&self.header) {
            match value.to_str().ok().and_then(|v| self.index(v.trim())) {
                Some(class) => return Resolved { class, unknown },
                None => unknown = true,
            }
        }
        let class = route_priority
            .and_then(|p| self.index(p))
            .unwrap_or(self.default);
        Resolved { class, unknown }
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| **n == *name)
    }
}

/// How long a request with `headers` may wait: `configured`, or less if it asks.
pub fn wait_limit(headers: &HeaderMap, configured: Duration) -> Duration {
    let Some(value) = headers.get(QUEUE_TIMEOUT_HEADER) else {
        return configured;
    };
    match value
        .to_str()
        .map_err(|_| "not text".to_owned())
        .and_then(tidegate_config::units::parse_duration)
    {
        Ok(asked) => asked.min(configured),
        Err(error) => {
            tracing::debug!(%error, "ignoring an invalid x-tidegate-queue-timeout");
            configured
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn classes() -> Classes {
        let config: QueueConfig = toml::from_str(r#"priorities = ["high", "normal", "low"]"#)
            .expect("a valid queue table");
        Classes::new(&config)
    }

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn the_header_wins_then_the_route_then_the_default() {
        let classes = classes();
        let none = HeaderMap::new();
        let high = with("x-tidegate-priority", "high");
        let r = |class, unknown| Resolved { class, unknown };
        assert_eq!(classes.resolve(&high, Some("low")), r(0, false));
        assert_eq!(classes.resolve(&none, Some("low")), r(2, false));
        assert_eq!(classes.resolve(&none, None), r(1, false));
    }

    #[test]
    fn an_unknown_value_falls_back_and_is_flagged() {
        let classes = classes();
        let urgent = with("x-tidegate-priority", "urgent");
        let resolved = classes.resolve(&urgent, Some("low"));
        assert_eq!(
            resolved,
            Resolved {
                class: 2,
                unknown: true
            }
        );
    }

    #[test]
    fn a_client_may_shorten_its_wait_but_not_lengthen_it() {
        let ten = Duration::from_secs(10);
        let header = "x-tidegate-queue-timeout";
        assert_eq!(
            wait_limit(&with(header, "500ms"), ten),
            Duration::from_millis(500)
        );
        assert_eq!(wait_limit(&with(header, "1m"), ten), ten);
        assert_eq!(wait_limit(&with(header, "soon"), ten), ten);
        assert_eq!(wait_limit(&HeaderMap::new(), ten), ten);
    }
}
