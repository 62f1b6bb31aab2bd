//! tidegate's configuration: the TOML schema, its defaults, and loading with validation.
//!
//! A file becomes a [`Config`] in five steps:
//!
//! ```text
//! file ─read─▶ text ─toml + serde─▶ Config with defaults     (schema, units)
//!   ─▶ ${VAR} expanded in admin.token and env values           (expand)
//!   ─▶ relative tls.cert, tls.key, workdir joined to the file's directory
//!   ─▶ cross-key checks, normalisation ─▶ Config               (validate)
//! ```
//!
//! Expansion comes after parsing, on the two keys that allow it, rather than on the raw
//! text: a `$` elsewhere stays literal, and positions in errors stay those of the file.
//!
//! Every problem becomes a [`ConfigError`] that names the file, line, column and key and
//! says what would be valid; `locate` finds the line of a key so that checks made after
//! parsing point into the file too, and `explain` rewrites serde's wording in TOML's. A
//! syntax or type error is reported alone, as serde cannot go on past it; the steps after
//! it report everything they find.
//!
//! Not owned here: the `tidegate` binary and its flags (`tidegate-proxy`), acting on the
//! values (the proxy and the scaler), and reloading on SIGHUP. The files a [`Config`] names
//! besides the TLS PEM files (the command, `workdir`) are first touched when an
//! instance starts.

mod error;
mod expand;
mod explain;
mod locate;
mod schema;
mod summary;
pub mod units;
mod validate;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigErrors};
pub use schema::*;

use locate::{KeyPath, Locator};

/// Reads, parses and validates the configuration file at `path`.
///
/// `${VAR}` references are read from the process environment. An unreadable file is an
/// error naming the path.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let source = std::fs::read_to_string(path).map_err(|error| ConfigError {
        file: path.to_owned(),
        line: None,
        column: None,
        key: String::new(),
        message: format!("cannot read the configuration file: {error}"),
    })?;
    parse(&source, path)
}

/// Parses and validates configuration text, as if read from the file `origin`.
///
/// `origin` names the file in errors, and its directory is where relative `tls.cert`,
/// `tls.key` and `workdir` are resolved (and the default `workdir`). `${VAR}` references are
/// read from the process environment.
pub fn parse(source: &str, origin: &Path) -> Result<Config, ConfigErrors> {
    parse_with_env(source, origin, |name| std::env::var(name).ok())
}

/// [`parse`], with `${VAR}` references looked up by `lookup` instead of in the process
/// environment: for tests, and for callers that keep their own variables.
pub fn parse_with_env(
    source: &str,
    origin: &Path,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let locator = Locator::new(source);
    let error_at = |path: &KeyPath, message: String| {
        let position = locator
            .span_of(path)
            .map(|span| locator.line_column(span.start));
        ConfigError {
            file: origin.to_owned(),
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            key: path.to_string(),
            message,
        }
    };

    // Syntax and type errors: serde stops at the first, so there is only ever one.
    let mut config: Config = toml::from_str(source).map_err(|error| {
        let position = error.span().map(|span| locator.line_column(span.start));
        let key = error
            .span()
            .map(|span| locator.path_at(span.start))
            .unwrap_or_default();
        ConfigError {
            file: origin.to_owned(),
            line: position.map(|(line, _)| line),
            column: position.map(|(_, column)| column),
            key: key.to_string(),
            message: explain::explain(error.message()),
        }
    })?;

    let mut errors = Vec::new();
    for (path, message) in expand_variables(&mut config, &lookup) {
        errors.push(error_at(&path, message));
    }
    resolve_paths(&mut config, origin);
    for issue in validate::validate(&mut config, &|path| locator.is_written(path)) {
        errors.push(error_at(&issue.path, issue.message));
    }

    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors::new(errors))
    }
}

/// Expands `${VAR}` in the keys that allow it, returning a message per failed key.
fn expand_variables(
    config: &mut Config,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Vec<(KeyPath, String)> {
    let mut failures = Vec::new();
    if let Some(token) = &mut config.admin.token {
        match expand::expand(token, lookup) {
            Ok(expanded) => *token = expanded,
            Err(message) => failures.push((KeyPath::root().key("admin").key("token"), message)),
        }
    }
    for (name, function) in &mut config.functions {
        for (variable, value) in &mut function.env {
            match expand::expand(value, lookup) {
                Ok(expanded) => *value = expanded,
                Err(message) => failures.push((
                    KeyPath::root()
                        .key("functions")
                        .key(name.as_str())
                        .key("env")
                        .key(variable.as_str()),
                    message,
                )),
            }
        }
    }
    failures
}

/// Makes file paths independent of the directory tidegate was started in.
fn resolve_paths(config: &mut Config, origin: &Path) {
    let base = origin.parent().unwrap_or(Path::new(""));
    let resolve = |path: &Path| -> PathBuf {
        // An origin with no directory ("tidegate.toml") is already relative to the cwd.
        if path.is_absolute() || base.as_os_str().is_empty() {
            path.to_owned()
        } else {
            base.join(path)
        }
    };

    if let Some(tls) = &mut config.server.tls {
        tls.cert = resolve(&tls.cert);
        tls.key = resolve(&tls.key);
    }
    for function in config.functions.values_mut() {
        function.workdir = Some(match &function.workdir {
            Some(workdir) => resolve(workdir),
            None if base.as_os_str().is_empty() => PathBuf::from("."),
            None => base.to_owned(),
        });
    }
}
