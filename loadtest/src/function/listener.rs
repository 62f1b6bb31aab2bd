//! Where the instance listens: an inherited socket, `--port`, or `$PORT`, in that order.
//!
//! Socket activation follows systemd's rule: descriptor 3 is ours only when `LISTEN_FDS` is
//! at least 1 and `LISTEN_PID` names this very process, since the variables may have leaked
//! through a parent that was the real addressee. The `listenfd` crate does the descriptor
//! work (checking that fd 3 is a TCP socket, marking it close-on-exec), which keeps unsafe
//! code out of this workspace; we check `LISTEN_PID` ourselves because `listenfd` also
//! accepts its absence.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::{TcpListener, TcpSocket};

/// Pending connections the kernel queues before accept; well above a benchmark's 64.
const BACKLOG: u32 = 1024;

/// Where the listener came from, for the startup line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Descriptor 3, passed by the parent.
    Inherited,
    /// Bound here.
    Bound,
}

/// Takes the inherited socket if there is one for us, otherwise binds `127.0.0.1:port`
/// (port 0 picks a free one).
pub fn listen(port: u16) -> io::Result<(TcpListener, Origin)> {
    if let Some(listener) = inherited()? {
        listener.set_nonblocking(true)?;
        return Ok((TcpListener::from_std(listener)?, Origin::Inherited));
    }

    let socket = TcpSocket::new_v4()?;
    // Lets a restarted instance take its port back while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    Ok((socket.listen(BACKLOG)?, Origin::Bound))
}

/// The socket passed as descriptor 3, when the environment says it is meant for us.
fn inherited() -> io::Result<Option<std::net::TcpListener>> {
    let count: u32 = match std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(count) if count >= 1 => count,
        _ => return Ok(None),
    };
    let pid: Option<u32> = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|v| v.parse().ok());
    if pid != Some(std::process::id()) {
        return Ok(None);
    }
    if count > 1 {
        eprintln!("tidegate-fn: LISTEN_FDS={count}; serving on descriptor 3 only");
    }
    listenfd::ListenFd::from_env().take_tcp_listener(0)
}
