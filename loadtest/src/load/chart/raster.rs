//! The chart as pixels: the same layout as the SVG drawn into an RGB buffer with lines,
//! rectangles and the built-in bitmap font, then encoded as PNG.
//!
//! Lines are Bresenham's, two pixels thick; there is no anti-aliasing, which a chart of
//! straight segments on a white background does without.

use std::io;

use super::font::{ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyph, text_width};
use super::layout::{PanelLayout, drawing_order, layout, tick_label};
use super::{Chart, HEIGHT, Rgb, WIDTH};

const WHITE: Rgb = Rgb(0xff, 0xff, 0xff);
const INK: Rgb = Rgb(0x22, 0x22, 0x22);
const AXIS: Rgb = Rgb(0x44, 0x44, 0x44);
const GRID: Rgb = Rgb(0xe3, 0xe3, 0xe3);
const NOTE: Rgb = Rgb(0x99, 0x99, 0x99);

/// Font pixels per image pixel for labels.
const TEXT_SCALE: u32 = 2;
/// Dashes: pixels on, then pixels off.
const DASH: (u32, u32) = (7, 5);

/// An RGB image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A canvas filled with `background`.
    pub fn new(width: u32, height: u32, background: Rgb) -> Self {
        let pixels = [background.0, background.1, background.2].repeat((width * height) as usize);
        Self {
            width,
            height,
            pixels,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The colour at `(x, y)`.
    pub fn pixel(&self, x: u32, y: u32) -> Rgb {
        let i = ((y * self.width + x) * 3) as usize;
        Rgb(self.pixels[i], self.pixels[i + 1], self.pixels[i + 2])
    }

    /// Sets one pixel; outside the canvas, nothing happens.
    pub fn set(&mut self, x: i64, y: i64, color: Rgb) {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return;
        }
        let i = ((y as u32 * self.width + x as u32) * 3) as usize;
        self.pixels[i..i + 3].copy_from_slice(&[color.0, color.1, color.2]);
    }

    /// Fills a rectangle.
    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, color: Rgb) {
        for py in y..y + h {
            for px in x..x + w {
                self.set(px, py, color);
            }
        }
    }

    /// Draws a line `thickness` pixels wide, dashed if asked.
    pub fn line(
        &mut self,
        from: (f64, f64),
        to: (f64, f64),
        color: Rgb,
        thickness: i64,
        dashed: bool,
    ) {
        let (mut x, mut y) = (from.0.round() as i64, from.1.round() as i64);
        let (x1, y1) = (to.0.round() as i64, to.1.round() as i64);
        let (dx, dy) = ((x1 - x).abs(), -(y1 - y).abs());
        let (sx, sy) = ((x1 - x).signum(), (y1 - y).signum());
        let mut error = dx + dy;
        let mut step = 0_u32;
        loop {
            if !dashed || step % (DASH.0 + DASH.1) < DASH.0 {
                self.fill_rect(x, y, thickness, thickness, color);
            }
            if x == x1 && y == y1 {
                break;
            }
            let doubled = 2 * error;
            if doubled >= dy {
                error += dy;
                x += sx;
            }
            if doubled <= dx {
                error += dx;
                y += sy;
            }
            step += 1;
        }
    }

    /// Writes `text` with its top-left corner at `(x, y)`, each font pixel `scale` wide.
    pub fn text(&mut self, x: i64, y: i64, text: &str, color: Rgb, scale: u32) {
        let scale = i64::from(scale);
        for (i, c) in text.chars().enumerate() {
            let left = x + i as i64 * i64::from(ADVANCE) * scale;
            for (row, bits) in glyph(c).iter().enumerate() {
                for column in 0..GLYPH_WIDTH {
                    if bits & (1 << (GLYPH_WIDTH - 1 - column)) != 0 {
                        let px = left + i64::from(column) * scale;
                        let py = y + row as i64 * scale;
                        self.fill_rect(px, py, scale, scale, color);
                    }
                }
            }
        }
    }

    /// The image as a PNG file.
    pub fn encode_png(&self) -> Result<Vec<u8>, png::EncodingError> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(io::Cursor::new(&mut out), self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer.finish()?;
        Ok(out)
    }
}

/// Draws a chart.
pub fn render(chart: &Chart) -> Canvas {
    let layout = layout(chart);
    let mut canvas = Canvas::new(WIDTH, HEIGHT, WHITE);
    let left = layout.panels.first().map_or(0.0, |p| p.plot.x) as i64;
    canvas.text(left, 10, &chart.title, INK, 3);
    for placed in &layout.panels {
        panel(&mut canvas, placed, &layout.x);
    }
    canvas
}

fn panel(canvas: &mut Canvas, placed: &PanelLayout<'_>, x_axis: &super::layout::Axis) {
    let plot = placed.plot;
    let (px, py, pw, ph) = (plot.x, plot.y, plot.w, plot.h);
    let text_height = i64::from(GLYPH_HEIGHT * TEXT_SCALE);
    let width_of = |text: &str| i64::from(text_width(text) * TEXT_SCALE);
    canvas.text(
        px as i64,
        py as i64 - text_height - 7,
        placed.panel.title,
        INK,
        TEXT_SCALE,
    );

    for tick in &placed.y.ticks {
        let (_, y) = placed.position(x_axis, 0.0, *tick);
        canvas.line((px, y), (px + pw, y), GRID, 1, false);
        let label = tick_label(*tick);
        let x = px as i64 - 8 - width_of(&label);
        canvas.text(x, y as i64 - text_height / 2, &label, AXIS, TEXT_SCALE);
    }
    for tick in &x_axis.ticks {
        let (x, _) = placed.position(x_axis, *tick, 0.0);
        canvas.line((x, py), (x, py + ph), GRID, 1, false);
        let label = format!("{}s", tick_label(*tick));
        let left = x as i64 - width_of(&label) / 2;
        canvas.text(left, (py + ph) as i64 + 10, &label, AXIS, TEXT_SCALE);
    }
    for (from, to) in [
        ((px, py), (px + pw, py)),
        ((px + pw, py), (px + pw, py + ph)),
        ((px + pw, py + ph), (px, py + ph)),
        ((px, py + ph), (px, py)),
    ] {
        canvas.line(from, to, AXIS, 1, false);
    }

    // Measurements first, references (dashed) over them, as in the SVG.
    for series in drawing_order(&placed.panel.series) {
        for line in placed.polylines(x_axis, series) {
            if let [only] = line[..] {
                canvas.fill_rect(only.0 as i64 - 1, only.1 as i64 - 1, 3, 3, series.color);
            }
            for pair in line.windows(2) {
                canvas.line(pair[0], pair[1], series.color, 2, series.dashed);
            }
        }
    }
    for (i, series) in placed.panel.series.iter().enumerate() {
        let (x, y) = placed.legend_position(i);
        canvas.line((x, y), (x + 24.0, y), series.color, 2, series.dashed);
        let top = y as i64 - text_height / 2;
        canvas.text(x as i64 + 32, top, series.name, INK, TEXT_SCALE);
    }
    if !placed.has_data {
        let note = placed.panel.empty_note;
        let x = (px + pw / 2.0) as i64 - width_of(note) / 2;
        canvas.text(
            x,
            (py + ph / 2.0) as i64 - text_height / 2,
            note,
            NOTE,
            TEXT_SCALE,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_text_land_where_asked() {
        let mut canvas = Canvas::new(40, 20, WHITE);
        canvas.line((0.0, 0.0), (39.0, 0.0), INK, 1, false);
        assert_eq!(canvas.pixel(0, 0), INK);
        assert_eq!(canvas.pixel(39, 0), INK);
        assert_eq!(canvas.pixel(0, 1), WHITE);

        canvas.line((0.0, 5.0), (39.0, 5.0), INK, 1, true);
        assert_eq!(canvas.pixel(0, 5), INK);
        assert_eq!(canvas.pixel(DASH.0, 5), WHITE);

        // "I" has a full-width top bar from column 1 to 3.
        canvas.text(10, 10, "I", INK, 1);
        assert_eq!(canvas.pixel(11, 10), INK);
        assert_eq!(canvas.pixel(10, 10), WHITE);
        // Drawing off the canvas is clipped, not a panic.
        canvas.line((-10.0, -10.0), (100.0, 100.0), INK, 2, false);
    }
}
