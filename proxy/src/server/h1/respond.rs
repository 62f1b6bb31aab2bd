//! Writing a response to the client: head and body, framed as the head announced.
//!
//! The body is streamed as it arrives from the instance, one write per piece; nothing is
//! buffered beyond the piece in hand. A small response's head and its only body piece go
//! out in one system call.
//!
//! Neither side may stall the exchange forever: an instance silent mid-body for
//! `request_timeout`, or a client that accepts no bytes for `idle_timeout`, ends it and
//! frees the instance's slot.

use std::io::IoSlice;

use http::Response;
use http_body::Body as _;
use http_body_util::BodyExt;

use super::response_head::{self, BodyFraming};
use super::{Connection, End};
use crate::body::ProxyBody;
use crate::http1::{chunk_size_line, write_all};

impl Connection {
    /// Writes a response; returns false when the body broke off (the connection is then
    /// unusable).
    pub(super) async fn write_response(
        &mut self,
        response: Response<ProxyBody>,
        is_head: bool,
        http10: bool,
        keep_alive: &mut bool,
    ) -> Result<bool, End> {
        let (parts, mut body) = response.into_parts();
        let limits = &self.worker.shared.limits;

        // The first frame often arrives with the head (small responses); sending both
        // with one write saves a system call and a packet, and tells the body's length.
        let mut first = None;
        if !is_head && !body.is_end_stream() {
            first = poll_once(body.frame());
        }
        let exact = match &first {
            Some(Some(Ok(frame))) if body.is_end_stream() => {
                frame.data_ref().map(|d| d.len() as u64)
            }
            Some(None) => Some(0),
            Some(_) => None,
            None => body.size_hint().exact(),
        };

        let mut out = Vec::with_capacity(256);
        let exchange = response_head::Exchange {
            is_head,
            http10_client: http10,
            dates: &self.worker.dates,
        };
        let framing = response_head::write_response_head(
            &mut out,
            parts.status,
            &parts.headers,
            exact,
            &exchange,
            keep_alive,
        );

        let mut pending = first;
        let mut head = Some(out);
        loop {
            let frame = match pending.take() {
                Some(frame) => frame,
                None if framing == BodyFraming::None || body.is_end_stream() => None,
                None => match tokio::time::timeout(limits.request_timeout, body.frame()).await {
                    Ok(frame) => frame,
                    Err(_) => Some(Err("the instance stalled mid-body".into())),
                },
            };
            let data = match frame {
                Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
                Some(Err(error)) => {
                    tracing::debug!(%error, "response body failed; closing the client connection");
                    if let Some(head) = head.take() {
                        timed(
                            limits.idle_timeout,
                            write_all(&self.write, &mut [IoSlice::new(&head)]),
                        )
                        .await?;
                    }
                    return Ok(false);
                }
                None => {
                    let trailer: &[u8] = if framing == BodyFraming::Chunked {
                        b"0\r\n\r\n"
                    } else {
                        b""
                    };
                    let head = head.take().unwrap_or_default();
                    timed(
                        limits.idle_timeout,
                        write_all(
                            &self.write,
                            &mut [IoSlice::new(&head), IoSlice::new(trailer)],
                        ),
                    )
                    .await?;
                    return Ok(true);
                }
            };
            if data.is_empty() || framing == BodyFraming::None {
                continue;
            }
            let head = head.take().unwrap_or_default();
            if framing == BodyFraming::Chunked {
                let size = chunk_size_line(data.len());
                let last = body.is_end_stream();
                let end: &[u8] = if last { b"\r\n0\r\n\r\n" } else { b"\r\n" };
                timed(
                    limits.idle_timeout,
                    write_all(
                        &self.write,
                        &mut [
                            IoSlice::new(&head),
                            IoSlice::new(size.as_bytes()),
                            IoSlice::new(&data),
                            IoSlice::new(end),
                        ],
                    ),
                )
                .await?;
                if last {
                    return Ok(true);
                }
            } else {
                timed(
                    limits.idle_timeout,
                    write_all(&self.write, &mut [IoSlice::new(&head), IoSlice::new(&data)]),
                )
                .await?;
            }
        }
    }
}

/// `io`, failing with `TimedOut` when it takes longer than `limit`.
async fn timed<T>(
    limit: std::time::Duration,
    io: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    match tokio::time::timeout(limit, io).await {
        Ok(result) => result,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Polls a future once; `None` when it is not ready. The future is dropped either way;
/// whatever it registered for wake-up is registered again by the next real poll.
fn poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}
