//! The prose maps cannot drift silently: every code path written in backticks in ARCHITECTURE.md and in
//! the edge's crate doc (`edge/src/lib.rs`) that names one of the edge's modules (`repeats::held_hash`,
//! `services::holding`, `Command::Erase`) or one of its files (`edge/src/...`, `edge/tests/...`) must
//! resolve to a module, a file, or an item that the sources define.

use crate::fixtures::sources;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

/// The spans between backticks in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// Whether `code` defines an item (or an enum variant or a field) called `name`.
fn defines(code: &str, name: &str) -> bool {
    let kinds = ["fn ", "struct ", "enum ", "const ", "static ", "trait ", "type ", "mod "];
    kinds.iter().any(|k| code.contains(&format!("{k}{name}")))
        || code.lines().any(|l| {
            let l = l.trim_start();
            l.starts_with(name) && l[name.len()..].starts_with([' ', ',', '(', '{', ':'])
        })
}

#[test]
fn every_module_path_in_the_prose_resolves() {
    let src = root().join("edge/src");
    let files = sources(&src);
    // Modules by name (a file's stem, or a layer's folder), with their code.
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for path in &files {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let name = if stem == "mod" { path.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned() } else { stem };
        modules.entry(name).or_default().push_str(&std::fs::read_to_string(path).unwrap());
    }
    // Types may also be the rule book's (`FormsConfig::problems`).
    let shared: String = sources(&root().join("shared/src")).iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    let all_code: String = modules.values().cloned().chain(std::iter::once(shared)).collect();
    let prose = [root().join("ARCHITECTURE.md"), src.join("lib.rs")];
    let mut checked = 0;
    let mut broken = Vec::new();
    for doc in &prose {
        let text = std::fs::read_to_string(doc).unwrap();
        let text = if doc.ends_with("lib.rs") { text.lines().filter(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n") } else { text };
        for span in backticked(&text) {
            let span = span.trim_end_matches("()");
            if span.starts_with("edge/src/") || span.starts_with("edge/tests/") {
                checked += 1;
                if !root().join(span).exists() {
                    broken.push(format!("{}: the file `{span}`", doc.display()));
                }
                continue;
            }
            let parts: Vec<&str> = span.split("::").collect();
            let pathlike = parts.len() > 1 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            if !pathlike {
                continue;
            }
            // `crate::x::y` and `edge::x::y` read from their second segment.
            let parts: Vec<&str> = parts.into_iter().skip_while(|p| *p == "crate" || *p == "edge").collect();
            let Some((first, rest)) = parts.split_first() else { continue };
            let Some(last) = rest.last() else { continue };
            if let Some(code) = modules.get(*first) {
                // `module::...::item`: the item is in the last module named, or the path is modules all along.
                let owner = rest.iter().rev().skip(1).find_map(|m| modules.get(*m)).unwrap_or(code);
                checked += 1;
                if !(modules.contains_key(*last) || defines(owner, last)) {
                    broken.push(format!("{}: `{span}`", doc.display()));
                }
            } else if first.starts_with(|c: char| c.is_ascii_uppercase()) && defines(&all_code, first) {
                // `Type::item`: a type of the edge and something it defines.
                checked += 1;
                if !defines(&all_code, last) {
                    broken.push(format!("{}: `{span}`", doc.display()));
                }
            }
        }
    }
    assert!(checked > 40, "the test reads the prose it means to ({checked} paths checked)");
    assert!(broken.is_empty(), "paths in the prose that name nothing:\n{}", broken.join("\n"));
}
