//! Providers: how a function's instances come to exist and go away.
//!
//! A provider turns "this function needs one more instance" into a running [`Instance`]
//! and "this instance may go" into a stopped one. The trait is small so that the
//! [`ProcessProvider`] (spawned commands), the [`StaticProvider`] (fixed endpoints) and a
//! cluster-engine provider later all fit behind it; the controller talks only to it.
//!
//! Starting is split in two on purpose: [`Provider::launch`] returns at once with the
//! instance in the Starting state (so the fleet, the admin API and the metrics can show
//! it), and the [`Launch`] carries the futures that tell when it became ready and when
//! it went away.

pub(crate) mod process;
mod static_endpoints;

pub use process::ProcessProvider;
pub use static_endpoints::StaticProvider;

pub(crate) use static_endpoints::next_instance_id;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::fleet::Instance;

/// Why a provider could not start an instance.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// This provider has a fixed set of instances.
    #[error("the {0} provider cannot change its instances")]
    Fixed(&'static str),
    /// Starting an instance failed: the command could not run, it exited, or it did not
    /// become ready in time.
    #[error("{0}")]
    Start(String),
}

/// A boxed future, so the trait stays object-safe for per-function provider choice.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An instance on its way up.
pub struct Launch {
    /// The instance, in the Starting state.
    pub instance: Arc<Instance>,
    /// Resolves once the instance passes its readiness check, or with why it never will.
    pub ready: BoxFuture<'static, Result<(), ProviderError>>,
    /// Resolves when the instance has gone away on its own or was stopped, describing how
    /// (an exit status, a signal).
    pub exited: BoxFuture<'static, String>,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// Starts and stops a function's instances.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The provider's name as configured (`static`, `process`).
    fn kind(&self) -> &'static str;

    /// Instances that exist from the start and are never scaled (the static provider's
    /// endpoints); empty for providers that start instances on demand.
    fn initial(&self) -> Vec<Arc<Instance>>;

    /// Whether [`Provider::launch`] can add instances, i.e. whether the function scales.
    fn can_launch(&self) -> bool;

    /// Starts one instance and returns at once, with the instance still Starting.
    ///
    /// It is synchronous on purpose: the process provider spawns on the calling thread,
    /// and the controller calls it from the long-lived control thread (see
    /// [`ProcessProvider`] on why that thread matters).
    fn launch(&self) -> Result<Launch, ProviderError>;

    /// Stops an instance that no longer receives requests, and resolves once it is gone.
    /// Stopping an instance that already went away is harmless.
    fn stop(&self, instance: Arc<Instance>) -> BoxFuture<'static, ()>;
}
