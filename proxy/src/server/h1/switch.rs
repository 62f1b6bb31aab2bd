//! Leaving HTTP/1.1 on a client connection: a protocol switch (`101 Switching Protocols`,
//! e.g. WebSocket) tunnelled to the instance, or a client that opened with the HTTP/2
//! preface handed to hyper's HTTP/2 server.

use std::io::IoSlice;
use std::rc::Rc;

use super::{Connection, prefixed};
use crate::forward::Tunnel;
use crate::http1::write_all;

impl Connection {
    /// After `101 Switching Protocols`: bytes are copied both ways between the client and
    /// the instance's upgraded connection until either side closes.
    pub(super) async fn tunnel(&self, mut tunnel: Tunnel) {
        let upstream = match tunnel.upgraded().await {
            Ok(upstream) => upstream,
            Err(error) => {
                tracing::debug!(%error, "the instance's protocol switch failed");
                return;
            }
        };
        let (mut from_upstream, mut to_upstream) =
            tokio::io::split(hyper_util::rt::TokioIo::new(upstream));
        let client_to_upstream = async {
            use tokio::io::AsyncWriteExt;
            loop {
                let chunk = {
                    let buffered = std::mem::take(&mut self.read.borrow_mut().reader.buf);
                    if buffered.is_empty() {
                        match self.fill().await {
                            Ok(0) | Err(_) => break,
                            Ok(_) => std::mem::take(&mut self.read.borrow_mut().reader.buf),
                        }
                    } else {
                        buffered
                    }
                };
                if to_upstream.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let _ = to_upstream.shutdown().await;
        };
        let upstream_to_client = async {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match from_upstream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if write_all(&self.write, &mut [IoSlice::new(&buf[..n])])
                            .await
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
        };
        // Either direction ending ends the tunnel, as a WebSocket close does.
        tokio::select! {
            () = client_to_upstream => {}
            () = upstream_to_client => {}
        }
        drop(tunnel);
    }

    /// Continues the connection as HTTP/2, replaying the bytes already read (the preface).
    pub(super) async fn hand_to_http2(self) {
        let Connection {
            worker,
            state,
            read,
            write,
            ..
        } = self;
        // No request was made on this connection, so nothing else holds the halves.
        let (Ok(read), Ok(write)) = (Rc::try_unwrap(read), Rc::try_unwrap(write)) else {
            tracing::warn!("cannot hand the connection to HTTP/2: its halves are shared");
            return;
        };
        let read = read.into_inner();
        let Ok(stream) = read.reader.half.reunite(write) else {
            return;
        };
        crate::server::conn::serve_http(
            worker,
            prefixed::Prefixed::new(read.reader.buf.freeze(), stream),
            state,
        )
        .await;
    }
}
