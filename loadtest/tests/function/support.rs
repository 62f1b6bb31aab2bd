//! Starting an instance and talking to it: a spawned `tidegate-fn`, a one-connection HTTP
//! client per request, and readings from `/proc`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tidegate-fn");

/// A running instance, killed when dropped.
pub struct Instance {
    pub child: Child,
    pub addr: SocketAddr,
    /// Kept open so the instance never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

/// A finished exchange.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub elapsed: Duration,
}

/// A request body the test feeds chunk by chunk; it ends when the sender drops.
pub struct Feed(mpsc::Receiver<Bytes>);

impl Body for Feed {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// A feed and its sending end.
pub fn feed() -> (mpsc::Sender<Bytes>, Feed) {
    let (sender, receiver) = mpsc::channel(4);
    (sender, Feed(receiver))
}

pub type AnyBody = BoxBody<Bytes, std::convert::Infallible>;

/// An empty request body.
pub fn empty() -> AnyBody {
    Empty::new().boxed()
}

/// A request body of these bytes.
pub fn full(bytes: impl Into<Bytes>) -> AnyBody {
    Full::new(bytes.into()).boxed()
}

impl Instance {
    /// Starts `tidegate-fn ARGS` on a free port.
    pub async fn start(args: &[&str]) -> Self {
        let mut command = Command::new(BIN);
        command.args(["--port", "0"]).args(args);
        Self::spawn(command).await.0
    }

    /// Spawns a prepared command and waits for its `listening on` line, which is the
    /// instance's readiness signal. Returns the instance and the lines printed before it.
    pub async fn spawn(mut command: Command) -> (Self, Vec<String>) {
        command
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("tidegate-fn should spawn");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));

        let mut before = Vec::new();
        loop {
            let mut line = String::new();
            let read = stdout
                .read_line(&mut line)
                .await
                .expect("stdout is readable");
            assert!(
                read > 0,
                "the instance closed stdout before listening; lines: {before:?}"
            );
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                let addr = addr.parse().expect("the listening line names an address");
                let instance = Self {
                    child,
                    addr,
                    _stdout: stdout,
                };
                return (instance, before);
            }
            before.push(line.trim().to_owned());
        }
    }

    /// The instance's process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the instance is still running")
    }

    /// `GET path` over a fresh HTTP/1.1 connection.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Request::get(path).body(empty()).expect("a valid request"))
            .await
    }

    /// Sends a request over a fresh HTTP/1.1 connection and reads the whole answer.
    pub async fn send(&self, request: Request<AnyBody>) -> Reply {
        let start = Instant::now();
        let response = self.open(request).await.expect("the instance answers");
        collect(response, start).await
    }

    /// Sends a request over a fresh HTTP/1.1 connection and returns once the head arrives.
    pub async fn open<B>(&self, mut request: Request<B>) -> hyper::Result<Response<Incoming>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = TcpStream::connect(self.addr)
            .await
            .expect("the instance accepts");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("an HTTP/1.1 handshake needs no round trip");
        tokio::spawn(connection);
        let host = self
            .addr
            .to_string()
            .parse()
            .expect("an address is a valid host");
        request.headers_mut().insert(http::header::HOST, host);
        sender.send_request(request).await
    }

    /// Sends a request over a fresh h2c (prior knowledge) connection.
    pub async fn send_h2(&self, request: Request<AnyBody>) -> Reply {
        let start = Instant::now();
        let stream = TcpStream::connect(self.addr)
            .await
            .expect("the instance accepts");
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("the instance speaks h2c");
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .expect("the instance answers");
        collect(response, start).await
    }

    /// The instance's `/__stats`, parsed.
    pub async fn stats(&self) -> serde_json::Value {
        let reply = self.get("/__stats").await;
        assert_eq!(reply.status, StatusCode::OK);
        serde_json::from_slice(&reply.body).expect("/__stats answers JSON")
    }

    /// The instance's resident memory, in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/PID/status is readable");
        let line = status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .expect("status has VmRSS");
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .expect("VmRSS is a number of kB");
        kib * 1024
    }

    /// CPU time the instance has used, user and system, in clock ticks (1/100 s).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("/proc/PID/stat is readable");
        // Fields after the command name, which sits in parentheses and may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("stat has a command name")
            .1
            .split_whitespace()
            .collect();
        // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
    }
}

/// Reads a response to its end.
pub async fn collect(response: Response<Incoming>, start: Instant) -> Reply {
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .expect("the body arrives whole")
        .to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
        elapsed: start.elapsed(),
    }
}

/// Polls `condition` until it holds, failing after ten seconds with `what`.
pub async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
