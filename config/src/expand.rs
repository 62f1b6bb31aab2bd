//! `${VAR}` expansion, so secrets such as the admin token stay out of the file.
//!
//! Expansion applies to the parsed values of `admin.token` and of each function's `env`, not
//! to the raw text: a `$` anywhere else (a path, a route) is taken literally, and positions in
//! error messages stay those of the file. `${NAME}` is replaced by the variable's value;
//! `$${` writes a literal `${`; any other `$` is kept as is.

/// Replaces every `${NAME}` in `value` using `lookup`; the error says what to write instead.
pub(crate) fn expand(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar..];

        // `$${` escapes the expansion; it is the only escape, so tokens keep their `$$`.
        if let Some(escaped) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = escaped;
            continue;
        }
        let Some(reference) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };

        let Some(end) = reference.find('}') else {
            return Err(
                "`${` is not closed; write `${NAME}` to use an environment variable, or `$${` for a literal `${`"
                    .to_owned(),
            );
        };
        let name = &reference[..end];
        if !is_variable_name(name) {
            return Err(format!(
                "`${{{name}}}` is not a variable reference; a name is letters, digits and `_`, not starting with a digit"
            ));
        }
        match lookup(name) {
            Some(found) => out.push_str(&found),
            None => {
                return Err(format!(
                    "environment variable `{name}` is not set (or is not valid UTF-8); set it, or write the value without `${{{name}}}`"
                ));
            }
        }
        rest = &reference[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn is_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn references_are_replaced() {
        let cases = [
            ("${TOKEN}", "s3cret"),
            ("Bearer ${TOKEN}!", "Bearer s3cret!"),
            ("${TOKEN}${TOKEN}", "s3crets3cret"),
            ("${EMPTY}", ""),
            ("no reference", "no reference"),
            ("price $5 and $$", "price $5 and $$"),
            ("$${TOKEN}", "${TOKEN}"),
            ("trailing $", "trailing $"),
        ];
        for (value, expected) in cases {
            assert_eq!(
                expand(value, &lookup).as_deref(),
                Ok(expected),
                "expanding {value:?}"
            );
        }
    }

    #[test]
    fn bad_references_are_errors_that_name_the_problem() {
        let cases = [
            ("${MISSING}", "`MISSING` is not set"),
            ("${TOKEN", "not closed"),
            ("${}", "not a variable reference"),
            ("${1X}", "not a variable reference"),
            ("${A B}", "not a variable reference"),
        ];
        for (value, expected) in cases {
            let error = expand(value, &lookup).expect_err(value);
            assert!(error.contains(expected), "{value:?} gave {error:?}");
        }
    }
}
