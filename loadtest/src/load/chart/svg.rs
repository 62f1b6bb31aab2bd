//! The chart as SVG text: a white background, per panel a frame, grid lines at the ticks,
//! tick labels, a title, a legend and one polyline per run of each series.

use std::fmt::Write as _;

use super::layout::{Layout, drawing_order, layout, tick_label};
use super::{Chart, HEIGHT, WIDTH};

const AXIS: &str = "#444444";
const GRID: &str = "#e3e3e3";
const FONT: &str = "font-family=\"sans-serif\"";

/// Renders a chart as a standalone SVG document.
pub fn render(chart: &Chart) -> String {
    let layout = layout(chart);
    let mut out = String::with_capacity(64 * 1024);
    let _ = writeln!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\">"
    );
    let _ = writeln!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#ffffff\"/>"
    );
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"28\" {FONT} font-size=\"20\" font-weight=\"bold\" fill=\"#222222\">{}</text>",
        layout.panels.first().map_or(0.0, |p| p.plot.x),
        escape(&chart.title)
    );
    for index in 0..layout.panels.len() {
        panel(&mut out, &layout, index);
    }
    out.push_str("</svg>\n");
    out
}

fn panel(out: &mut String, layout: &Layout<'_>, index: usize) {
    let placed = &layout.panels[index];
    let plot = placed.plot;
    let bottom = plot.y + plot.h;
    let _ = writeln!(out, "<g class=\"panel\" id=\"panel-{index}\">");
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"15\" font-weight=\"bold\" fill=\"#222222\">{}</text>",
        plot.x,
        plot.y - 9.0,
        escape(placed.panel.title)
    );

    // Grid and tick labels: horizontal lines at the y ticks, vertical at the time ticks.
    for tick in &placed.y.ticks {
        let (_, y) = placed.position(&layout.x, 0.0, *tick);
        let _ = writeln!(
            out,
            "<line x1=\"{:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{GRID}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"12\" text-anchor=\"end\" fill=\"{AXIS}\">{}</text>",
            plot.x,
            plot.x + plot.w,
            plot.x - 6.0,
            y + 4.0,
            tick_label(*tick)
        );
    }
    for tick in &layout.x.ticks {
        let (x, _) = placed.position(&layout.x, *tick, 0.0);
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"{GRID}\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" {FONT} font-size=\"12\" text-anchor=\"middle\" fill=\"{AXIS}\">{}s</text>",
            plot.y,
            bottom + 17.0,
            tick_label(*tick)
        );
    }
    let _ = writeln!(
        out,
        "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"{AXIS}\"/>",
        plot.x, plot.y, plot.w, plot.h
    );

    // The series, then the legend beside the plot.
    // Measurements first, references (dashed) over them: a target that the measurement
    // meets exactly must still show.
    for series in drawing_order(&placed.panel.series) {
        let dash = if series.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        for line in placed.polylines(&layout.x, series) {
            let points: Vec<String> = line.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
            let _ = writeln!(
                out,
                "<polyline class=\"series\" data-series=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
                escape(series.name),
                series.color.hex(),
                points.join(" ")
            );
        }
    }
    for (i, series) in placed.panel.series.iter().enumerate() {
        let (x, y) = placed.legend_position(i);
        let dash = if series.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{}\" stroke-width=\"2\"{dash}/>\
             <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"13\" fill=\"#222222\">{}</text>",
            x + 24.0,
            series.color.hex(),
            x + 30.0,
            y + 4.5,
            escape(series.name)
        );
    }
    if !placed.has_data {
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"13\" text-anchor=\"middle\" fill=\"#999999\">{}</text>",
            plot.x + plot.w / 2.0,
            plot.y + plot.h / 2.0,
            escape(placed.panel.empty_note)
        );
    }
    out.push_str("</g>\n");
}

/// Escapes text for XML content and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }
}
