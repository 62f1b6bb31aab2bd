//! Waiting for a starting instance to answer: polling that starts at about a millisecond
//! and backs off, never a fixed sleep.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::probe;
use crate::provider::ProviderError;

/// How an instance shows it is ready.
#[derive(Debug, Clone)]
pub(super) enum Check {
    /// A GET of this path answers 2xx.
    Http(String),
    /// A TCP connect succeeds.
    Tcp,
}

/// First pause between two checks; it doubles after each miss...
const FIRST_PAUSE: Duration = Duration::from_millis(1);
/// ...up to this. Small, because every millisecond here is a millisecond of cold start
/// for the requests waiting on this instance; a check on loopback costs microseconds.
const MAX_PAUSE: Duration = Duration::from_millis(10);
/// Longest one check may take (an instance that accepts but never answers).
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Resolves once `addr` passes `check`; fails if the process exits first (`exit` turns
/// `Some`) or `timeout` passes.
pub(super) async fn wait(
    addr: SocketAddr,
    check: Check,
    timeout: Duration,
    mut exit: watch::Receiver<Option<String>>,
) -> Result<(), ProviderError> {
    let deadline = Instant::now() + timeout;
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(ended) = exit.borrow().clone() {
            return Err(ProviderError::Start(format!(
                "{ended} before becoming ready"
            )));
        }
        if passes(addr, &check).await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(ProviderError::Start(format!(
                "not ready after {timeout:?} ({})",
                match &check {
                    Check::Http(path) => format!("GET {path} on {addr} never answered 2xx"),
                    Check::Tcp => format!("nothing accepted connections on {addr}"),
                }
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = exit.changed() => {}
        }
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

async fn passes(addr: SocketAddr, check: &Check) -> bool {
    match check {
        Check::Tcp => probe::tcp(addr, CHECK_TIMEOUT).await,
        Check::Http(path) => matches!(
            probe::get(addr, path, CHECK_TIMEOUT).await,
            Ok((200..=299, _))
        ),
    }
}
