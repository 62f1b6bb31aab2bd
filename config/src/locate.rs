//! Key paths (`functions.hello.routes[1].host`) and where they are written in the source.
//!
//! Errors found after parsing only know the key they concern; this module finds the line and
//! column to print with them. It works on toml's own spanned document tree rather than
//! scanning the text, so headers (`[functions.hello.scaling]`), dotted keys
//! (`tls.listen = ...`), inline tables (`routes = [{ host = "a" }]`) and arrays of tables are
//! all understood exactly as the parser understood them. A key the file does not write (a
//! default) is located at its nearest written ancestor, usually its table's header.
//!
//! The reverse also lives here: toml's deserialization errors carry only a byte span, and
//! [`Locator::path_at`] recovers the key path it falls in.

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step of a key path: a table key, or an index into an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the document root to a key or array element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The path of the document itself; displays as the empty string.
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// This path extended by a table key.
    pub(crate) fn key(&self, key: impl Into<String>) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.into()));
        Self(segments)
    }

    /// This path extended by an array index.
    pub(crate) fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        Self(segments)
    }
}

/// Written as TOML would: bare keys dotted, other keys quoted, indices in brackets.
impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !key.is_empty()
                        && key
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    if bare {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Maps key paths to source positions and back, for one source text.
pub(crate) struct Locator<'a> {
    source: &'a str,
    /// `None` when the text is not valid TOML; then only byte spans can be located.
    document: Option<DeTable<'a>>,
}

impl<'a> Locator<'a> {
    /// Indexes `source`; a syntax error leaves only span-to-position conversion working.
    pub(crate) fn new(source: &'a str) -> Self {
        let document = DeTable::parse(source).ok().map(Spanned::into_inner);
        Self { source, document }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    pub(crate) fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(self.source, offset.min(self.source.len()));
        let before = &self.source[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let line = before.matches('\n').count() + 1;
        let column = before[line_start..].chars().count() + 1;
        (line, column)
    }

    /// Where `path` is written: the span of its key (or array element), else of its nearest
    /// written ancestor; `None` if not even its first key is written.
    pub(crate) fn span_of(&self, path: &KeyPath) -> Option<Range<usize>> {
        self.lookup(path).map(|(span, _)| span)
    }

    /// Whether the file writes `path` itself, rather than leaving it to its default.
    pub(crate) fn is_written(&self, path: &KeyPath) -> bool {
        self.lookup(path).is_some_and(|(_, exact)| exact)
    }

    /// The span [`Self::span_of`] reports, and whether it is `path`'s own.
    fn lookup(&self, path: &KeyPath) -> Option<(Range<usize>, bool)> {
        let mut table = self.document.as_ref()?;
        let mut value: Option<&DeValue<'_>> = None;
        let mut found = None;
        let mut depth = 0;
        for segment in &path.0 {
            let next = match (segment, value) {
                (Segment::Key(key), None) => table
                    .get_key_value(key.as_str())
                    .map(|(k, v)| (k.span(), v)),
                (Segment::Key(key), Some(DeValue::Table(inner))) => {
                    table = inner;
                    table
                        .get_key_value(key.as_str())
                        .map(|(k, v)| (k.span(), v))
                }
                (Segment::Index(index), Some(DeValue::Array(array))) => {
                    array.get(*index).map(|element| (element.span(), element))
                }
                _ => None,
            };
            let Some((span, next_value)) = next else {
                break;
            };
            found = Some(span);
            value = Some(next_value.get_ref());
            depth += 1;
        }
        found.map(|span| (span, depth == path.0.len()))
    }

    /// The deepest key path whose key or value span contains `offset`; the root if none.
    pub(crate) fn path_at(&self, offset: usize) -> KeyPath {
        let mut best = KeyPath::root();
        if let Some(document) = &self.document {
            search_table(document, offset, &KeyPath::root(), &mut best);
        }
        best
    }
}

/// Walks every entry, since a table opened by a header spans only the header, not its body.
fn search_table(table: &DeTable<'_>, offset: usize, path: &KeyPath, best: &mut KeyPath) {
    for (key, value) in table.iter() {
        let here = path.key(key.get_ref().as_ref());
        if contains(&key.span(), offset) || contains(&value.span(), offset) {
            keep_deeper(best, &here);
        }
        search_value(value.get_ref(), offset, &here, best);
    }
}

fn search_value(value: &DeValue<'_>, offset: usize, path: &KeyPath, best: &mut KeyPath) {
    match value {
        DeValue::Table(table) => search_table(table, offset, path, best),
        DeValue::Array(array) => {
            for (index, element) in array.iter().enumerate() {
                let here = path.index(index);
                if contains(&element.span(), offset) {
                    keep_deeper(best, &here);
                }
                search_value(element.get_ref(), offset, &here, best);
            }
        }
        _ => {}
    }
}

fn keep_deeper(best: &mut KeyPath, candidate: &KeyPath) {
    if candidate.0.len() > best.0.len() {
        *best = candidate.clone();
    }
}

/// Whether a span holds an offset; an empty span (end of input) holds its start.
fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.contains(&offset) || (span.is_empty() && span.start == offset)
}

/// The largest char boundary at or below `index`, so slicing never panics.
fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = r#"[server]
listen = ["127.0.0.1:8080"]
tls.listen = ["127.0.0.1:8443"]

[functions.hello]
routes = [
  { host = "hello.localhost" },
  { path_prefix = "/hello", strip_prefix = true },
]
readiness = { http_path = "/healthz" }

[functions.hello.scaling]
min_instances = 0
custom = { path = "/metrics", metric = "m", target = 5 }

[functions."two words"]
routes = [{ host = "b" }]

[[functions.arrays.routes]]
host = "x"

[[functions.arrays.routes]]
path_prefix = "/y"
"#;

    fn path(text: &str) -> KeyPath {
        let mut path = KeyPath::root();
        for part in text.split('.') {
            match part.split_once('[') {
                Some((key, index)) => {
                    path = path
                        .key(key)
                        .index(index.trim_end_matches(']').parse().unwrap());
                }
                None => path = path.key(part),
            }
        }
        path
    }

    fn position(locator: &Locator<'_>, key: &str) -> Option<(usize, usize)> {
        locator
            .span_of(&path(key))
            .map(|span| locator.line_column(span.start))
    }

    #[test]
    fn keys_are_found_in_headers_dotted_keys_and_inline_tables() {
        let locator = Locator::new(SOURCE);
        let cases = [
            ("server", Some((1, 2))),
            ("server.listen", Some((2, 1))),
            ("server.tls.listen", Some((3, 5))),
            ("functions.hello", Some((5, 12))),
            ("functions.hello.routes", Some((6, 1))),
            ("functions.hello.routes[0]", Some((7, 3))),
            ("functions.hello.routes[1]", Some((8, 3))),
            ("functions.hello.routes[1].strip_prefix", Some((8, 29))),
            ("functions.hello.readiness.http_path", Some((10, 15))),
            ("functions.hello.scaling.min_instances", Some((13, 1))),
            ("functions.hello.scaling.custom.metric", Some((14, 31))),
            ("functions.arrays.routes[1].path_prefix", Some((23, 1))),
            ("functions.arrays.routes[0]", Some((19, 1))),
            // Defaults fall back to the nearest written ancestor.
            ("functions.hello.scaling.max_instances", Some((12, 18))),
            ("functions.hello.queue.priorities", Some((5, 12))),
            ("functions.hello.routes[7]", Some((6, 1))),
            ("admin.token", None),
        ];
        for (key, expected) in cases {
            assert_eq!(position(&locator, key), expected, "position of {key}");
        }
    }

    #[test]
    fn written_keys_are_told_from_defaults() {
        let locator = Locator::new(SOURCE);
        assert!(locator.is_written(&path("functions.hello.scaling.min_instances")));
        assert!(locator.is_written(&path("functions.hello.routes[1]")));
        assert!(!locator.is_written(&path("functions.hello.scaling.max_instances")));
        assert!(!locator.is_written(&path("admin.listen")));
    }

    #[test]
    fn paths_are_recovered_from_offsets() {
        let locator = Locator::new(SOURCE);
        let at = |needle: &str| locator.path_at(SOURCE.find(needle).unwrap()).to_string();
        assert_eq!(at("strip_prefix"), "functions.hello.routes[1].strip_prefix");
        assert_eq!(at("\"/healthz\""), "functions.hello.readiness.http_path");
        assert_eq!(at("min_instances"), "functions.hello.scaling.min_instances");
        assert_eq!(at("\"m\""), "functions.hello.scaling.custom.metric");
        assert_eq!(at("[functions.hello.scaling]"), "functions.hello.scaling");
        assert_eq!(at("{ host = \"b\" }"), "functions.\"two words\".routes[0]");
        assert_eq!(
            at("path_prefix = \"/y\""),
            "functions.arrays.routes[1].path_prefix"
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let locator = Locator::new("a = \"é\"\nb = 1\n");
        assert_eq!(locator.line_column(0), (1, 1));
        assert_eq!(locator.line_column(6), (1, 6));
        assert_eq!(locator.line_column(9), (2, 1));
        assert_eq!(locator.line_column(99), (3, 1));
    }

    #[test]
    fn invalid_toml_still_converts_offsets() {
        let locator = Locator::new("a = [1\n");
        assert_eq!(locator.line_column(4), (1, 5));
        assert_eq!(locator.span_of(&path("a")), None);
        assert_eq!(locator.path_at(4), KeyPath::root());
    }
}
