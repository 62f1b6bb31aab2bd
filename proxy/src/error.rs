//! Every error the proxy itself answers a client with, and the one place that turns an
//! error into a response.
//!
//! Each variant has a stable code (`QUEUE_FULL`) that clients and scripts match on; the
//! codes and statuses are a contract listed in `docs/errors.md`. Messages are written for
//! the client: they never carry an instance's own error text, which may leak internals.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::ProxyBody;

/// An error the proxy answers on its own, instead of an instance's response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// No function's route matches the host and path.
    #[error("no function is routed for this host and path")]
    NoRoute,
    /// The function's queue is full.
    #[error("the function's queue is full")]
    QueueFull {
        /// When the client may usefully retry.
        retry_after: Duration,
    },
    /// Waited for an instance slot longer than the queue timeout.
    #[error("waited longer than the queue timeout for a free instance")]
    QueueTimeout,
    /// The function's instances fail to start.
    #[error("the function's instances failed to start")]
    ScaleFailed,
    /// The instance refused or dropped the connection.
    #[error("the function instance could not be reached")]
    UpstreamUnavailable,
    /// The instance did not answer within `request_timeout`.
    #[error("the function instance did not answer in time")]
    UpstreamTimeout,
    /// The request said `Cache-Control: only-if-cached` and nothing usable is stored.
    #[error("only-if-cached: no usable response is stored for this request")]
    NotCached,
    /// The request body exceeds `max_body_bytes`.
    #[error("the request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// The request head is larger than tidegate accepts.
    #[error("the request head is too large")]
    HeadTooLarge,
    /// The request cannot be proxied as sent.
    #[error("{0}")]
    BadRequest(&'static str),
    /// The proxy is shutting down.
    #[error("the proxy is shutting down")]
    ShuttingDown,
    /// The client closed its connection while the request waited in the queue. Nobody
    /// reads this answer; it exists to be counted and logged (as nginx's 499).
    #[error("the client closed the connection while the request was queued")]
    ClientGone,
    /// An admin request without a valid token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// An admin path or function that does not exist.
    #[error("{0}")]
    NotFound(&'static str),
    /// An admin path used with a method it does not take.
    #[error("this path does not take that method")]
    MethodNotAllowed,
    /// An admin request whose body says something invalid; the text says what. Shares
    /// `BAD_REQUEST` with [`ProxyError::BadRequest`], whose messages are fixed.
    #[error("{0}")]
    InvalidBody(String),
}

impl ProxyError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            ProxyError::NoRoute => "NO_ROUTE",
            ProxyError::QueueFull { .. } => "QUEUE_FULL",
            ProxyError::QueueTimeout => "QUEUE_TIMEOUT",
            ProxyError::ScaleFailed => "SCALE_FAILED",
            ProxyError::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            ProxyError::UpstreamTimeout => "UPSTREAM_TIMEOUT",
            ProxyError::NotCached => "NOT_CACHED",
            ProxyError::BodyTooLarge { .. } => "BODY_TOO_LARGE",
            ProxyError::HeadTooLarge => "HEADERS_TOO_LARGE",
            ProxyError::BadRequest(_) | ProxyError::InvalidBody(_) => "BAD_REQUEST",
            ProxyError::ShuttingDown => "SHUTTING_DOWN",
            ProxyError::ClientGone => "CLIENT_CLOSED",
            ProxyError::Unauthorized => "UNAUTHORIZED",
            ProxyError::NotFound(_) => "NOT_FOUND",
            ProxyError::MethodNotAllowed => "METHOD_NOT_ALLOWED",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::QueueFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::QueueTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::ScaleFailed => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::UpstreamUnavailable => StatusCode::BAD_GATEWAY,
            ProxyError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::NotCached => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProxyError::BadRequest(_) | ProxyError::InvalidBody(_) => StatusCode::BAD_REQUEST,
            ProxyError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::ClientGone => {
                StatusCode::from_u16(499).expect("499 is within the valid status range")
            }
            ProxyError::Unauthorized => StatusCode::UNAUTHORIZED,
            ProxyError::NotFound(_) => StatusCode::NOT_FOUND,
            ProxyError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    /// The JSON response for this error: the only place error responses are made.
    ///
    /// `function` is the routed function, when routing got that far; `request_id` is the
    /// request's `x-request-id`, echoed so a client can quote it.
    pub fn to_response(
        &self,
        function: Option<&str>,
        request_id: Option<&HeaderValue>,
    ) -> Response<ProxyBody> {
        let mut error = serde_json::Map::new();
        error.insert("code".into(), self.code().into());
        error.insert("message".into(), self.to_string().into());
        if let Some(function) = function {
            error.insert("function".into(), function.into());
        }
        if let Some(id) = request_id.and_then(|id| id.to_str().ok()) {
            error.insert("request_id".into(), id.into());
        }
        let body = serde_json::json!({ "error": error });
        let mut bytes = serde_json::to_vec(&body).expect("a JSON map always serializes");
        bytes.push(b'\n');

        let mut response = Response::new(ProxyBody::full(Bytes::from(bytes)));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let ProxyError::QueueFull { retry_after } = self {
            // Round up: "Retry-After: 0" would invite an immediate retry storm.
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if let ProxyError::Unauthorized = self {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(id) = request_id {
            headers.insert(crate::headers::X_REQUEST_ID, id.clone());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn error_bodies_carry_code_function_and_request_id() {
        let id = HeaderValue::from_static("abc");
        let response = ProxyError::QueueFull {
            retry_after: Duration::from_millis(1500),
        }
        .to_response(Some("hello"), Some(&id));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(response.headers()["x-request-id"], "abc");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("full body")
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
        assert_eq!(json["error"]["code"], "QUEUE_FULL");
        assert_eq!(json["error"]["function"], "hello");
        assert_eq!(json["error"]["request_id"], "abc");
    }

    #[test]
    fn every_code_is_distinct() {
        let all = [
            ProxyError::NoRoute,
            ProxyError::QueueFull {
                retry_after: Duration::ZERO,
            },
            ProxyError::QueueTimeout,
            ProxyError::ScaleFailed,
            ProxyError::UpstreamUnavailable,
            ProxyError::UpstreamTimeout,
            ProxyError::NotCached,
            ProxyError::BodyTooLarge { limit: 1 },
            ProxyError::BadRequest("x"),
            ProxyError::HeadTooLarge,
            ProxyError::ShuttingDown,
            ProxyError::ClientGone,
            ProxyError::Unauthorized,
            ProxyError::NotFound("x"),
            ProxyError::MethodNotAllowed,
        ];
        let codes: std::collections::HashSet<_> = all.iter().map(ProxyError::code).collect();
        assert_eq!(codes.len(), all.len());
    }
}
