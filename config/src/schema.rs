//! The configuration schema: one struct per TOML table, with defaults.
//!
//! Field names are the TOML keys of `shared/DESIGN.md`; renaming one breaks users. Every
//! struct denies unknown keys so a typo is an error, not a silently ignored setting.
//! Durations and byte sizes are written as strings (`"250ms"`, `"64MiB"`) and parsed by
//! [`crate::units`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::units;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The public listeners and their limits (`[server]`).
    #[serde(default)]
    pub server: Server,
    /// The admin port (`[admin]`).
    #[serde(default)]
    pub admin: Admin,
    /// The functions, by name (`[functions.NAME]`). Ordered by name so output is stable.
    #[serde(default)]
    pub functions: BTreeMap<String, Function>,
}

/// `[server]`: where clients connect, and the limits on each connection and request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// Plain-text HTTP listeners (HTTP/1.1 and h2c on the same port).
    /// Default `["127.0.0.1:8080"]`.
    #[serde(default = "default_listen")]
    pub listen: Vec<SocketAddr>,
    /// Data-plane worker threads; 0 means one per core. Default 0.
    #[serde(default)]
    pub worker_threads: usize,
    /// TLS listeners, if any. Default none.
    #[serde(default)]
    pub tls: Option<Tls>,
    /// Longest wait for an instance's response head, and (HTTP/1.1 clients) longest silence
    /// of an instance mid-body. Default 60 s.
    #[serde(default = "default_request_timeout", with = "units::duration")]
    pub request_timeout: Duration,
    /// Longest time a client may take to send a request head. Default 10 s.
    #[serde(default = "default_header_read_timeout", with = "units::duration")]
    pub header_read_timeout: Duration,
    /// A keep-alive connection with no request in progress is closed after this; so is an
    /// HTTP/1.1 client that accepts no response bytes for this long. Default 60 s.
    #[serde(default = "default_idle_timeout", with = "units::duration")]
    pub idle_timeout: Duration,
    /// Largest request body accepted, in bytes. Default 10 MiB.
    #[serde(default = "default_max_body_bytes", with = "units::bytes")]
    pub max_body_bytes: u64,
    /// How long shutdown waits for in-flight and queued requests. Default 30 s.
    #[serde(default = "default_shutdown_grace", with = "units::duration")]
    pub shutdown_grace: Duration,
}

/// `[server.tls]`: HTTPS listeners, with ALPN offering `h2` and `http/1.1`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Addresses to accept TLS connections on. Required.
    pub listen: Vec<SocketAddr>,
    /// PEM file with the certificate chain, leaf first. Relative to the config file.
    pub cert: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1). Relative to the config file.
    pub key: PathBuf,
}

/// `[admin]`: the port for health, metrics and control.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Address of the admin API. Default `127.0.0.1:9901`.
    #[serde(default = "default_admin_listen")]
    pub listen: SocketAddr,
    /// Bearer token for every admin path but `/healthz`. `${VAR}` is replaced by the
    /// environment variable's value. Required when `listen` is not a loopback address.
    #[serde(default)]
    pub token: Option<String>,
}

/// `[functions.NAME]`: one function, how to reach or start its instances, and its policies.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Function {
    /// Which requests go to this function. At least one.
    pub routes: Vec<Route>,
    /// Program and arguments of an instance (the `process` provider). Exactly one of
    /// `command` and `endpoints` is set.
    #[serde(default)]
    pub command: Vec<String>,
    /// Fixed instance addresses (the `static` provider): no scaling.
    #[serde(default)]
    pub endpoints: Vec<SocketAddr>,
    /// Working directory of spawned instances, relative to the config file. Default: the
    /// config file's directory. Always `Some` in a [`Config`] from [`crate::load`] or
    /// [`crate::parse`], which resolve it.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    /// Extra environment variables for spawned instances.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How to tell a starting instance is ready. Default: a TCP connect succeeds.
    #[serde(default)]
    pub readiness: Readiness,
    /// Memory an instance is given and billed for, in MB. Default 256.
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u32,
    /// Time a stopping instance gets between SIGTERM and SIGKILL. Default 10 s.
    #[serde(default = "default_stop_grace", with = "units::duration")]
    pub stop_grace: Duration,
    /// Autoscaling policy (`[functions.NAME.scaling]`).
    #[serde(default)]
    pub scaling: Scaling,
    /// Request queue (`[functions.NAME.queue]`).
    #[serde(default)]
    pub queue: Queue,
    /// Response cache (`[functions.NAME.cache]`).
    #[serde(default)]
    pub cache: Cache,
}

impl Function {
    /// Whether instances are fixed `endpoints` (the `static` provider), so never scaled.
    pub fn is_static(&self) -> bool {
        !self.endpoints.is_empty() && self.command.is_empty()
    }
}

/// One route: a request matches when its host and path both match. A missing `host`
/// matches any host; a missing `path_prefix` matches any path.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Exact host (`api.example.com`) or wildcard (`*.example.com`), without port.
    /// Lowercased on load.
    #[serde(default)]
    pub host: Option<String>,
    /// Path prefix, matched on whole segments (`/hello` matches `/hello/x`, not `/helloo`).
    /// A trailing `/` is removed on load (`"/hello/"` becomes `"/hello"`; `"/"` stays).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// Remove `path_prefix` from the path before forwarding. Default false.
    #[serde(default)]
    pub strip_prefix: bool,
    /// Priority class for requests on this route (one of `queue.priorities`).
    #[serde(default)]
    pub priority: Option<String>,
}

/// How readiness is checked: by an HTTP GET that answers 2xx, or by a TCP connect.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    /// Path to GET; a 2xx answer means ready.
    #[serde(default)]
    pub http_path: Option<String>,
    /// A TCP connect means ready. Default when `http_path` is not set.
    #[serde(default)]
    pub tcp: bool,
    /// A starting instance not ready after this long has failed to start. Default 30 s.
    #[serde(default = "default_readiness_timeout", with = "units::duration")]
    pub timeout: Duration,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            http_path: None,
            tcp: false,
            timeout: default_readiness_timeout(),
        }
    }
}

/// `[functions.NAME.scaling]`: the autoscaling policy (see `docs/scaling.md`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scaling {
    /// Fewest instances kept. Default 0 (scale to zero).
    #[serde(default)]
    pub min_instances: u32,
    /// Most instances started. Default 100.
    #[serde(default = "default_max_instances")]
    pub max_instances: u32,
    /// Concurrent requests per instance the policy aims for. Default 10.
    #[serde(default = "default_target_concurrency")]
    pub target_concurrency: f64,
    /// Hard limit of concurrent requests per instance; 0 means none. Default 0.
    #[serde(default)]
    pub container_concurrency: u32,
    /// How often the policy runs. Default 1 s.
    #[serde(default = "default_tick", with = "units::duration")]
    pub tick: Duration,
    /// Window the stable concurrency is averaged over. Default 60 s.
    #[serde(default = "default_stable_window", with = "units::duration")]
    pub stable_window: Duration,
    /// Window the panic concurrency is averaged over. Default 6 s.
    #[serde(default = "default_panic_window", with = "units::duration")]
    pub panic_window: Duration,
    /// Panic when the panic-window desire reaches this many times the ready instances.
    /// Default 2.0.
    #[serde(default = "default_panic_threshold")]
    pub panic_threshold: f64,
    /// Wait this long after the desire drops before removing instances. Default 0 s.
    #[serde(default, with = "units::duration")]
    pub scale_down_delay: Duration,
    /// The last instance goes only after this long without traffic. Default 30 s.
    #[serde(default = "default_scale_to_zero_grace", with = "units::duration")]
    pub scale_to_zero_grace: Duration,
    /// Requests per second per instance the policy aims for. Default none.
    #[serde(default)]
    pub target_rps: Option<f64>,
    /// CPU use per instance the policy aims for, in percent of one core. Default none.
    #[serde(default)]
    pub target_cpu_percent: Option<f64>,
    /// Memory use per instance the policy aims for, in percent of `memory_mb`. Default none.
    #[serde(default)]
    pub target_memory_percent: Option<f64>,
    /// Queued requests per instance the policy aims for. Default none.
    #[serde(default)]
    pub target_queue_depth: Option<f64>,
    /// A metric scraped from each instance's Prometheus endpoint. Default none.
    #[serde(default)]
    pub custom: Option<CustomMetric>,
}

/// `custom = { path, metric, target }`: scale on a gauge the instances export.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomMetric {
    /// Path of the Prometheus text endpoint on each instance.
    pub path: String,
    /// Metric name to read (summed across label sets).
    pub metric: String,
    /// Value per instance the policy aims for.
    pub target: f64,
}

/// `[functions.NAME.queue]`: how requests wait for a free instance slot.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// Most requests waiting at once. Default 1000.
    #[serde(default = "default_queue_max_depth")]
    pub max_depth: usize,
    /// Longest wait before `QUEUE_TIMEOUT`. Default 10 s.
    #[serde(default = "default_queue_timeout", with = "units::duration")]
    pub timeout: Duration,
    /// Priority classes, most urgent first. Default `["high", "normal", "low"]`.
    #[serde(default = "default_priorities")]
    pub priorities: Vec<String>,
    /// Class of a request that names none. Default `"normal"`.
    #[serde(default = "default_priority")]
    pub default_priority: String,
    /// Request header naming a class. Default `x-tidegate-priority`.
    #[serde(default = "default_priority_header")]
    pub priority_header: String,
    /// A waiter rises one class per interval waited. Default 5 s.
    #[serde(default = "default_aging", with = "units::duration")]
    pub aging: Duration,
}

/// `[functions.NAME.cache]`: the response cache.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// Cache responses of this function. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// Most bytes of responses held. Default 64 MiB.
    #[serde(default = "default_cache_max_bytes", with = "units::bytes")]
    pub max_bytes: u64,
    /// When above zero, responses without caching headers are cached this long. Default 0 s.
    #[serde(default, with = "units::duration")]
    pub default_ttl: Duration,
    /// Request headers added to the cache key, lowercased on load. Default none.
    #[serde(default)]
    pub key_headers: Vec<String>,
}

// === defaults ===

fn default_readiness_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_stop_grace() -> Duration {
    Duration::from_secs(10)
}

fn default_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([127, 0, 0, 1], 8080))]
}
fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9901))
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_header_read_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_max_body_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_shutdown_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_memory_mb() -> u32 {
    256
}
fn default_max_instances() -> u32 {
    100
}
fn default_target_concurrency() -> f64 {
    10.0
}
fn default_tick() -> Duration {
    Duration::from_secs(1)
}
fn default_stable_window() -> Duration {
    Duration::from_secs(60)
}
fn default_panic_window() -> Duration {
    Duration::from_secs(6)
}
fn default_panic_threshold() -> f64 {
    2.0
}
fn default_scale_to_zero_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_queue_max_depth() -> usize {
    1000
}
fn default_queue_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_priorities() -> Vec<String> {
    vec!["high".into(), "normal".into(), "low".into()]
}
fn default_priority() -> String {
    "normal".into()
}
fn default_priority_header() -> String {
    "x-tidegate-priority".into()
}
fn default_aging() -> Duration {
    Duration::from_secs(5)
}
fn default_cache_max_bytes() -> u64 {
    64 * 1024 * 1024
}

// Each table's `Default` is what an empty table deserializes to, so defaults live in
// exactly one place: the `default = ...` attributes above.
macro_rules! default_from_empty_table {
    ($($ty:ty),*) => {$(
        impl Default for $ty {
            fn default() -> Self {
                toml::from_str("").expect("an empty table deserializes with every default")
            }
        }
    )*};
}
default_from_empty_table!(Server, Admin, Scaling, Queue, Cache);
