//! tidegate's control plane: which instances of each function exist, and in what state.
//!
//! The parts:
//!
//! - [`fleet`]: a function's [`Fleet`] of [`Instance`]s, and the [`Lease`] that routes one
//!   request to the least-loaded ready instance. The data plane reads fleets on every
//!   request; only the control plane changes them.
//! - [`provider`]: how instances come to exist. [`provider::StaticProvider`] adopts fixed
//!   endpoints; the process provider (which spawns instances) comes next and slots in
//!   behind the same [`provider::Provider`] trait.
//! - [`policy`]: the autoscaling [`Policy`], pure and deterministic: samples of load in,
//!   a [`Decision`] (desired instances and the [`Reason`]) out. The loop that samples the
//!   fleets and carries the decisions out through a provider comes next.
//!
//! What this crate does not own: requests. It never reads, forwards or answers one; the
//! proxy asks a fleet for a lease and reports nothing else back. Dependencies point
//! one way: `tidegate-config` ← `tidegate-scaler` ← `tidegate-proxy`.

pub mod fleet;
mod instance;
pub mod policy;
pub mod provider;

pub use fleet::{Fleet, FleetCounts, Instance, InstanceId, InstanceState, Lease, SlotWait};
pub use policy::{Decision, Manual, Observations, Policy, Reason, Sample};
