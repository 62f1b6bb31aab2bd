//! The accept loop: every connection served by hyper-util's auto builder, which reads the
//! first bytes to choose HTTP/1.1 or HTTP/2 with prior knowledge (h2c).

use std::io;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use super::handler::{Instance, handle};

/// How long to back off when accept fails (out of descriptors, most likely), so the loop
/// does not spin while connections close and free some.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Serves `listener` until the process ends.
pub async fn serve(listener: TcpListener, instance: &'static Instance) -> io::Result<()> {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("tidegate-fn: accept failed: {error}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Responses are written whole; Nagle would only delay the last segment.
        stream.set_nodelay(true)?;

        let builder = builder.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(instance, request));
            // A connection error is the client's business (reset, bad request line); the
            // instance just moves on, as a real function would.
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
