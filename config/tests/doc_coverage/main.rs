//! `docs/configuration.md` documents every key of the schema, and nothing else.
//!
//! The keys come from the schema types themselves (see `tracer`), so a field added to
//! `schema.rs` without a line in the doc fails this test, and so does a doc row left behind
//! by a removed field. A key counts as documented when the section whose heading names its
//! table (like `` `[functions.NAME.scaling]` ``) has a row for it: a table row whose first
//! cell is the key in backticks. A mention in prose is not enough, as it says no type or
//! default.

mod tracer;

use std::collections::BTreeSet;
use std::path::Path;

use tidegate_config::Config;
use tracer::{Key, keys_of};

/// One heading of the doc and the text up to the next heading.
struct Section {
    heading: String,
    body: String,
}

fn doc_sections() -> Vec<Section> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    let doc = std::fs::read_to_string(&path).expect("docs/configuration.md is in the repository");

    let mut sections = Vec::new();
    let mut in_code = false;
    for line in doc.lines() {
        // TOML comments in code blocks start with '#' too; they are not headings.
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if !in_code && line.starts_with('#') {
            sections.push(Section {
                heading: line.to_owned(),
                body: String::new(),
            });
        } else if let Some(section) = sections.last_mut() {
            section.body.push_str(line);
            section.body.push('\n');
        }
    }
    sections
}

impl Section {
    /// The keys this section has rows for: each table row's first cell, if in backticks.
    fn documented_keys(&self) -> impl Iterator<Item = &str> {
        self.body
            .lines()
            .filter(|line| line.starts_with("| `"))
            .filter_map(|row| row.split('`').nth(1))
    }
}

/// The section about `table`: the one whose heading holds the table's header in backticks.
fn section_of<'a>(sections: &'a [Section], table: &str) -> Option<&'a Section> {
    let marker = format!("`{table}`");
    sections
        .iter()
        .find(|section| section.heading.contains(&marker))
}

#[test]
fn the_tracer_finds_every_table_and_key() {
    let keys = keys_of::<Config>();
    let has = |table: &str, name: &str| {
        keys.contains(&Key {
            table: table.to_owned(),
            name: name.to_owned(),
        })
    };
    assert!(has("", "functions"));
    assert!(has("[server.tls]", "cert"));
    assert!(has("[[functions.NAME.routes]]", "strip_prefix"));
    assert!(has("[functions.NAME.readiness]", "tcp"));
    assert!(has("[functions.NAME.scaling]", "min_instances"));
    assert!(has("[functions.NAME.scaling.custom]", "metric"));
    assert!(has("[functions.NAME.cache]", "key_headers"));
    // 3 at the root, 8 + 3 in [server], 2 in [admin], 11 per function, 4 per route,
    // 3 for readiness, 15 + 3 for scaling, 6 for the queue, 4 for the cache.
    assert_eq!(keys.len(), 62, "{keys:#?}");
}

#[test]
fn every_schema_key_is_documented() {
    let sections = doc_sections();
    let mut missing = BTreeSet::new();
    for key in keys_of::<Config>() {
        // Root keys are the tables themselves; their sections are checked through their keys.
        if key.table.is_empty() {
            continue;
        }
        match section_of(&sections, &key.table) {
            None => {
                missing.insert(format!("no section whose heading has `{}`", key.table));
            }
            Some(section) if !section.documented_keys().any(|name| name == key.name) => {
                missing.insert(format!(
                    "a row for `{}` in the `{}` section",
                    key.name, key.table
                ));
            }
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not document:\n  {}",
        missing.into_iter().collect::<Vec<_>>().join("\n  ")
    );
}

#[test]
fn every_documented_key_exists() {
    let sections = doc_sections();
    let keys = keys_of::<Config>();
    let tables: BTreeSet<&str> = keys.iter().map(|key| key.table.as_str()).collect();

    let mut stale = Vec::new();
    for table in tables.iter().filter(|table| !table.is_empty()) {
        let Some(section) = section_of(&sections, table) else {
            continue;
        };
        for name in section.documented_keys() {
            let known = keys
                .iter()
                .any(|key| key.table == *table && key.name == name);
            if !known {
                stale.push(format!("`{name}` in the `{table}` section"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs/configuration.md documents keys the schema does not have:\n  {}",
        stale.join("\n  ")
    );
}
