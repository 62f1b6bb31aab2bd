//! tidegate's control plane: which instances of each function exist, and in what state.
//!
//! The parts:
//!
//! - [`fleet`]: a function's [`Fleet`] of [`Instance`]s, and the [`Lease`] that routes one
//!   request to the least-loaded ready instance. The data plane reads fleets on every
//!   request; only the control plane changes them.
//! - [`provider`]: how instances come to exist. [`provider::ProcessProvider`] spawns the
//!   function's command; [`provider::StaticProvider`] adopts fixed endpoints. Both sit
//!   behind the [`provider::Provider`] trait.
//! - [`policy`]: the autoscaling [`Policy`], pure and deterministic: samples of load in,
//!   a [`Decision`] (desired instances and the [`Reason`]) out.
//! - [`controller`]: one [`Controller`] task per scalable function samples its fleet,
//!   asks the policy, and launches or drains instances through the provider; the
//!   [`ScaleHandle`] is how the admin API reads and steers it.
//!
//! What this crate does not own: requests. It never reads, forwards or answers one; the
//! proxy asks a fleet for a lease and reports nothing else back. Dependencies point
//! one way: `tidegate-config` ← `tidegate-scaler` ← `tidegate-proxy`.

pub mod controller;
pub mod fleet;
mod instance;
pub mod policy;
mod probe;
pub mod provider;

pub use controller::{Controller, ScaleHandle};
pub use fleet::{Fleet, FleetCounts, Instance, InstanceId, InstanceState, Lease, SlotHandoff};
pub use policy::{Decision, Manual, Observations, Policy, Reason, Sample};
