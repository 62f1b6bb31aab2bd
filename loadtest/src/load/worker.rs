//! One worker: an HTTP/1.1 connection, or one stream of an HTTP/2 connection, sending
//! requests at the slots the pacer hands out and recording how each went.

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use http_body_util::BodyExt as _;
use tokio::time::Instant;

use super::latency::Timing;
use super::link::{Link, LinkError, RequestBody};
use super::pacer::Pacer;
use super::priority::{PriorityMix, Rng};
use super::record::{ErrorKind, Recorder};
use super::target::Target;

/// How early a worker wakes before a slot is due. Tokio's timer rounds a deadline up to
/// the next millisecond tick, and the driver's park rounds up once more, so sleeping until
/// the due time itself sends most requests up to two milliseconds late, and that lateness
/// would show as latency. Waking two ticks early sends them on time or a little early, and
/// an early send is measured from when it went out (see [`Timing::latency`]).
const WAKE_EARLY: Duration = Duration::from_millis(2);

/// How long to pause after a failed connect, so an unreachable target costs the machine a
/// few hundred attempts a second rather than a busy loop. The requests it delays are still
/// measured from when they were due.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// What a worker needs, shared with all the others.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The request and where it goes.
    pub target: Arc<Target>,
    /// When to send.
    pub pacer: Arc<Pacer>,
    /// Where to record.
    pub recorder: Arc<Recorder>,
    /// The priority classes to draw from.
    pub priorities: Arc<PriorityMix>,
}

/// One worker and its connection.
#[derive(Debug)]
pub struct Worker {
    shared: Shared,
    link: Link,
    shard: usize,
    rng: Rng,
}

impl Worker {
    /// Worker number `index` on `link`.
    pub fn new(index: usize, shared: Shared, link: Link, seed: u64) -> Self {
        Self {
            shard: shared.recorder.shard_of(index),
            rng: Rng::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9)),
            shared,
            link,
        }
    }

    /// Sends until the pacer has no more slots.
    pub async fn run(mut self) {
        while let Some(intended) = self.shared.pacer.next_slot(Instant::now()) {
            let wake = intended.checked_sub(WAKE_EARLY).unwrap_or(intended);
            if wake > Instant::now() {
                tokio::time::sleep_until(wake).await;
            }
            self.send_one(intended).await;
        }
    }

    async fn send_one(&mut self, intended: Instant) {
        let Shared {
            target, recorder, ..
        } = &self.shared;
        let class = self.shared.priorities.pick(&mut self.rng);
        let header = class.map(|c| &self.shared.priorities.classes()[c].header);
        let request = target.request(header);

        let sent = Instant::now();
        recorder.sent(self.shard, class);
        let outcome = tokio::time::timeout(target.timeout, exchange(&mut self.link, request)).await;
        let timing = Timing {
            intended,
            sent,
            done: Instant::now(),
        };

        match outcome {
            Ok(Ok(status)) => recorder.answered(self.shard, class, status, &timing),
            Ok(Err(kind)) => {
                recorder.failed(self.shard, class, kind);
                if kind == ErrorKind::Connect {
                    tokio::time::sleep(CONNECT_BACKOFF).await;
                }
            }
            Err(_elapsed) => {
                // The exchange was dropped midway; its connection is in an unknown state.
                self.link.reset_if_broken();
                recorder.failed(self.shard, class, ErrorKind::Timeout);
            }
        }
    }
}

/// Sends a request and reads its response to the end; the status, or why it failed.
async fn exchange(link: &mut Link, request: Request<RequestBody>) -> Result<u16, ErrorKind> {
    let response = link.send(request).await.map_err(|error| match error {
        LinkError::Connect { .. } => ErrorKind::Connect,
        LinkError::Http(_) => ErrorKind::Http,
    })?;
    let status = response.status().as_u16();

    // Read frame by frame and drop each: collecting the body would allocate for nothing.
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            link.reset_if_broken();
            return Err(ErrorKind::Body);
        }
    }
    Ok(status)
}
