//! A minimal pingora reverse proxy: a peer that `loadtest/compare` measures tidegate against
//! (`--peers …,pingora`), never shipped.
//!
//! One `ProxyHttp` service sends every request to one upstream over HTTP/1.1, reusing
//! upstream connections through pingora's default pool. Everything else is pingora's
//! default, as nginx and HAProxy in `compare` run close to theirs: no logger is installed
//! (like nginx's `access_log off`), no TLS is built.
//!
//! Not yet: the allocator is glibc's, while tidegate's binary uses mimalloc; malloc and free
//! are about a tenth of this proxy's CPU in a profile, so the ratio flatters tidegate a
//! little. A `#[global_allocator]` (mimalloc, or jemalloc as pingora's own examples use)
//! would remove that difference.
//!
//! Usage: `pingora-proxy-peer --listen 127.0.0.1:8080 --upstream 127.0.0.1:8081 --threads 1`

use std::net::SocketAddr;
use std::process::ExitCode;

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::ServerConf;

/// Sends every request to the one upstream.
struct OneUpstream {
    /// Cloned per request; pingora pools connections by the peer's hash, so every clone
    /// shares one pool.
    upstream: HttpPeer,
}

#[async_trait]
impl ProxyHttp for OneUpstream {
    type CTX = ();

    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _: &mut Session, _: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(self.upstream.clone()))
    }
}

/// `--listen`, `--upstream` and `--threads`, all required.
fn parse_flags() -> Result<(SocketAddr, SocketAddr, usize), String> {
    let (mut listen, mut upstream, mut threads) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--listen" => listen = Some(value.parse().map_err(|e| bad(&e))?),
            "--upstream" => upstream = Some(value.parse().map_err(|e| bad(&e))?),
            "--threads" => threads = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    match (listen, upstream, threads) {
        (Some(l), Some(u), Some(t)) => Ok((l, u, t)),
        _ => Err("usage: --listen ADDR --upstream ADDR --threads N".into()),
    }
}

fn main() -> ExitCode {
    let (listen, upstream, threads) = match parse_flags() {
        Ok(flags) => flags,
        Err(message) => {
            eprintln!("pingora-proxy-peer: {message}");
            return ExitCode::from(2);
        }
    };

    // `threads` is per service, and this is the only one. compare stops its servers with
    // SIGTERM, so the grace period (5 minutes by default) is cut to nothing.
    let conf = ServerConf {
        threads,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    // Plain HTTP to the upstream: no TLS, no SNI.
    let peer = HttpPeer::new(upstream, false, String::new());
    let mut proxy = http_proxy_service(&server.configuration, OneUpstream { upstream: peer });
    proxy.add_tcp(&listen.to_string());
    server.add_service(proxy);

    server.run_forever()
}
