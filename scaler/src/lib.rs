//! tidegate's control plane: which instances of each function exist, and in what state.
//!
//! The parts:
//!
//! - [`fleet`]: a function's [`Fleet`] of [`Instance`]s, and the [`Lease`] that routes one
//!   request to the least-loaded ready instance. The data plane reads fleets on every
//!   request; only the control plane changes them.
//! - [`provider`]: how instances come to exist. [`provider::StaticProvider`] adopts fixed
//!   endpoints; the process provider (which spawns instances) and the autoscaling policy
//!   that drives it come next and slot in behind the same [`provider::Provider`] trait.
//!
//! What this crate does not own: requests. It never reads, forwards or answers one; the
//! proxy asks a fleet for a lease and reports nothing else back. Dependencies point
//! one way: `tidegate-config` ← `tidegate-scaler` ← `tidegate-proxy`.

pub mod fleet;
pub mod provider;

pub use fleet::{Fleet, FleetCounts, Instance, InstanceId, InstanceState, Lease, SlotWait};
