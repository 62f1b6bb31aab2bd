//! placeholder
pub mod schema;
pub mod units;
mod locate;
