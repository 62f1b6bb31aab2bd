//! TLS listeners with ALPN, using a certificate generated for the test.

use std::sync::Arc;

use bytes::Bytes;
use http::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::harness::{TempDir, Tidegate, collect};
use crate::upstream::Upstream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_http2_and_http1_by_alpn() {
    let upstream = Upstream::start("u").await;
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a test certificate");
    let dir = TempDir::new();
    dir.write("cert.pem", &certified.cert.pem());
    dir.write("key.pem", &certified.signing_key.serialize_pem());
    let config = format!(
        r#"
        [server]
        listen = ["127.0.0.1:0"]
        tls = {{ listen = ["127.0.0.1:0"], cert = "cert.pem", key = "key.pem" }}
        [admin]
        listen = "127.0.0.1:0"
        [functions.f]
        endpoints = ["{}"]
        routes = [{{ path_prefix = "/" }}]
        "#,
        upstream.addr
    );
    let proxy = Tidegate::start_in(dir, &config);
    let https = proxy.https.expect("a TLS listener is announced");

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(certified.cert.der().clone())
        .expect("the test certificate is a valid root");
    for (alpn, expect_h2) in [(&b"h2"[..], true), (&b"http/1.1"[..], false)] {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        client.alpn_protocols = vec![alpn.to_vec()];
        let tcp = TcpStream::connect(https).await.expect("connect");
        let tls = TlsConnector::from(Arc::new(client))
            .connect(ServerName::try_from("localhost").expect("a name"), tcp)
            .await
            .expect("TLS handshake with the generated certificate");
        assert_eq!(
            tls.get_ref().1.alpn_protocol(),
            Some(alpn),
            "ALPN agreed on {alpn:?}"
        );

        let answer = if expect_h2 {
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                    .await
                    .expect("h2 handshake");
            tokio::spawn(connection);
            let request = Request::get("https://localhost/tls")
                .body(http_body_util::Empty::<Bytes>::new())
                .expect("valid");
            collect(sender.send_request(request).await.expect("h2 response")).await
        } else {
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .expect("h1 handshake");
            tokio::spawn(connection);
            let request = Request::get("/tls")
                .header("host", "localhost")
                .body(http_body_util::Empty::<Bytes>::new())
                .expect("valid");
            collect(sender.send_request(request).await.expect("h1 response")).await
        };
        assert_eq!(answer.status, 200);
        let seen = answer.json();
        assert_eq!(seen["uri"], "/tls");
        assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
    }
}

#[test]
fn an_unreadable_key_is_a_config_error() {
    let dir = TempDir::new();
    dir.write("cert.pem", "not a certificate");
    let text = r#"
        [server]
        tls = { listen = ["127.0.0.1:0"], cert = "cert.pem", key = "missing-key.pem" }
        [functions.f]
        endpoints = ["127.0.0.1:9"]
        routes = [{ path_prefix = "/" }]
    "#;
    let path = dir.write("tls.toml", text);
    let output = std::process::Command::new(crate::harness::binary())
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .expect("tidegate check runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("missing-key.pem"),
        "the error names the key file: {stderr}"
    );
}
