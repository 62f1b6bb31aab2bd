//! Rewrites serde's and toml's messages in the words of a config file.
//!
//! serde speaks of fields, maps, sequences and `u32`; a person editing TOML thinks of keys,
//! tables, arrays and numbers. The facts are kept, the vocabulary changed, and an unknown key
//! gets a "did you mean" when a valid key is a typo away.

/// The message to show for a deserialization error's `message()`.
pub(crate) fn explain(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return unknown_key(rest);
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        return format!("required key {rest} is missing");
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((found, expected)) = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split_once(", expected "))
        {
            return format!(
                "expected {}, found {}",
                expected_words(expected),
                found_words(found)
            );
        }
    }
    if message == "invalid socket address syntax" {
        return format!("expected {SOCKET_ADDRESS}");
    }
    if message == "duplicate key" {
        return "this key is written twice; keep one".to_owned();
    }
    message.to_owned()
}

const SOCKET_ADDRESS: &str = r#"a socket address like "127.0.0.1:8080" or "[::1]:8080""#;

/// `unknown field `X`, expected one of `a`, `b`` → the key, a suggestion, the valid keys.
fn unknown_key(rest: &str) -> String {
    let quoted: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let Some((unknown, valid)) = quoted.split_first() else {
        return format!("unknown key {rest}");
    };

    let mut message = format!("unknown key `{unknown}`");
    if let Some(suggestion) = closest(unknown, valid) {
        message.push_str(&format!(" (did you mean `{suggestion}`?)"));
    }
    if valid.is_empty() {
        message.push_str("; this table takes no keys");
    } else {
        let list: Vec<String> = valid.iter().map(|key| format!("`{key}`")).collect();
        message.push_str(&format!("; valid keys here: {}", list.join(", ")));
    }
    message
}

/// The valid key within two edits of `unknown`, if one is that close.
fn closest<'a>(unknown: &str, valid: &[&'a str]) -> Option<&'a str> {
    valid
        .iter()
        .map(|key| (edit_distance(unknown, key), *key))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key)
}

/// Levenshtein distance, over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// serde's name for an expected type → TOML's.
fn expected_words(expected: &str) -> String {
    let words = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a sequence" => "an array",
        "a map" => "a table",
        "socket address" => SOCKET_ADDRESS,
        "path string" => "a path (a string)",
        other if other.starts_with("struct ") => "a table",
        other => other,
    };
    words.to_owned()
}

/// serde's description of what was found → TOML's.
fn found_words(found: &str) -> String {
    match found {
        "map" => "a table".to_owned(),
        "sequence" => "an array".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_use_toml_words() {
        let cases = [
            (
                "unknown field `min_instance`, expected one of `min_instances`, `max_instances`",
                "unknown key `min_instance` (did you mean `min_instances`?); valid keys here: \
                 `min_instances`, `max_instances`",
            ),
            (
                "unknown field `zz`, expected `host` or `path_prefix`",
                "unknown key `zz`; valid keys here: `host`, `path_prefix`",
            ),
            (
                "unknown field `a`, there are no fields",
                "unknown key `a`; this table takes no keys",
            ),
            ("missing field `routes`", "required key `routes` is missing"),
            (
                "invalid type: string \"a\", expected u32",
                "expected a non-negative integer, found string \"a\"",
            ),
            (
                "invalid value: integer `-1`, expected usize",
                "expected a non-negative integer, found integer `-1`",
            ),
            (
                "invalid type: map, expected a sequence",
                "expected an array, found a table",
            ),
            (
                "invalid type: string \"x\", expected struct Tls",
                "expected a table, found string \"x\"",
            ),
            (
                "invalid socket address syntax",
                "expected a socket address like \"127.0.0.1:8080\" or \"[::1]:8080\"",
            ),
            ("something else", "something else"),
        ];
        for (message, expected) in cases {
            assert_eq!(explain(message), expected);
        }
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("tick", "tick"), 0);
        assert_eq!(edit_distance("tik", "tick"), 1);
        assert_eq!(edit_distance("tcik", "tick"), 2);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
