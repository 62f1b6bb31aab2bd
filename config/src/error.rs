//! What a broken configuration reports: every problem, each with its file, line, column and
//! key, one per line, in the form editors and CI annotators understand.

use std::fmt;
use std::path::PathBuf;

/// One problem in a configuration file.
///
/// Displays as `FILE:LINE:COL: KEY.PATH: message`. The position is omitted only when nothing
/// in the file can be pointed at (say, the file could not be read); the key is omitted for
/// syntax errors, which belong to no key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Line(self))]
pub struct ConfigError {
    /// The configuration file, as it was named to [`crate::load`] or [`crate::parse`].
    pub file: PathBuf,
    /// 1-based line of the key (or of its table's header when the key is not written).
    pub line: Option<usize>,
    /// 1-based column, counted in characters.
    pub column: Option<usize>,
    /// Dotted key path, like `functions.hello.routes[1].host`; empty when no key applies.
    pub key: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

/// Every problem found in one configuration file, in file order where positions are known.
///
/// Displays as one [`ConfigError`] per line. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", Lines(&self.errors))]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Wraps the problems found; sorted by position so the output reads top to bottom.
    pub(crate) fn new(mut errors: Vec<ConfigError>) -> Self {
        debug_assert!(
            !errors.is_empty(),
            "ConfigErrors is only built for a failure"
        );
        // A stable sort keeps unlocated errors in the order they were found.
        errors.sort_by_key(|error| (error.line.unwrap_or(usize::MAX), error.column));
        Self { errors }
    }

    /// The problems, in file order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self::new(vec![error])
    }
}

// === formatting ===

/// Formats one error; a separate type because `thiserror` takes a single format string.
struct Line<'a>(&'a ConfigError);

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.0;
        write!(f, "{}", error.file.display())?;
        if let Some(line) = error.line {
            write!(f, ":{line}")?;
            if let Some(column) = error.column {
                write!(f, ":{column}")?;
            }
        }
        if !error.key.is_empty() {
            write!(f, ": {}", error.key)?;
        }
        write!(f, ": {}", error.message)
    }
}

struct Lines<'a>(&'a [ConfigError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(line: Option<usize>, key: &str, message: &str) -> ConfigError {
        ConfigError {
            file: "tidegate.toml".into(),
            line,
            column: line.map(|_| 3),
            key: key.into(),
            message: message.into(),
        }
    }

    #[test]
    fn errors_print_file_position_key_and_message_one_per_line() {
        let errors = ConfigErrors::new(vec![
            error(Some(9), "admin.token", "the token is empty"),
            error(None, "", "cannot read the file"),
            error(Some(2), "", "unclosed array"),
        ]);
        assert_eq!(
            errors.to_string(),
            "tidegate.toml:2:3: unclosed array\n\
             tidegate.toml:9:3: admin.token: the token is empty\n\
             tidegate.toml: cannot read the file"
        );
        assert_eq!(errors.errors().len(), 3);
    }
}
