//! Charts of the timeline, the picture an operator wants of a scale-up: offered load and
//! throughput, latency percentiles, instances ready and starting, and queue depth, stacked
//! over one time axis.
//!
//! How the parts fit: [`Chart::of`] turns the timeline into panels of series; [`layout`]
//! places them and picks the axes' ticks; [`svg`] writes that layout as SVG text, and
//! [`raster`] draws the same layout into an RGB buffer (with the tiny bitmap [`font`]) and
//! encodes it as PNG. Both are drawn by hand: a plotting crate would bring fonts, a
//! renderer and dozens of dependencies for a few polylines.

pub mod font;
pub mod layout;
pub mod raster;
pub mod svg;

use std::path::Path;

use thiserror::Error;

use super::sampler::Point;

/// Width of both images, pixels.
pub const WIDTH: u32 = 1200;
/// Height of both images, pixels.
pub const HEIGHT: u32 = 1000;

/// Charts that could not be written.
#[derive(Debug, Error)]
pub enum ChartError {
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// Which file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The PNG encoder failed.
    #[error("cannot encode the PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// A colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// One line of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its name in the legend.
    pub name: &'static str,
    /// Its colour.
    pub color: Rgb,
    /// Drawn dashed: a reference (a target, a desire) rather than a measurement.
    pub dashed: bool,
    /// `(t, value)`; a `None` value breaks the line (no data in that interval).
    pub points: Vec<(f64, Option<f64>)>,
}

/// One panel: a y axis and its series.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Its title, with the unit.
    pub title: &'static str,
    /// Series drawn in it.
    pub series: Vec<Series>,
    /// Said in the panel when no series has a value.
    pub empty_note: &'static str,
}

/// The whole chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// The heading.
    pub title: String,
    /// Panels, top to bottom.
    pub panels: Vec<Panel>,
    /// The end of the time axis, seconds.
    pub t_max: f64,
}

const BLUE: Rgb = Rgb(0x1f, 0x77, 0xb4);
const GREEN: Rgb = Rgb(0x2c, 0xa0, 0x2c);
const ORANGE: Rgb = Rgb(0xff, 0x7f, 0x0e);
const RED: Rgb = Rgb(0xd6, 0x27, 0x28);
const PURPLE: Rgb = Rgb(0x94, 0x67, 0xbd);
const GREY: Rgb = Rgb(0x7f, 0x7f, 0x7f);

impl Chart {
    /// The standard four panels of a timeline.
    pub fn of(title: &str, points: &[Point]) -> Self {
        let series = |name, color, dashed, value: &dyn Fn(&Point) -> Option<f64>| Series {
            name,
            color,
            dashed,
            points: points.iter().map(|p| (p.t, value(p))).collect(),
        };
        let function = |read: fn(&super::admin::FunctionSample) -> u64| {
            move |p: &Point| p.function.as_ref().map(|f| read(f) as f64)
        };

        let load = Panel {
            title: "load (req/s)",
            series: vec![
                series("target", GREY, true, &|p| p.target_rps),
                series("offered", BLUE, false, &|p| Some(p.offered_rps)),
                series("answered", GREEN, false, &|p| Some(p.throughput_rps)),
                series("errors", RED, false, &|p| {
                    Some(p.errors as f64 / p.interval)
                }),
            ],
            empty_note: "no requests",
        };
        let latency = Panel {
            title: "latency (ms)",
            series: vec![
                series("p50", BLUE, false, &|p| p.p50_ms),
                series("p99", ORANGE, false, &|p| p.p99_ms),
            ],
            empty_note: "no answers",
        };
        let instances = Panel {
            title: "instances",
            series: vec![
                series("desired", GREY, true, &function(|f| f.desired)),
                series("ready", GREEN, false, &function(|f| f.instances.ready)),
                series(
                    "starting",
                    ORANGE,
                    false,
                    &function(|f| f.instances.starting),
                ),
                series(
                    "draining",
                    PURPLE,
                    false,
                    &function(|f| f.instances.draining),
                ),
            ],
            empty_note: "no admin samples (--admin, --function)",
        };
        let queue = Panel {
            title: "queue (requests)",
            series: vec![
                series("queued", RED, false, &function(|f| f.queued)),
                series("in flight", BLUE, false, &function(|f| f.in_flight)),
                series("generator backlog", GREY, true, &|p| Some(p.backlog as f64)),
            ],
            empty_note: "no queue samples",
        };

        let t_max = points.iter().map(|p| p.t).fold(0.0, f64::max);
        Self {
            title: title.to_owned(),
            panels: vec![load, latency, instances, queue],
            t_max,
        }
    }
}

/// Writes `timeline.svg` and `timeline.png` into `dir`, creating it if needed.
pub fn write(dir: &Path, chart: &Chart) -> Result<(), ChartError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| ChartError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let svg_path = dir.join("timeline.svg");
    std::fs::write(&svg_path, svg::render(chart)).map_err(io(&svg_path))?;
    let png_path = dir.join("timeline.png");
    let png = raster::render(chart).encode_png()?;
    std::fs::write(&png_path, png).map_err(io(&png_path))?;
    Ok(())
}
