//! The response cache: an RFC 9111 shared cache in front of each function.
pub mod control;
pub mod freshness;
pub mod key;
