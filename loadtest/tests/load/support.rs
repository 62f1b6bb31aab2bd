//! What the tests share: a spawned `tidegate-fn` upstream, plans for it, a stand-in for
//! tidegate's admin API, and scratch directories.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tidegate_loadtest::load::{Overrides, Plan, Scenario};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, ChildStdout, Command};

/// The synthetic function binary.
pub const FN_BIN: &str = env!("CARGO_BIN_EXE_tidegate-fn");
/// The load generator binary.
pub const LOADTEST_BIN: &str = env!("CARGO_BIN_EXE_tidegate-loadtest");

/// A running `tidegate-fn`, killed when dropped.
pub struct Upstream {
    pub addr: SocketAddr,
    _child: Child,
    /// Kept open so the instance never writes into a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Upstream {
    /// Starts `tidegate-fn --port 0 ARGS` and waits for its `listening on` line.
    pub async fn start(args: &[&str]) -> Self {
        let mut child = Command::new(FN_BIN)
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("tidegate-fn should spawn");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .await
            .expect("tidegate-fn prints its address");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("the first line names the address: {line:?}"));
        Self {
            addr,
            _child: child,
            _stdout: stdout,
        }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// How many function requests the upstream has received, from `GET /__stats`.
    pub async fn received(&self) -> u64 {
        let stats = get_json(self.addr, "/__stats").await;
        stats["total"].as_u64().expect("/__stats has a total")
    }
}

/// A plan from flags alone, without a progress line.
pub fn plan(flags: Overrides) -> Plan {
    let flags = Overrides {
        no_progress: true,
        ..flags
    };
    Plan::resolve(Scenario::default(), &flags).expect("the test's flags make a valid plan")
}

/// `GET path` on a fresh connection, parsed as JSON.
pub async fn get_json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let stream = TcpStream::connect(addr).await.expect("the server accepts");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("an HTTP/1.1 handshake needs no round trip");
    tokio::spawn(connection);
    let request = Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .expect("a valid request");
    let response = sender
        .send_request(request)
        .await
        .expect("the server answers");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body arrives")
        .to_bytes();
    serde_json::from_slice(&body).expect("the answer is JSON")
}

/// A stand-in for tidegate's admin API: `GET /v1/functions/hello` with the right bearer
/// token answers a function whose ready count rises by one per sample.
pub struct FakeAdmin {
    pub addr: SocketAddr,
    pub samples: Arc<AtomicU64>,
}

/// The token the fake admin API wants.
pub const ADMIN_TOKEN: &str = "s3cret";

impl FakeAdmin {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("a bound address");
        let samples = Arc::new(AtomicU64::new(0));
        let counter = samples.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(request, counter.clone()));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, samples }
    }
}

async fn answer(
    request: Request<Incoming>,
    samples: Arc<AtomicU64>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let authorized = request
        .headers()
        .get("authorization")
        .is_some_and(|v| v == format!("Bearer {ADMIN_TOKEN}").as_str());
    let (status, body) = if !authorized {
        (
            StatusCode::UNAUTHORIZED,
            r#"{"error":{"code":"UNAUTHORIZED"}}"#.to_owned(),
        )
    } else if request.uri().path() != "/v1/functions/hello" {
        (StatusCode::NOT_FOUND, "{}".to_owned())
    } else {
        let n = samples.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({
            "name": "hello",
            "instances": {"starting": 2, "ready": n, "draining": 0},
            "desired": n + 2, "in_flight": 3, "queued": 7, "panic": false,
            "cache": {"hits": 0, "misses": 0, "hit_ratio": 0.0},
            "fleet": [],
        });
        (StatusCode::OK, body.to_string())
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    Ok(response)
}

/// An empty scratch directory for one test, under cargo's temporary directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("load-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("the scratch directory can be made");
    dir
}

/// Seconds, for flags.
pub fn secs(s: f64) -> Option<Duration> {
    Some(Duration::from_secs_f64(s))
}
