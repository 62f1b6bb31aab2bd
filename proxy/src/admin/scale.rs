//! Manual scaling through the admin API: reading `POST /v1/functions/{name}/scale` bodies
//! and showing the override in force.
//!
//! Two shapes are accepted, exactly as DESIGN.md names them:
//!
//! - `{"instances": N}` pins the count; the policy, its delays and its rates are bypassed.
//! - `{"min_instances": a, "max_instances": b}` (either or both) replaces the bounds the
//!   policy works within.
//!
//! Anything else is a 400 that says what was wrong.

use serde_json::{Map, Value, json};
use tidegate_scaler::Manual;

use crate::error::ProxyError;
use crate::state::FunctionRuntime;

/// The most instances an operator may ask for at once: a guard against a typo starting
/// thousands of processes on one machine.
pub(super) const MAX_MANUAL_INSTANCES: u32 = 10_000;

/// Reads a scale request body.
pub(super) fn parse(body: &[u8], function: &FunctionRuntime) -> Result<Manual, ProxyError> {
    let invalid = |message: String| ProxyError::InvalidBody(message);
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        invalid(format!(
            r#"the body is not JSON ({error}); send {{"instances": N}} or {{"min_instances": a, "max_instances": b}}"#
        ))
    })?;
    let Value::Object(fields) = value else {
        return Err(invalid(
            r#"the body must be a JSON object, like {"instances": 3}"#.into(),
        ));
    };
    if let Some(key) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "instances" | "min_instances" | "max_instances"))
    {
        return Err(invalid(format!(
            "unknown key `{key}`; the keys are `instances`, or `min_instances` and `max_instances`"
        )));
    }
    let instances = count(&fields, "instances")?;
    let min = count(&fields, "min_instances")?;
    let max = count(&fields, "max_instances")?;
    match (instances, min, max) {
        (Some(n), None, None) => Ok(Manual::Pin(n)),
        (Some(_), _, _) => Err(invalid(
            "`instances` pins the count and cannot be combined with `min_instances` or `max_instances`".into(),
        )),
        (None, None, None) => Err(invalid(format!(
            r#"nothing to do for `{}`: send {{"instances": N}} or {{"min_instances": a, "max_instances": b}}; DELETE returns to the policy"#,
            function.name
        ))),
        (None, Some(min), Some(max)) if min > max => Err(invalid(format!(
            "`min_instances` ({min}) is above `max_instances` ({max})"
        ))),
        (None, min, max) => Ok(Manual::Bounds { min, max }),
    }
}

/// A whole number of instances under `key`, if present.
fn count(fields: &Map<String, Value>, key: &str) -> Result<Option<u32>, ProxyError> {
    let Some(value) = fields.get(key) else {
        return Ok(None);
    };
    match value.as_u64() {
        Some(n) if n <= u64::from(MAX_MANUAL_INSTANCES) => Ok(Some(n as u32)),
        Some(n) => Err(ProxyError::InvalidBody(format!(
            "`{key}` is {n}; at most {MAX_MANUAL_INSTANCES} instances can be asked for"
        ))),
        None => Err(ProxyError::InvalidBody(format!(
            "`{key}` must be a whole number of instances, 0 or more, not {value}"
        ))),
    }
}

/// The override as the admin API shows it; `null` when the policy is in charge.
pub(super) fn manual_json(manual: Option<Manual>) -> Value {
    match manual {
        None => Value::Null,
        Some(Manual::Pin(n)) => json!({ "instances": n }),
        Some(Manual::Bounds { min, max }) => json!({ "min_instances": min, "max_instances": max }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tidegate_scaler::Fleet;
    use tidegate_scaler::provider::StaticProvider;

    fn function() -> FunctionRuntime {
        FunctionRuntime {
            name: Arc::from("hello"),
            fleet: Arc::new(Fleet::new("hello", 0)),
            provider: Arc::new(StaticProvider::new(Vec::new())),
            queue: Arc::new(crate::queue::Queue::new(
                Arc::from("hello"),
                &toml::from_str("").expect("the default queue table"),
            )),
            scale: None,
            cache: None,
        }
    }

    #[test]
    fn accepted_bodies() {
        let f = function();
        let cases: &[(&str, Manual)] = &[
            (r#"{"instances": 3}"#, Manual::Pin(3)),
            (r#"{"instances": 0}"#, Manual::Pin(0)),
            (
                r#"{"min_instances": 1, "max_instances": 4}"#,
                Manual::Bounds {
                    min: Some(1),
                    max: Some(4),
                },
            ),
            (
                r#"{"max_instances": 2}"#,
                Manual::Bounds {
                    min: None,
                    max: Some(2),
                },
            ),
        ];
        for (body, want) in cases {
            assert_eq!(parse(body.as_bytes(), &f).unwrap(), *want, "{body}");
        }
    }

    #[test]
    fn refused_bodies_say_why() {
        let f = function();
        let cases: &[(&str, &str)] = &[
            ("", "not JSON"),
            ("[1]", "JSON object"),
            (r#"{"instance": 3}"#, "unknown key `instance`"),
            (r#"{"instances": -1}"#, "whole number"),
            (r#"{"instances": 2.5}"#, "whole number"),
            (r#"{"instances": "3"}"#, "whole number"),
            (r#"{"instances": 99999}"#, "at most"),
            (
                r#"{"instances": 2, "max_instances": 3}"#,
                "cannot be combined",
            ),
            (r#"{"min_instances": 5, "max_instances": 3}"#, "above"),
            ("{}", "nothing to do"),
        ];
        for (body, expected) in cases {
            match parse(body.as_bytes(), &f) {
                Err(ProxyError::InvalidBody(message)) => {
                    assert!(message.contains(expected), "{body}: {message}")
                }
                other => panic!("{body}: expected a refusal, got {other:?}"),
            }
        }
    }
}
