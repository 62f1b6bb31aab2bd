//! A minimal HTTP/1.0 GET, for readiness checks and for scraping an instance's metrics.
//!
//! Both talk to a function instance on loopback, once per check, so a dependency-free
//! client that asks for `Connection: close` semantics (HTTP/1.0, so the answer is never
//! chunked) and reads to the end is all that is needed.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer read; a metrics page beyond this is cut (and its tail ignored).
const MAX_ANSWER: u64 = 4 << 20;

/// Connects to `addr` within `timeout`; success means something accepts connections.
pub(crate) async fn tcp(addr: SocketAddr, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

/// GETs `path` from `addr`, all within `timeout`, returning the status code and the body.
pub(crate) async fn get(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> io::Result<(u16, Vec<u8>)> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: tidegate\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        stream.take(MAX_ANSWER).read_to_end(&mut answer).await?;
        parse(&answer)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no answer in time"))?
}

fn parse(answer: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "not an HTTP answer");
    // "HTTP/1.x 200 ..." : the code is the three digits after the first space.
    let code = answer
        .get(9..12)
        .filter(|_| answer.starts_with(b"HTTP/1."))
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .and_then(|digits| digits.parse::<u16>().ok())
        .ok_or_else(invalid)?;
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&[][..], |end| &answer[end + 4..]);
    Ok((code, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_code_and_the_body() {
        let (code, body) = parse(b"HTTP/1.1 204 No Content\r\nX: y\r\n\r\nhi").unwrap();
        assert_eq!((code, &body[..]), (204, &b"hi"[..]));
        assert!(parse(b"SSH-2.0-OpenSSH").is_err());
        assert!(parse(b"HTTP/1.1 2").is_err());
    }

    #[tokio::test]
    async fn gets_from_a_real_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"GET /metrics HTTP/1.0\r\n"));
            stream
                .write_all(b"HTTP/1.0 200 OK\r\n\r\njobs 3\n")
                .await
                .unwrap();
        });
        let (code, body) = get(addr, "/metrics", Duration::from_secs(5)).await.unwrap();
        assert_eq!((code, &body[..]), (200, &b"jobs 3\n"[..]));
    }

    #[tokio::test]
    async fn tcp_tells_a_listener_from_a_closed_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(tcp(addr, Duration::from_secs(1)).await);
        drop(listener);
        assert!(!tcp(addr, Duration::from_secs(1)).await);
    }
}
