//! The progress line on stderr: one line redrawn four times a second while the run goes,
//! erased when it ends. Drawn only when stderr is a terminal, so logs and CI output stay
//! clean.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::record::Recorder;
use super::sampler::Point;

/// How often the line is redrawn.
const REFRESH: Duration = Duration::from_millis(250);

/// Whether a progress line would be seen.
pub fn wanted() -> bool {
    std::io::stderr().is_terminal()
}

/// Redraws the line until `stop` fires, then erases it.
pub async fn show(
    recorder: Arc<Recorder>,
    latest: watch::Receiver<Option<Point>>,
    start: Instant,
    length: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(REFRESH);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut stop => break,
        }
        let (sent, answered, errors) = recorder.counts();
        let line = format_line(
            start.elapsed(),
            length,
            (sent, answered, errors),
            latest.borrow().as_ref(),
        );
        let mut stderr = std::io::stderr().lock();
        // \r and "erase line" redraw in place; a failed write only loses a frame.
        let _ = write!(stderr, "\r\x1b[2K{line}");
        let _ = stderr.flush();
    }
    let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
}

/// The text of the line: elapsed time, counts, and the latest sample's figures.
pub fn format_line(
    elapsed: Duration,
    length: Duration,
    (sent, answered, errors): (u64, u64, u64),
    latest: Option<&Point>,
) -> String {
    let mut line = format!(
        "{:6.1}s/{:.1}s  sent {sent}  ok {answered}  err {errors}",
        elapsed.as_secs_f64(),
        length.as_secs_f64()
    );
    if let Some(point) = latest {
        line.push_str(&format!("  {:.0} req/s", point.throughput_rps));
        if let Some(p99) = point.p99_ms {
            line.push_str(&format!("  p99 {p99:.1}ms"));
        }
        if point.backlog > 0 {
            line.push_str(&format!("  backlog {}", point.backlog));
        }
        if let Some(function) = &point.function {
            line.push_str(&format!(
                "  ready {} starting {} queued {}",
                function.instances.ready, function.instances.starting, function.queued
            ));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_counts_and_the_latest_sample() {
        let point = Point {
            t: 1.0,
            interval: 0.25,
            target_rps: Some(100.0),
            offered_rps: 100.0,
            throughput_rps: 98.0,
            errors: 0,
            p50_ms: Some(1.0),
            p99_ms: Some(4.0),
            backlog: 3,
            function: None,
        };
        let line = format_line(
            Duration::from_millis(1500),
            Duration::from_secs(10),
            (150, 148, 1),
            Some(&point),
        );
        assert_eq!(
            line,
            "   1.5s/10.0s  sent 150  ok 148  err 1  98 req/s  p99 4.0ms  backlog 3"
        );
    }
}
