//! Reads a function's state from tidegate's admin API while the load runs:
//! `GET /v1/functions/{name}`, on one kept-alive HTTP/1.1 connection.
//!
//! Only the fields a scaling timeline needs are read; the rest of the answer (and any field
//! added later) is ignored, and a missing one reads as 0.

use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// A sample that could not be taken.
#[derive(Debug, Error)]
pub enum AdminError {
    /// No connection.
    #[error("cannot connect to the admin API at {address}")]
    Connect {
        /// Where.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The exchange failed.
    #[error("admin API exchange failed")]
    Http(#[from] hyper::Error),
    /// An answer other than 200.
    #[error("admin API answered {status} for {path}: {body}")]
    Status {
        /// The status.
        status: StatusCode,
        /// The path asked for.
        path: String,
        /// The start of the answer, which says what went wrong.
        body: String,
    },
    /// An answer that is not the expected JSON.
    #[error("admin API answered something other than a function's JSON")]
    Json(#[from] serde_json::Error),
    /// No answer in time.
    #[error("admin API did not answer within {0:?}")]
    Timeout(Duration),
}

/// A function's instance counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Instances {
    /// Instances starting.
    pub starting: u64,
    /// Instances ready to serve.
    pub ready: u64,
    /// Instances finishing their requests before stopping.
    pub draining: u64,
}

/// One reading of a function's state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FunctionSample {
    /// Instance counts by state.
    pub instances: Instances,
    /// Requests waiting in the function's queue.
    pub queued: u64,
    /// Requests being served by its instances.
    pub in_flight: u64,
    /// The scaler's desired instance count.
    pub desired: u64,
}

/// A client for one function's state.
#[derive(Debug)]
pub struct AdminClient {
    address: String,
    path: String,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    open: Option<(http1::SendRequest<Empty<Bytes>>, JoinHandle<()>)>,
}

impl AdminClient {
    /// A client of the admin API at `address` (`host:port`, or with `http://` before it)
    /// for function `function`, with a bearer `token` if given.
    pub fn new(address: &str, function: &str, token: Option<&str>) -> Self {
        let address = address
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let host = HeaderValue::from_str(&address).unwrap_or(HeaderValue::from_static("admin"));
        // A token that cannot be a header is sent as nothing, and the API's 401 says so.
        let authorization = token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok());
        Self {
            path: format!("/v1/functions/{function}"),
            address,
            host,
            authorization,
            open: None,
        }
    }

    /// Reads the function's state once, within `timeout`.
    pub async fn sample(&mut self, timeout: Duration) -> Result<FunctionSample, AdminError> {
        let result = tokio::time::timeout(timeout, self.fetch())
            .await
            .unwrap_or(Err(AdminError::Timeout(timeout)));
        if result.is_err() {
            // Start afresh next time rather than reuse a connection in an unknown state.
            self.close();
        }
        result
    }

    async fn fetch(&mut self) -> Result<FunctionSample, AdminError> {
        if let Some((sender, _)) = self.open.as_mut()
            && sender.ready().await.is_err()
        {
            self.close();
        }
        if self.open.is_none() {
            let stream =
                TcpStream::connect(&self.address)
                    .await
                    .map_err(|source| AdminError::Connect {
                        address: self.address.clone(),
                        source,
                    })?;
            let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
            let task = tokio::spawn(async move {
                let _ = connection.await;
            });
            self.open = Some((sender, task));
        }
        let (sender, _) = self.open.as_mut().expect("connected just above");

        let mut request = Request::get(self.path.as_str())
            .body(Empty::new())
            .expect("a path and fixed headers make a valid request");
        request.headers_mut().insert(HOST, self.host.clone());
        if let Some(authorization) = &self.authorization {
            request
                .headers_mut()
                .insert(AUTHORIZATION, authorization.clone());
        }
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(AdminError::Status {
                status,
                path: self.path.clone(),
                body: text,
            });
        }
        Ok(serde_json::from_slice(&body)?)
    }

    fn close(&mut self) {
        if let Some((_, task)) = self.open.take() {
            task.abort();
        }
    }
}

impl Drop for AdminClient {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_fields_it_needs_and_ignores_the_rest() {
        let json = r#"{"name": "hello", "instances": {"starting": 1, "ready": 2, "draining": 0},
            "desired": 3, "in_flight": 14, "queued": 5, "panic": false,
            "cache": {"hits": 120}, "fleet": []}"#;
        let sample: FunctionSample = serde_json::from_str(json).unwrap();
        assert_eq!(sample.instances.ready, 2);
        assert_eq!(sample.instances.starting, 1);
        assert_eq!(
            (sample.desired, sample.in_flight, sample.queued),
            (3, 14, 5)
        );

        let sparse: FunctionSample = serde_json::from_str(r#"{"queued": 7}"#).unwrap();
        assert_eq!(sparse.queued, 7);
        assert_eq!(sparse.instances, Instances::default());
    }
}
