//! Starting tidegate and talking to it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A scratch directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("tidegate-e2e-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir is writable");
        TempDir(path)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("temp file is writable");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running tidegate process, killed on drop.
pub struct Tidegate {
    pub child: Child,
    pub http: SocketAddr,
    pub https: Option<SocketAddr>,
    pub admin: SocketAddr,
    _dir: TempDir,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_tidegate")
}

impl Tidegate {
    /// Starts tidegate on `config` (TOML; listeners should use port 0).
    pub fn start(config: &str) -> Tidegate {
        Self::start_in(TempDir::new(), config)
    }

    /// Starts tidegate with its config written into `dir` (for configs naming files there).
    pub fn start_in(dir: TempDir, config: &str) -> Tidegate {
        let path = dir.write("tidegate.toml", config);
        let mut child = Command::new(binary())
            .args(["run", "--config"])
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the tidegate binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("tidegate writes its announcement");
        let announced: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|_| {
            panic!("the first stdout line is the JSON announcement, got {line:?}")
        });
        let addr = |v: &serde_json::Value| {
            v.as_str()
                .expect("an address string")
                .parse()
                .expect("a socket address")
        };
        Tidegate {
            http: addr(&announced["http"][0]),
            https: announced["https"].get(0).map(addr),
            admin: addr(&announced["admin"]),
            child,
            _dir: dir,
        }
    }

    /// Sends a signal to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status();
        assert!(status.expect("kill runs").success(), "signal delivered");
    }

    /// Waits for the process to exit (at most `limit`).
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait works") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "tidegate exits within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Tidegate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tidegate check` on `config`; returns (exit status, stdout, stderr).
pub fn check(config: &str) -> (ExitStatus, String, String, PathBuf, TempDir) {
    let dir = TempDir::new();
    let path = dir.write("check.toml", config);
    let output = Command::new(binary())
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("tidegate check runs");
    (
        output.status,
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        path,
        dir,
    )
}

/// A response with its whole body.
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!("a JSON body, got {:?}", String::from_utf8_lossy(&self.body))
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The error code of a tidegate JSON error.
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .expect("an error code")
            .to_owned()
    }
}

/// Sends one HTTP/1.1 request on a new connection and reads the whole answer.
pub async fn send<B>(addr: SocketAddr, request: Request<B>) -> Answer
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.expect("connect to tidegate");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    let response = sender.send_request(request).await.expect("a response");
    collect(response).await
}

pub async fn collect(response: Response<hyper::body::Incoming>) -> Answer {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.expect("the whole body").to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A GET with `host`.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Answer {
    get_with(addr, host, path, &[]).await
}

/// A GET with `host` and extra header fields.
pub async fn get_with(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = Request::get(path).header("host", host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .expect("a valid request");
    send(addr, request).await
}

/// A POST with a body.
pub async fn post(addr: SocketAddr, host: &str, path: &str, body: impl Into<Bytes>) -> Answer {
    let request = Request::post(path)
        .header("host", host)
        .body(Full::new(body.into()))
        .expect("a valid request");
    send(addr, request).await
}

/// Admin GET, optionally with a token.
pub async fn admin_get(addr: SocketAddr, path: &str, token: Option<&str>) -> Answer {
    let mut request = Request::get(path).header("host", "admin");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    send(
        addr,
        request
            .body(Empty::<Bytes>::new())
            .expect("a valid request"),
    )
    .await
}

pub fn path_str(path: &Path) -> String {
    path.display().to_string()
}

/// Polls `condition` until it holds (at most 10 s): for states reached asynchronously,
/// such as a request being in flight inside tidegate.
pub async fn wait_until<F, Fut>(what: &str, condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_until_within(Duration::from_secs(10), what, condition).await
}

/// [`wait_until`] with a limit of its own, for states that take a scaler's windows.
pub async fn wait_until_within<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The admin API's view of one function.
pub async fn function_state(
    admin: SocketAddr,
    name: &str,
    token: Option<&str>,
) -> serde_json::Value {
    admin_get(admin, &format!("/v1/functions/{name}"), token)
        .await
        .json()
}

/// A configuration with one function `f`, routed on every path to `endpoint`, one worker
/// thread, every port 0; `server_extra` and `function_extra` are TOML lines added to the
/// `[server]` and `[functions.f]` tables.
pub fn one_function(endpoint: SocketAddr, server_extra: &str, function_extra: &str) -> String {
    format!(
        r#"
        [server]
        listen = ["127.0.0.1:0"]
        worker_threads = 1
        {server_extra}
        [admin]
        listen = "127.0.0.1:0"
        [functions.f]
        endpoints = ["{endpoint}"]
        routes = [{{ path_prefix = "/" }}]
        {function_extra}
        "#
    )
}

/// An admin request with a JSON body (`POST`) or none (`DELETE`).
pub async fn admin_send(addr: SocketAddr, method: &str, path: &str, body: &str) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "admin")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("a valid request");
    send(addr, request).await
}

/// The synthetic function `tidegate-fn` of the `loadtest` package, the instance command of
/// the scaling tests. Cargo builds it beside `tidegate` for a workspace test run; a test
/// run of this package alone builds it here, once.
pub fn function_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = Path::new(binary()).parent().expect("a target directory");
            let path = dir.join("tidegate-fn");
            if !path.exists() {
                let status = Command::new(env!("CARGO"))
                    .args(["build", "-p", "tidegate-loadtest", "--bin", "tidegate-fn"])
                    .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                    .status()
                    .expect("cargo runs");
                assert!(status.success(), "tidegate-fn builds");
            }
            assert!(path.exists(), "tidegate-fn is at {}", path.display());
            path
        })
        .clone()
}

/// A configuration with one function `f` whose instances are `tidegate-fn` processes
/// started by tidegate, routed on every path; `function_extra` and `scaling` are TOML
/// lines added to `[functions.f]` and `[functions.f.scaling]`.
pub fn process_function(function_extra: &str, scaling: &str) -> String {
    format!(
        r#"
        [server]
        listen = ["127.0.0.1:0"]
        worker_threads = 1
        shutdown_grace = "5s"
        [admin]
        listen = "127.0.0.1:0"
        [functions.f]
        command = ["{binary}"]
        routes = [{{ path_prefix = "/" }}]
        readiness = {{ http_path = "/healthz" }}
        stop_grace = "2s"
        {function_extra}
        [functions.f.scaling]
        tick = "200ms"
        {scaling}
        "#,
        binary = function_binary().display()
    )
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn process_alive(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state is the first field after the parenthesised command name.
        Ok(stat) => stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// The pids of the function's instances, as the admin API lists them.
pub fn instance_pids(state: &serde_json::Value) -> Vec<u64> {
    state["fleet"]
        .as_array()
        .expect("a fleet array")
        .iter()
        .filter_map(|i| i["pid"].as_u64())
        .collect()
}
