//! Rewriting a client's request head into the one its instance gets.

use http::header::{self, HeaderValue};
use http::uri::PathAndQuery;
use http::{Request, Uri, Version};

use crate::body::{ClientBody, RequestBody};
use crate::error::ProxyError;
use crate::headers;
use crate::route::stripped_path;
use crate::server::ConnState;

/// Whether the request asks to switch protocols (WebSocket and the like), which exists in
/// HTTP/1.1 only (RFC 9110 §7.8).
pub(super) fn asks_protocol_switch<B>(request: &Request<B>) -> bool {
    request.version() == Version::HTTP_11 && headers::is_upgrade(request.headers())
}

/// What rewriting a request's head for the instance needs to know.
pub(super) struct Rewrite<'a> {
    pub conn: &'a ConnState,
    /// The target with the route's prefix stripped, when it strips one.
    pub new_uri: Option<Uri>,
    /// The host the request was routed by.
    pub host_value: HeaderValue,
    /// Whether that host came in the target (HTTP/2, absolute form) rather than `Host`.
    pub host_in_uri: bool,
    /// The declared body length, already checked against `limit`.
    pub declared: Option<u64>,
    /// The body size limit.
    pub limit: u64,
}

impl Rewrite<'_> {
    /// The request as the instance gets it: HTTP/1.1, the prefix stripped, hop-by-hop
    /// fields gone (but those of a protocol switch), `Forwarded` set, and its body
    /// counted against the limit unless its declared length was already checked.
    /// `upgrade` is [`asks_protocol_switch`] of `request`, already worked out by the caller.
    pub(super) fn apply(self, request: Request<ClientBody>, upgrade: bool) -> Request<RequestBody> {
        let http2 = request.version() == Version::HTTP_2;
        let (mut parts, body) = request.into_parts();
        if let Some(uri) = self.new_uri {
            parts.uri = uri;
        }
        parts.version = Version::HTTP_11;
        headers::remove_hop_by_hop(&mut parts.headers, upgrade);
        headers::set_forwarded(
            &mut parts.headers,
            &self.conn.forwarded,
            Some(&self.host_value),
            http2,
        );
        if self.host_in_uri {
            // The instance sees the host the request was routed by.
            parts.headers.insert(header::HOST, self.host_value);
        }
        let body = match self.declared {
            Some(_) => RequestBody::checked(body),
            None => RequestBody::limited(body, self.limit),
        };
        Request::from_parts(parts, body)
    }
}

/// The origin-form URI to send upstream, or `None` when the client's can be sent as is.
pub(super) fn upstream_uri(uri: &Uri, strip: Option<usize>) -> Result<Option<Uri>, ProxyError> {
    let invalid = |_| ProxyError::BadRequest("the request target cannot be forwarded");
    if let Some(strip) = strip {
        let path = stripped_path(uri.path(), strip);
        let target = match uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        return Uri::try_from(target).map(Some).map_err(invalid);
    }
    if uri.scheme().is_none() && uri.authority().is_none() {
        return Ok(None);
    }
    // Absolute-form (HTTP/2, or an HTTP/1.1 proxy-style request): keep path and query.
    let path = uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    Ok(Some(Uri::from(path)))
}
