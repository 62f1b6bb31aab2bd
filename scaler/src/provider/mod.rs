//! Providers: how a function's instances come to exist and go away.
//!
//! A provider turns "this function needs one more instance" into a running [`Instance`]
//! and "this instance may go" into a stopped one. The trait is deliberately small so the
//! coming `process` provider (spawned commands) and a cluster-engine provider fit behind
//! it; the autoscaler talks only to this trait.

mod static_endpoints;

pub use static_endpoints::StaticProvider;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::fleet::Instance;

/// Why a provider could not start or stop an instance.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// This provider has a fixed set of instances.
    #[error("the {0} provider cannot change its instances")]
    Fixed(&'static str),
    /// Starting an instance failed.
    #[error("instance failed to start: {0}")]
    Start(String),
}

/// A boxed future, so the trait stays object-safe for per-function provider choice.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Starts and stops a function's instances.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The provider's name as configured (`static`, `process`).
    fn kind(&self) -> &'static str;

    /// Instances that exist from the start and are never scaled (the static provider's
    /// endpoints); empty for providers that start instances on demand.
    fn initial(&self) -> Vec<Arc<Instance>>;

    /// Starts one instance and returns it once it is ready.
    fn start(&self) -> BoxFuture<'_, Result<Arc<Instance>, ProviderError>>;

    /// Stops an instance that no longer receives requests.
    fn stop(&self, instance: Arc<Instance>) -> BoxFuture<'_, ()>;
}
