//! Checks that hold across keys, after serde has checked each key's type.
//!
//! Every check runs and every problem is collected, so one `tidegate check` shows all of
//! them. Each message says what would be valid. A few values are normalised here first
//! (hosts and cache key headers lowercased, a trailing `/` dropped from path prefixes) so
//! the data plane compares them without caring how they were written.
//!
//! The server, TLS and admin checks live in this file; functions, their routes and their
//! scaling policies in the submodules.

mod function;
mod routes;
mod scaling;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::locate::KeyPath;
use crate::schema::{Admin, Config, Server, Tls};

/// A problem with one key, found after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub(crate) path: KeyPath,
    pub(crate) message: String,
}

/// Collects issues; every check adds to it instead of returning early.
#[derive(Debug, Default)]
pub(crate) struct Issues(Vec<Issue>);

impl Issues {
    pub(crate) fn add(&mut self, path: &KeyPath, message: impl Into<String>) {
        self.0.push(Issue {
            path: path.clone(),
            message: message.into(),
        });
    }

    pub(crate) fn into_vec(self) -> Vec<Issue> {
        self.0
    }
}

/// Normalises `config` in place and returns every problem found, in no particular order.
/// `is_written` tells a key the file sets from one left to its default, so that a clash
/// with a default is reported at the key the reader can see.
pub(crate) fn validate(config: &mut Config, is_written: &dyn Fn(&KeyPath) -> bool) -> Vec<Issue> {
    let mut issues = Issues::default();
    let root = KeyPath::root();

    check_server(&config.server, &root.key("server"), &mut issues);
    check_admin(&config.admin, &root.key("admin"), &mut issues);
    check_addresses_unique(config, is_written, &mut issues);

    let functions = root.key("functions");
    for (name, function) in &mut config.functions {
        function::check(name, function, &functions.key(name.as_str()), &mut issues);
    }
    routes::check_unique(&config.functions, &functions, &mut issues);

    issues.into_vec()
}

// === server ===

fn check_server(server: &Server, path: &KeyPath, issues: &mut Issues) {
    if server.listen.is_empty() {
        issues.add(
            &path.key("listen"),
            r#"at least one address is needed, like ["127.0.0.1:8080"]"#,
        );
    }
    if server.worker_threads > 1024 {
        issues.add(
            &path.key("worker_threads"),
            format!(
                "{} is more than 1024; use 0 for one per core, or a count up to 1024",
                server.worker_threads
            ),
        );
    }
    for (key, value, example) in [
        ("request_timeout", server.request_timeout, "60s"),
        ("header_read_timeout", server.header_read_timeout, "10s"),
        ("idle_timeout", server.idle_timeout, "60s"),
    ] {
        positive_duration(value, &path.key(key), example, issues);
    }
    // `shutdown_grace` may be zero: stopping without waiting is a legitimate choice.
    if server.max_body_bytes == 0 {
        issues.add(
            &path.key("max_body_bytes"),
            r#"must be above zero, like "10MiB""#,
        );
    }
    if let Some(tls) = &server.tls {
        check_tls(tls, &path.key("tls"), issues);
    }
}

fn check_tls(tls: &Tls, path: &KeyPath, issues: &mut Issues) {
    if tls.listen.is_empty() {
        issues.add(
            &path.key("listen"),
            r#"at least one address is needed, like ["127.0.0.1:8443"]"#,
        );
    }
    if let Err(message) = check_certificate_file(&tls.cert) {
        issues.add(&path.key("cert"), message);
    }
    if let Err(message) = check_key_file(&tls.key) {
        issues.add(&path.key("key"), message);
    }
}

// Only the PEM framing is checked here; whether the key matches the certificate is found
// when the proxy builds its TLS configuration.
fn check_certificate_file(file: &Path) -> Result<(), String> {
    let bytes = std::fs::read(file)
        .map_err(|error| format!("cannot read certificate file `{}`: {error}", file.display()))?;
    let mut certificates = 0;
    for certificate in CertificateDer::pem_slice_iter(&bytes) {
        certificate.map_err(|error| {
            format!(
                "certificate file `{}` is not valid PEM: {error}",
                file.display()
            )
        })?;
        certificates += 1;
    }
    if certificates == 0 {
        return Err(format!(
            "certificate file `{}` holds no CERTIFICATE block; expected the PEM certificate chain, leaf first",
            file.display()
        ));
    }
    Ok(())
}

fn check_key_file(file: &Path) -> Result<(), String> {
    let bytes = std::fs::read(file)
        .map_err(|error| format!("cannot read key file `{}`: {error}", file.display()))?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(_) => Ok(()),
        Err(pem::Error::NoItemsFound) => Err(format!(
            "key file `{}` holds no private key; expected a PEM `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC1) block",
            file.display()
        )),
        Err(error) => Err(format!(
            "key file `{}` is not valid PEM: {error}",
            file.display()
        )),
    }
}

// === admin ===

fn check_admin(admin: &Admin, path: &KeyPath, issues: &mut Issues) {
    match &admin.token {
        Some(token) if token.is_empty() => issues.add(
            &path.key("token"),
            r#"the token is empty; set a secret, like token = "${TIDEGATE_ADMIN_TOKEN}", or remove the key on a loopback address"#,
        ),
        Some(_) => {}
        // Anyone who can reach the port could scale functions and read metrics.
        None if !admin.listen.ip().to_canonical().is_loopback() => issues.add(
            &path.key("token"),
            format!(
                r#"admin listens on {}, which is not a loopback address, so a token is required: set token = "${{TIDEGATE_ADMIN_TOKEN}}", or listen on 127.0.0.1"#,
                admin.listen
            ),
        ),
        None => {}
    }
}

// === listeners ===

/// No two listeners may claim the same port. Each clash is reported once, at the later of
/// the two keys, unless only the earlier is written in the file.
fn check_addresses_unique(
    config: &Config,
    is_written: &dyn Fn(&KeyPath) -> bool,
    issues: &mut Issues,
) {
    let mut listeners: Vec<(KeyPath, SocketAddr)> = Vec::new();
    let server = KeyPath::root().key("server");
    for (i, address) in config.server.listen.iter().enumerate() {
        listeners.push((server.key("listen").index(i), *address));
    }
    if let Some(tls) = &config.server.tls {
        for (i, address) in tls.listen.iter().enumerate() {
            listeners.push((server.key("tls").key("listen").index(i), *address));
        }
    }
    listeners.push((
        KeyPath::root().key("admin").key("listen"),
        config.admin.listen,
    ));

    for (later, (path, address)) in listeners.iter().enumerate() {
        let earlier = listeners[..later]
            .iter()
            .find(|(_, other)| conflict(*address, *other));
        let Some((other_path, other)) = earlier else {
            continue;
        };
        // Point at what the reader wrote, even when the clash is with a default.
        let (at, address, other_path, other) = if !is_written(path) && is_written(other_path) {
            (other_path, other, path, address)
        } else {
            (path, address, other_path, other)
        };
        let message = if address == other {
            format!(
                "{address} is already used by `{other_path}`; each listener needs its own address"
            )
        } else {
            format!(
                "{address} overlaps {other} (`{other_path}`): an unspecified address takes the port on every interface; use another port"
            )
        };
        issues.add(at, message);
    }
}

/// Whether binding both addresses would fail. Port 0 asks for a fresh port, so never clashes.
fn conflict(a: SocketAddr, b: SocketAddr) -> bool {
    if a.port() == 0 || a.port() != b.port() {
        return false;
    }
    let same_family = a.is_ipv4() == b.is_ipv4();
    a.ip() == b.ip() || (same_family && (a.ip().is_unspecified() || b.ip().is_unspecified()))
}

// === shared checks ===

pub(crate) fn positive_duration(
    value: Duration,
    path: &KeyPath,
    example: &str,
    issues: &mut Issues,
) {
    if value.is_zero() {
        issues.add(path, format!(r#"must be above zero, like "{example}""#));
    }
}

/// An HTTP header name: a non-empty RFC 9110 token.
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Backquoted names joined by commas, for "one of ..." messages.
pub(crate) fn list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    quoted.join(", ")
}
