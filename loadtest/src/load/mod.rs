//! `tidegate-loadtest`, the load generator: HTTP/1.1 or h2c load at a scheduled rate (open
//! loop) or as fast as answers come (closed loop), with latencies corrected for coordinated
//! omission, recorded per status and per priority class, and a timeline of the target's
//! scaling read from tidegate's admin API.
//!
//! How the parts fit: a [`scenario`] file and the command line's [`overrides`] make a
//! [`plan`]; [`mod@run`] opens a [`link`] per [`worker`], and each worker takes send slots from
//! the [`pacer`] (which follows the [`schedule`]), draws a class from the [`priority`] mix,
//! sends the [`target`]'s request and records the answer's [`latency`] into the shared
//! [`record`]er. Beside them, the [`sampler`] takes the timeline (reading the [`admin`]
//! API), and [`progress`] draws a line on stderr. At the end, [`report`] makes the JSON
//! report and the text summary, and [`chart`] draws the timeline as SVG and PNG.
//!
//! Not here: the synthetic upstream (`crate::function`) and any judgement of the numbers;
//! the scenarios say what to look at, the report only measures.

pub mod admin;
pub mod chart;
pub mod latency;
pub mod link;
pub mod overrides;
pub mod pacer;
pub mod plan;
pub mod priority;
pub mod progress;
pub mod record;
pub mod report;
pub mod run;
pub mod sampler;
pub mod scenario;
pub mod schedule;
pub mod target;
pub mod worker;

pub use overrides::Overrides;
pub use plan::Plan;
pub use report::Report;
pub use run::{Outcome, RunError, run};
pub use scenario::Scenario;
