//! Checks of `[functions.NAME.scaling]`: bounds, targets and windows the policy can act on.

use super::{Issues, positive_duration};
use crate::locate::KeyPath;
use crate::schema::{CustomMetric, Scaling};

pub(super) fn check(scaling: &Scaling, path: &KeyPath, issues: &mut Issues) {
    if scaling.max_instances == 0 {
        issues.add(
            &path.key("max_instances"),
            "must be at least 1; to scale to zero, set `min_instances = 0` instead",
        );
    } else if scaling.min_instances > scaling.max_instances {
        issues.add(
            &path.key("min_instances"),
            format!(
                "{} is above `max_instances` ({}); lower `min_instances` or raise `max_instances`",
                scaling.min_instances, scaling.max_instances
            ),
        );
    }

    if !positive(scaling.target_concurrency) {
        issues.add(
            &path.key("target_concurrency"),
            "must be above zero, like 10",
        );
    }
    // NaN fails `>=` too, which is the point of writing it this way round.
    if !(scaling.panic_threshold >= 1.0 && scaling.panic_threshold.is_finite()) {
        issues.add(
            &path.key("panic_threshold"),
            "must be at least 1.0, like 2.0 (panic when the short-window desire doubles)",
        );
    }

    positive_duration(scaling.tick, &path.key("tick"), "1s", issues);
    positive_duration(
        scaling.stable_window,
        &path.key("stable_window"),
        "60s",
        issues,
    );
    positive_duration(
        scaling.panic_window,
        &path.key("panic_window"),
        "6s",
        issues,
    );
    if scaling.panic_window > scaling.stable_window {
        issues.add(
            &path.key("panic_window"),
            format!(
                "{} is longer than `stable_window` ({}); the panic window is the short one, like 6s against 60s",
                crate::units::format_duration(scaling.panic_window),
                crate::units::format_duration(scaling.stable_window)
            ),
        );
    }

    for (key, target) in [
        ("target_rps", scaling.target_rps),
        ("target_cpu_percent", scaling.target_cpu_percent),
        ("target_memory_percent", scaling.target_memory_percent),
        ("target_queue_depth", scaling.target_queue_depth),
    ] {
        if target.is_some_and(|target| !positive(target)) {
            issues.add(
                &path.key(key),
                "must be above zero when set; remove it to not scale on it",
            );
        }
    }
    if let Some(custom) = &scaling.custom {
        check_custom(custom, &path.key("custom"), issues);
    }
}

fn check_custom(custom: &CustomMetric, path: &KeyPath, issues: &mut Issues) {
    if !custom.path.starts_with('/') {
        issues.add(
            &path.key("path"),
            format!(r#"`{}` must start with '/', like "/metrics""#, custom.path),
        );
    }
    if !is_metric_name(&custom.metric) {
        issues.add(
            &path.key("metric"),
            format!(
                "`{}` is not a Prometheus metric name: letters, digits, '_' and ':', not starting with a digit, like \"jobs_pending\"",
                custom.metric
            ),
        );
    }
    if !positive(custom.target) {
        issues.add(&path.key("target"), "must be above zero, like 5");
    }
}

/// A finite number above zero; NaN and infinity are TOML values too.
fn positive(value: f64) -> bool {
    value > 0.0 && value.is_finite()
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the Prometheus metric name syntax.
fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}
