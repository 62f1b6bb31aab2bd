//! What to load: the URL, the protocol, the request's method and headers.
//!
//! The request head is prepared once; each request clones it and adds its priority, so the
//! hot path parses nothing.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderName};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Request, Uri, Version};
use http_body_util::Empty;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::priority::PRIORITY_HEADER;

/// The HTTP version spoken to the target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1, one request at a time per connection.
    #[default]
    Http1,
    /// HTTP/2 over cleartext with prior knowledge (h2c), several streams per connection.
    Http2,
}

impl Protocol {
    /// The name used in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http1 => "http1",
            Self::Http2 => "http2",
        }
    }
}

/// A target that cannot be loaded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TargetError {
    /// Not a URL.
    #[error("{url:?} is not a URL: write e.g. http://127.0.0.1:8080/hello")]
    BadUrl {
        /// What was given.
        url: String,
    },
    /// A scheme other than `http`.
    #[error("{url:?}: only http:// is supported (HTTP/2 is spoken as h2c, without TLS)")]
    Scheme {
        /// What was given.
        url: String,
    },
    /// A header that is not one.
    #[error("{header:?} is not a header: write \"name: value\"")]
    BadHeader {
        /// What was given.
        header: String,
    },
    /// A method that is not one.
    #[error("{method:?} is not an HTTP method")]
    BadMethod {
        /// What was given.
        method: String,
    },
}

/// The request every worker sends, and where to send it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given (scheme, authority, path and query).
    pub url: Uri,
    /// `host:port` to connect to.
    pub address: String,
    /// The protocol spoken.
    pub protocol: Protocol,
    /// The Host header (HTTP/1.1) or `:authority` (HTTP/2).
    pub host: Authority,
    /// How long a request may take, connecting included, before it counts as an error.
    pub timeout: Duration,
    method: Method,
    /// The URI in the form the protocol sends: the path for HTTP/1.1, absolute for h2.
    request_uri: Uri,
    headers: HeaderMap,
}

impl Target {
    /// Prepares a target from its parts. `host` replaces the URL's authority in the Host
    /// header (and `:authority`) but not in where to connect.
    pub fn new(
        url: &str,
        host: Option<&str>,
        protocol: Protocol,
        method: &str,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self, TargetError> {
        let bad_url = || TargetError::BadUrl {
            url: url.to_owned(),
        };
        let uri: Uri = url.parse().map_err(|_| bad_url())?;
        match uri.scheme() {
            Some(scheme) if *scheme == Scheme::HTTP => {}
            Some(_) => {
                return Err(TargetError::Scheme {
                    url: url.to_owned(),
                });
            }
            None => return Err(bad_url()),
        }
        let authority = uri.authority().ok_or_else(bad_url)?.clone();
        let address = format!(
            "{}:{}",
            authority.host(),
            authority.port_u16().unwrap_or(80)
        );
        let host: Authority = match host {
            Some(host) => host.parse().map_err(|_| bad_url())?,
            None => authority,
        };
        let path = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));

        let request_uri = match protocol {
            Protocol::Http1 => Uri::from(path),
            Protocol::Http2 => Uri::builder()
                .scheme(Scheme::HTTP)
                .authority(host.clone())
                .path_and_query(path)
                .build()
                .map_err(|_| bad_url())?,
        };

        let mut map = HeaderMap::new();
        if protocol == Protocol::Http1 {
            let value = HeaderValue::from_str(host.as_str()).map_err(|_| bad_url())?;
            map.insert(HOST, value);
        }
        for (name, value) in headers {
            let bad = || TargetError::BadHeader {
                header: format!("{name}: {value}"),
            };
            let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad())?;
            let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
            map.append(name, value);
        }
        let method = Method::from_bytes(method.as_bytes()).map_err(|_| TargetError::BadMethod {
            method: method.to_owned(),
        })?;

        Ok(Self {
            url: uri,
            address,
            protocol,
            host,
            timeout,
            method,
            request_uri,
            headers: map,
        })
    }

    /// The method sent.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// One request, with `priority` in the priority header when given.
    pub fn request(&self, priority: Option<&HeaderValue>) -> Request<Empty<Bytes>> {
        let mut request = Request::new(Empty::new());
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.request_uri.clone();
        *request.headers_mut() = self.headers.clone();
        if self.protocol == Protocol::Http2 {
            *request.version_mut() = Version::HTTP_2;
        }
        if let Some(priority) = priority {
            request
                .headers_mut()
                .insert(HeaderName::from_static(PRIORITY_HEADER), priority.clone());
        }
        request
    }
}

/// Splits `"name: value"` as `-H` takes it.
pub fn split_header(header: &str) -> Result<(String, String), TargetError> {
    header
        .split_once(':')
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .filter(|(name, _)| !name.is_empty())
        .ok_or_else(|| TargetError::BadHeader {
            header: header.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn http1_requests_carry_the_path_and_a_host() {
        let headers = [("x-fn-latency".to_owned(), "5ms".to_owned())];
        let target = Target::new(
            "http://127.0.0.1:8080/hello?size=10",
            Some("hello.localhost"),
            Protocol::Http1,
            "GET",
            &headers,
            SECOND,
        )
        .unwrap();
        assert_eq!(target.address, "127.0.0.1:8080");
        let high = HeaderValue::from_static("high");
        let request = target.request(Some(&high));
        assert_eq!(request.uri(), "/hello?size=10");
        assert_eq!(request.headers()[HOST], "hello.localhost");
        assert_eq!(request.headers()["x-fn-latency"], "5ms");
        assert_eq!(request.headers()[PRIORITY_HEADER], "high");
    }

    #[test]
    fn http2_requests_carry_an_absolute_uri() {
        let target = Target::new(
            "http://localhost",
            None,
            Protocol::Http2,
            "GET",
            &[],
            SECOND,
        )
        .unwrap();
        assert_eq!(target.address, "localhost:80");
        let request = target.request(None);
        assert_eq!(request.uri(), "http://localhost/");
        assert!(request.headers().get(HOST).is_none());
        assert!(request.headers().get(PRIORITY_HEADER).is_none());
    }

    #[test]
    fn refuses_what_it_cannot_load() {
        let new = |url| Target::new(url, None, Protocol::Http1, "GET", &[], SECOND);
        assert!(matches!(new("https://x/"), Err(TargetError::Scheme { .. })));
        assert!(matches!(
            new("/just/a/path"),
            Err(TargetError::BadUrl { .. })
        ));
        assert!(matches!(new("not a url"), Err(TargetError::BadUrl { .. })));
        assert_eq!(
            split_header("x-a: b c").unwrap(),
            ("x-a".into(), "b c".into())
        );
        assert!(split_header("no colon").is_err());
    }
}
