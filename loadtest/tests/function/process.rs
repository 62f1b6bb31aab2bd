//! The instance as a process: how it finds its socket, its flags, `/healthz`, `/__stats`.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tokio::process::Command;

use crate::support::{BIN, Instance, eventually, feed};

#[tokio::test]
async fn healthz_answers_ok() {
    let instance = Instance::start(&[]).await;
    let reply = instance.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "ok\n");
}

#[tokio::test]
async fn stats_count_paths_methods_and_concurrency() {
    let instance = Instance::start(&[]).await;
    instance.get("/a").await;
    instance.get("/a?size=3").await;
    instance.get("/healthz").await;

    // Echo requests stay in flight until their bodies end, so five open ones are five in
    // flight for as long as the test wants, with no timing involved.
    let mut open = Vec::new();
    for _ in 0..5 {
        let (sender, body) = feed();
        let request = Request::post("/b?echo=1")
            .body(body)
            .expect("a valid request");
        let response = instance.open(request).await.expect("the head comes back");
        open.push((sender, response));
    }
    eventually("five requests are in flight", || async {
        instance.stats().await["in_flight"] == 5
    })
    .await;
    for (sender, response) in open {
        drop(sender);
        let echoed = response
            .into_body()
            .collect()
            .await
            .expect("the echo ends cleanly");
        assert!(echoed.to_bytes().is_empty());
    }
    eventually("no request is in flight", || async {
        instance.stats().await["in_flight"] == 0
    })
    .await;

    let stats = instance.stats().await;
    assert_eq!(stats["total"], 8, "/__stats does not count itself: {stats}");
    assert_eq!(stats["max_in_flight"], 5);
    assert_eq!(stats["by_path"]["/a"], 2);
    assert_eq!(stats["by_path"]["/b"], 5);
    assert_eq!(stats["by_path"]["/healthz"], 1);
    assert_eq!(stats["by_method"]["GET"], 3);
    assert_eq!(stats["by_method"]["POST"], 5);
}

#[tokio::test]
async fn the_port_comes_from_the_environment_unless_a_flag_names_one() {
    // A port known free a moment ago; the instance must bind exactly it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|probe| probe.local_addr())
        .expect("a free port")
        .port();
    let mut command = Command::new(BIN);
    command.env("PORT", port.to_string());
    let (instance, _) = Instance::spawn(command).await;
    assert_eq!(instance.addr.port(), port);

    // --port wins, so a PORT that is no port at all is never read.
    let mut command = Command::new(BIN);
    command.env("PORT", "not-a-port").args(["--port", "0"]);
    let (instance, _) = Instance::spawn(command).await;
    assert_eq!(instance.get("/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_startup_delay_holds_back_the_listener() {
    let start = Instant::now();
    let instance = Instance::start(&["--startup-delay", "300ms"]).await;
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(instance.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn crash_after_answers_n_requests_then_exits_with_status_1() {
    let mut instance = Instance::start(&["--crash-after", "2"]).await;
    // Probes do not use up the budget.
    assert_eq!(instance.get("/healthz").await.status, StatusCode::OK);
    assert_eq!(instance.get("/").await.status, StatusCode::OK);
    assert_eq!(instance.get("/").await.status, StatusCode::OK);

    // No third request is needed: the process goes on its own after the second answer.
    let status = instance
        .child
        .wait()
        .await
        .expect("the instance can be waited for");
    assert_eq!(status.code(), Some(1));
}

#[tokio::test]
async fn a_request_past_the_budget_kills_the_instance_at_once() {
    let mut instance = Instance::start(&["--crash-after", "0"]).await;
    let request = Request::get("/").body(crate::support::empty());
    let answer = instance.open(request.expect("a valid request")).await;
    assert!(answer.is_err(), "the connection drops instead of answering");
    let status = instance
        .child
        .wait()
        .await
        .expect("the instance can be waited for");
    assert_eq!(status.code(), Some(1));
}

#[tokio::test]
async fn ballast_is_resident_from_the_start() {
    let instance = Instance::start(&["--ballast", "64MiB"]).await;
    let rss = instance.rss();
    assert!(rss >= 64 << 20, "RSS is only {rss} bytes");
}

/// A listening socket that a child process inherits, as the process provider passes it.
fn inheritable_listener() -> socket2::Socket {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("a TCP socket");
    let any_port = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    socket
        .bind(&any_port.into())
        .expect("binding port 0 succeeds");
    socket.listen(128).expect("the socket listens");
    socket
        .set_cloexec(false)
        .expect("the socket can be inherited");
    socket
}

/// A command that moves `socket` to descriptor 3 and runs the instance with `LISTEN_PID`
/// set to `pid` (`$$` is the shell's own pid, which `exec` hands to the instance).
fn activated(socket: &socket2::Socket, pid: &str) -> Command {
    let script = format!(
        "exec 3<&{fd}; export LISTEN_FDS=1 LISTEN_PID={pid}; exec \"$0\" --port 0",
        fd = socket.as_raw_fd()
    );
    let mut command = Command::new("bash");
    command.args(["-c", &script, BIN]);
    command
}

#[tokio::test]
async fn an_inherited_socket_is_served_when_listen_pid_matches() {
    let socket = inheritable_listener();
    let bound = socket
        .local_addr()
        .expect("bound")
        .as_socket()
        .expect("an IP address");

    let (instance, _) = Instance::spawn(activated(&socket, "$$")).await;
    assert_eq!(
        instance.addr, bound,
        "the instance serves the socket it was given"
    );
    assert_eq!(instance.get("/").await.body, "hello world\n");
}

#[tokio::test]
async fn an_inherited_socket_meant_for_another_process_is_ignored() {
    let socket = inheritable_listener();
    let bound = socket
        .local_addr()
        .expect("bound")
        .as_socket()
        .expect("an IP address");

    let (instance, _) = Instance::spawn(activated(&socket, "1")).await;
    assert_ne!(instance.addr, bound, "LISTEN_PID names another process");
    assert_eq!(instance.get("/").await.status, StatusCode::OK);
}
