//! The timeline charts: the SVG is well-formed XML carrying every series, the PNG decodes
//! at the promised size and has something drawn on it.

use std::collections::HashMap;

use tidegate_loadtest::load::admin::{FunctionSample, Instances};
use tidegate_loadtest::load::chart::{self, Chart, HEIGHT, WIDTH};
use tidegate_loadtest::load::sampler::Point;

use crate::support::scratch;

/// A scale-up: load steps up at 2 s, instances start and become ready, the queue drains.
fn scale_up() -> Vec<Point> {
    (1..=40)
        .map(|i| {
            let t = f64::from(i) * 0.25;
            let loaded = t >= 2.0;
            let ready = if loaded {
                ((t - 2.0) * 4.0).min(20.0) as u64
            } else {
                0
            };
            Point {
                t,
                interval: 0.25,
                target_rps: Some(if loaded { 400.0 } else { 0.0 }),
                offered_rps: if loaded { 398.0 } else { 0.0 },
                throughput_rps: if loaded { 20.0 * ready as f64 } else { 0.0 },
                errors: 0,
                p50_ms: loaded.then_some(500.0 + 100.0 * (20 - ready) as f64),
                p99_ms: loaded.then_some(900.0 + 150.0 * (20 - ready) as f64),
                backlog: 0,
                function: Some(FunctionSample {
                    instances: Instances {
                        starting: if loaded { 20 - ready } else { 0 },
                        ready,
                        draining: 0,
                    },
                    queued: if loaded { 40 * (20 - ready) } else { 0 },
                    in_flight: 10 * ready,
                    desired: if loaded { 20 } else { 0 },
                }),
            }
        })
        .collect()
}

/// Checks that tags open and close in order: enough to catch a broken writer without an
/// XML parser.
fn assert_balanced(svg: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("every tag closes") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.ends_with('/') {
            continue;
        }
        let name = |t: &str| t.split_whitespace().next().unwrap_or("").to_owned();
        if let Some(closing) = tag.strip_prefix('/') {
            let open = stack.pop().expect("a closing tag has an opening one");
            assert_eq!(name(open), closing, "tags cross");
        } else {
            stack.push(tag);
        }
        assert!(!tag.contains('<'), "a tag holds a stray <: {tag}");
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
}

#[test]
fn the_svg_is_well_formed_and_carries_every_series() {
    let dir = scratch("charts-svg");
    chart::write(&dir, &Chart::of("scale-up <test> & co", &scale_up()))
        .expect("charts are written");
    let svg = std::fs::read_to_string(dir.join("timeline.svg")).expect("timeline.svg exists");

    assert!(svg.starts_with("<?xml"));
    assert!(svg.contains(&format!("viewBox=\"0 0 {WIDTH} {HEIGHT}\"")));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_balanced(&svg);
    assert!(
        svg.contains("scale-up &lt;test&gt; &amp; co"),
        "the title is escaped"
    );

    let mut lines: HashMap<&str, usize> = HashMap::new();
    for series in [
        "offered",
        "answered",
        "target",
        "p50",
        "p99",
        "ready",
        "starting",
        "desired",
        "queued",
        "in flight",
    ] {
        let needle = format!("data-series=\"{series}\"");
        lines.insert(series, svg.matches(&needle).count());
        let polyline = svg
            .lines()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no polyline for {series}"));
        let points = polyline
            .split("points=\"")
            .nth(1)
            .expect("a points attribute");
        let count = points.split_whitespace().count();
        assert!(count >= 2, "{series} has {count} points");
    }
    // p50 is missing before the load starts, so its line begins later but is one run.
    assert_eq!(lines["p50"], 1);
    for panel in [
        "load (req/s)",
        "latency (ms)",
        "instances",
        "queue (requests)",
    ] {
        assert!(svg.contains(panel), "the {panel} panel has a title");
    }
}

#[test]
fn the_png_decodes_at_the_promised_size() {
    let dir = scratch("charts-png");
    chart::write(&dir, &Chart::of("scale-up", &scale_up())).expect("charts are written");
    let file = std::fs::File::open(dir.join("timeline.png")).expect("timeline.png exists");
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("a PNG header");
    let info = reader.info();
    assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
    assert_eq!(info.color_type, png::ColorType::Rgb);

    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
    reader.next_frame(&mut pixels).expect("the image decodes");
    let colours: std::collections::HashSet<&[u8]> = pixels.chunks(3).collect();
    // White, the frame, the grid, the text and several series colours.
    assert!(colours.len() >= 6, "only {} colours drawn", colours.len());
    assert!(
        colours.contains(&[0x2c, 0xa0, 0x2c][..]),
        "the ready line (green) is drawn"
    );
}

#[test]
fn an_empty_timeline_still_makes_both_charts() {
    let dir = scratch("charts-empty");
    chart::write(&dir, &Chart::of("nothing", &[])).expect("charts are written");
    let svg = std::fs::read_to_string(dir.join("timeline.svg")).unwrap();
    assert_balanced(&svg);
    assert!(svg.contains("no admin samples"));
    assert!(dir.join("timeline.png").exists());
}
