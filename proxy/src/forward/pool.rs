//! Each worker's keep-alive connections to instances.
//!
//! A pool belongs to one worker thread and is touched only by it, so checkout and checkin
//! are a `RefCell` borrow and a `Vec` push or pop: no lock, no cross-thread hop. This is
//! the design DESIGN.md measured as fastest; the price is that each worker keeps its own
//! connections to each instance.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;

use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tidegate_scaler::InstanceId;
use tokio::net::TcpStream;

use crate::body::RequestBody;

/// A connection's request handle.
pub type Sender = http1::SendRequest<RequestBody>;

/// Idle connections per instance kept for reuse; more are closed when they come back.
const MAX_IDLE_PER_INSTANCE: usize = 256;

/// Why no connection to an instance could be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The TCP connect failed.
    #[error("connect: {0}")]
    Io(#[from] std::io::Error),
    /// The HTTP/1.1 handshake failed.
    #[error("handshake: {0}")]
    Handshake(#[from] hyper::Error),
}

/// One worker's idle connections, by instance.
#[derive(Debug, Default)]
pub struct Pools {
    idle: RefCell<HashMap<InstanceId, Vec<Sender>>>,
}

impl Pools {
    /// A connection to `instance`: an idle one if any is usable, else a new one. The flag
    /// says whether it was reused (a reused connection may have been closed by the
    /// instance meanwhile, so a request that fails on it unsent may be retried).
    pub async fn checkout(
        &self,
        instance: InstanceId,
        addr: SocketAddr,
    ) -> Result<(Sender, bool), ConnectError> {
        loop {
            // The borrow ends before any await.
            let candidate = self.idle.borrow_mut().get_mut(&instance).and_then(Vec::pop);
            let Some(mut sender) = candidate else { break };
            if sender.is_closed() {
                continue;
            }
            // A connection comes back when its response body ended; hyper may still be
            // finishing that exchange, so wait for it rather than skipping it.
            if sender.ready().await.is_ok() {
                return Ok((sender, true));
            }
        }
        Ok((connect(addr, false).await?, false))
    }

    /// Returns a connection whose last exchange completed cleanly.
    pub fn checkin(&self, instance: InstanceId, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(instance).or_default();
        if list.len() < MAX_IDLE_PER_INSTANCE {
            list.push(sender);
        }
    }

    /// Closes the idle connections to instances no longer in `live`.
    pub fn retain(&self, live: impl Fn(InstanceId) -> bool) {
        self.idle.borrow_mut().retain(|id, _| live(*id));
    }
}

/// Opens a new connection; `upgrades` allows it to switch protocols (WebSocket), after
/// which it is never pooled.
pub async fn connect(addr: SocketAddr, upgrades: bool) -> Result<Sender, ConnectError> {
    let stream = TcpStream::connect(addr).await?;
    // Requests and responses are small and latency matters more than packet count.
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;
    if upgrades {
        tokio::task::spawn_local(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(%error, "upstream connection ended");
            }
        });
    } else {
        tokio::task::spawn_local(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection ended");
            }
        });
    }
    Ok(sender)
}
