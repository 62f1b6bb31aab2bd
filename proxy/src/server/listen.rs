//! Binding the client listeners: one socket per address per worker, with `SO_REUSEPORT`.
//!
//! Each worker accepts on its own socket, so the kernel spreads new connections across
//! workers and no accept is shared between threads. A port of 0 is resolved by the first
//! socket; the others bind the port it got.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;
use socket2::{Domain, Protocol, Socket, Type};

/// A listening address and whether it speaks TLS.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// The bound address (port resolved).
    pub addr: SocketAddr,
    /// TLS on this address.
    pub tls: bool,
}

/// The sockets for one worker.
#[derive(Debug)]
pub struct WorkerListeners {
    /// (socket, endpoint) pairs.
    pub sockets: Vec<(TcpListener, Endpoint)>,
}

/// Binds `addrs` once per worker. Returns the per-worker sockets and the bound endpoints.
pub fn bind_all(
    addrs: &[(SocketAddr, bool)],
    workers: usize,
) -> anyhow::Result<(Vec<WorkerListeners>, Vec<Endpoint>)> {
    let mut per_worker: Vec<WorkerListeners> = (0..workers)
        .map(|_| WorkerListeners {
            sockets: Vec::new(),
        })
        .collect();
    let mut endpoints = Vec::new();
    for &(addr, tls) in addrs {
        let first = bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        let bound = first.local_addr()?;
        let endpoint = Endpoint { addr: bound, tls };
        endpoints.push(endpoint);
        per_worker[0].sockets.push((first, endpoint));
        for worker in per_worker.iter_mut().skip(1) {
            let socket = bind(bound).with_context(|| format!("cannot listen on {bound}"))?;
            worker.sockets.push((socket, endpoint));
        }
    }
    Ok((per_worker, endpoints))
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}
