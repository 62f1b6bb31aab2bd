//! The plain-text summary printed when a run ends: what was sent and answered, at what
//! rate, and a table of latency percentiles overall, per status and per priority class.

use std::fmt::Write as _;

use super::{Report, Summary};

/// The summary of a report, as printed on stdout.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let name = report
        .scenario
        .as_deref()
        .map(|n| format!("{n}: "))
        .unwrap_or_default();
    let shape = if report.mode == "open" {
        let segments: Vec<String> = report
            .schedule
            .iter()
            .map(|s| {
                if s.from == s.to {
                    format!("{}s@{}", s.duration_s, s.from)
                } else {
                    format!("{}s@{}..{}", s.duration_s, s.from, s.to)
                }
            })
            .collect();
        format!("open loop ({})", segments.join(","))
    } else {
        "closed loop".to_owned()
    };
    let streams = if report.streams > 1 {
        format!(" × {} streams", report.streams)
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "{}: {name}{shape}, {}, {} connections{streams}",
        super::TOOL,
        report.target.protocol,
        report.connections
    );
    let _ = writeln!(
        out,
        "target     {} {} (host {})",
        report.target.method, report.target.url, report.target.host
    );
    if !report.priorities.is_empty() {
        let _ = writeln!(out, "priorities {}", report.priorities);
    }
    let _ = writeln!(out, "duration   {:.2}s", report.duration_s);
    let r = &report.requests;
    let _ = writeln!(
        out,
        "requests   {} sent, {} answered ({} with status >= 400), {} errors, {} missed",
        r.sent, r.answered, r.failed_status, r.errors, r.missed
    );
    let _ = writeln!(
        out,
        "rate       {:.1} req/s offered, {:.1} req/s answered",
        report.offered_rps, report.throughput_rps
    );

    let _ = writeln!(
        out,
        "\nlatency, corrected for coordinated omission (ms):\n{:<18}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "", "count", "p50", "p90", "p99", "p99.9", "max"
    );
    row(&mut out, "all", &report.latency);
    for (status, summary) in &report.by_status {
        row(&mut out, &format!("status {status}"), summary);
    }
    // Classes in the mix's order (most urgent first, as usually written), not the map's.
    let mix_order = report
        .priorities
        .split(',')
        .filter_map(|part| part.split_once('=').map(|(name, _)| name));
    for class in mix_order {
        if let Some(figures) = report.by_class.get(class) {
            row(&mut out, &format!("class {class}"), &figures.latency);
        }
    }
    row(&mut out, "service time", &report.service_time);
    row(&mut out, "generator wait", &report.generator_wait);

    if !report.errors.is_empty() {
        let kinds: Vec<String> = report
            .errors
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect();
        let _ = writeln!(out, "\nerrors     {}", kinds.join(", "));
    }
    if r.missed > 0 {
        let _ = writeln!(
            out,
            "missed     {} requests were due but never sent: every connection was busy; \
             their wait is not in the percentiles, so add connections",
            r.missed
        );
    }
    if let Some(admin) = &report.admin {
        let _ = write!(
            out,
            "\nadmin      {} samples of {} from {}, {} failed",
            admin.samples, admin.function, admin.address, admin.failures
        );
        match &admin.first_error {
            Some(error) => {
                let _ = writeln!(out, " (first: {error})");
            }
            None => out.push('\n'),
        }
    }
    out
}

/// One line of the table; the percentiles adapt their precision to their size.
fn row(out: &mut String, label: &str, summary: &Summary) {
    let cell = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), format_ms);
    let _ = writeln!(
        out,
        "{label:<18}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}",
        summary.count,
        cell(summary.p50_ms),
        cell(summary.p90_ms),
        cell(summary.p99_ms),
        cell(summary.p999_ms),
        cell(summary.max_ms),
    );
}

/// Milliseconds with three significant digits or so: `0.123`, `4.56`, `78.9`, `1234`.
pub fn format_ms(ms: f64) -> String {
    match ms {
        ms if ms < 1.0 => format!("{ms:.3}"),
        ms if ms < 10.0 => format!("{ms:.2}"),
        ms if ms < 100.0 => format!("{ms:.1}"),
        ms => format!("{ms:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_keep_three_digits() {
        assert_eq!(format_ms(0.1234), "0.123");
        assert_eq!(format_ms(4.567), "4.57");
        assert_eq!(format_ms(78.91), "78.9");
        assert_eq!(format_ms(1234.5), "1234");
    }
}
