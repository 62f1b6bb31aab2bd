//! Where everything goes, in pixels, shared by the SVG and PNG renderers so the two
//! pictures match: the panels' rectangles, the axes' ranges and ticks, the legend, and
//! each series as polylines broken where data is missing.

use super::{Chart, HEIGHT, Panel, Series, WIDTH};

/// Height of the heading above the panels.
const TITLE_HEIGHT: f64 = 44.0;
/// Space left of each plot for the y tick labels.
const LEFT: f64 = 76.0;
/// Space right of each plot for the legend.
const RIGHT: f64 = 260.0;
/// Space above each plot for its title.
const PANEL_TOP: f64 = 28.0;
/// Space below each plot for the x tick labels.
const PANEL_BOTTOM: f64 = 30.0;
/// Space below the last panel.
const BOTTOM: f64 = 16.0;

/// A rectangle in pixels, y growing downwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width.
    pub w: f64,
    /// Height.
    pub h: f64,
}

/// An axis from 0 to `max`, with ticks at round values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// The top of the range.
    pub max: f64,
    /// Where the ticks go, from 0 to `max`.
    pub ticks: Vec<f64>,
}

/// One panel, placed.
#[derive(Debug, Clone)]
pub struct PanelLayout<'a> {
    /// What it shows.
    pub panel: &'a Panel,
    /// The plot area.
    pub plot: Rect,
    /// Its y axis.
    pub y: Axis,
    /// Whether any series has a value.
    pub has_data: bool,
}

/// The whole chart, placed.
#[derive(Debug, Clone)]
pub struct Layout<'a> {
    /// The chart.
    pub chart: &'a Chart,
    /// The shared time axis, seconds.
    pub x: Axis,
    /// The panels, top to bottom.
    pub panels: Vec<PanelLayout<'a>>,
}

/// Places a chart.
pub fn layout(chart: &Chart) -> Layout<'_> {
    let count = chart.panels.len().max(1) as f64;
    let panel_height = (f64::from(HEIGHT) - TITLE_HEIGHT - BOTTOM) / count;
    let panels = chart
        .panels
        .iter()
        .enumerate()
        .map(|(i, panel)| {
            let top = TITLE_HEIGHT + i as f64 * panel_height;
            let max = panel
                .series
                .iter()
                .flat_map(|s| s.points.iter().filter_map(|(_, v)| *v))
                .fold(f64::NAN, f64::max);
            PanelLayout {
                panel,
                plot: Rect {
                    x: LEFT,
                    y: top + PANEL_TOP,
                    w: f64::from(WIDTH) - LEFT - RIGHT,
                    h: panel_height - PANEL_TOP - PANEL_BOTTOM,
                },
                y: axis(if max.is_nan() { 0.0 } else { max }),
                has_data: !max.is_nan(),
            }
        })
        .collect();
    Layout {
        chart,
        x: axis(chart.t_max),
        panels,
    }
}

impl PanelLayout<'_> {
    /// The pixel position of `(t, value)`.
    pub fn position(&self, x: &Axis, t: f64, value: f64) -> (f64, f64) {
        let plot = self.plot;
        (
            plot.x + plot.w * (t / x.max).clamp(0.0, 1.0),
            plot.y + plot.h * (1.0 - (value / self.y.max).clamp(0.0, 1.0)),
        )
    }

    /// A series as polylines in pixels, one per run of consecutive values.
    pub fn polylines(&self, x: &Axis, series: &Series) -> Vec<Vec<(f64, f64)>> {
        let mut lines = Vec::new();
        let mut current = Vec::new();
        for (t, value) in &series.points {
            match value {
                Some(value) => current.push(self.position(x, *t, *value)),
                None if !current.is_empty() => lines.push(std::mem::take(&mut current)),
                None => {}
            }
        }
        if !current.is_empty() {
            lines.push(current);
        }
        lines
    }

    /// Where legend entry `index` goes: the start of its sample line.
    pub fn legend_position(&self, index: usize) -> (f64, f64) {
        (
            self.plot.x + self.plot.w + 16.0,
            self.plot.y + 10.0 + 22.0 * index as f64,
        )
    }
}

/// The series in the order to draw them: solid (measured) ones, then dashed (reference)
/// ones on top.
pub fn drawing_order(series: &[Series]) -> impl Iterator<Item = &Series> {
    let solid = series.iter().filter(|s| !s.dashed);
    solid.chain(series.iter().filter(|s| s.dashed))
}

/// An axis from 0 to at least `max`, with four to ten ticks at 1, 2, 2.5 or 5 × 10ⁿ.
pub fn axis(max: f64) -> Axis {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let rough = max / 5.0;
    let magnitude = 10_f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude);
    let top = (max / step - 1e-9).ceil() * step;
    let ticks = (0..)
        .map(|i| i as f64 * step)
        .take_while(|t| *t <= top + step * 1e-9)
        .collect();
    Axis { max: top, ticks }
}

/// A tick value as printed: `0`, `2.5`, `1500`, `20k`.
pub fn tick_label(value: f64) -> String {
    if value >= 10_000.0 {
        return format!("{}k", trim(value / 1000.0));
    }
    trim(value)
}

fn trim(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        let empty = axis(0.0);
        assert_eq!(empty.max, 1.0);
        let labels: Vec<String> = empty.ticks.iter().map(|t| tick_label(*t)).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        let a = axis(2000.0);
        assert_eq!(a.max, 2000.0);
        assert_eq!(a.ticks, [0.0, 500.0, 1000.0, 1500.0, 2000.0]);
        let a = axis(23.0);
        assert_eq!(a.max, 25.0);
        assert_eq!(a.ticks, [0.0, 5.0, 10.0, 15.0, 20.0, 25.0]);
        let a = axis(97.3);
        assert_eq!(a.max, 100.0);
        assert!(a.ticks.len() >= 4 && a.ticks.len() <= 11);
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(2.5), "2.5");
        assert_eq!(tick_label(1500.0), "1500");
        assert_eq!(tick_label(20_000.0), "20k");
        assert_eq!(tick_label(0.6000000000000001), "0.6");
    }
}
