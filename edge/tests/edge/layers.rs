//! The edge's layers, held by reading its sources (the way rust-analyzer's tidy tests read its own):
//! each layer uses only the layers below it, no two modules import each other in a circle, and the Workers
//! runtime (`worker`, `wasm_bindgen`) appears only in the platform and the glue.
//!
//! The layers, lowest first: `error` (the crate's one error type), `rules`, `protocol`, `services`,
//! `platform`, `glue`. Each folder's `mod.rs` says its rule in words; this test says it in code.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers from the bottom up; a module may use its own layer and the ones before it.
const LAYERS: [&str; 6] = ["error", "rules", "protocol", "services", "platform", "glue"];

/// The layers whose code may name the Workers runtime.
const RUNTIME: [&str; 2] = ["platform", "glue"];

/// A module of the edge: its layer and name (`services`, `submission`), and its source without tests.
struct Module {
    layer: String,
    name: String,
    code: String,
}

fn modules() -> Vec<Module> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = vec![Module { layer: "error".into(), name: "error".into(), code: code_of(&src.join("error.rs")) }];
    for layer in &LAYERS[1..] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(src.join(layer)).expect("a layer's folder").map(|e| e.expect("a file").path()).collect();
        files.sort();
        for path in files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "rs")) {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if name != "mod" {
                out.push(Module { layer: (*layer).into(), name, code: code_of(&path) });
            }
        }
    }
    out
}

/// A file's code: comments and the unit tests at its end left out (tests may reach anywhere).
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("readable source");
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or_default();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The modules a piece of code uses, as `(layer, name)`: paths `crate::<layer>::<name>` and the items of
/// `use crate::{...}` groups, however nested.
fn uses(code: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let words: Vec<&str> = code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '{' || c == ',')).collect();
    let flat = words.join(" ");
    for layer in LAYERS {
        let needle = format!("crate::{layer}");
        let mut rest = flat.as_str();
        while let Some(at) = rest.find(&needle) {
            rest = &rest[at + needle.len()..];
            if layer == "error" {
                out.insert(("error".to_owned(), "error".to_owned()));
                continue;
            }
            if let Some(path) = rest.strip_prefix("::") {
                let name: String = path.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    out.insert((layer.to_owned(), name));
                }
            }
        }
    }
    // `use crate::{rules::id, services::holding::Holding, ...}`: the groups' items.
    let mut rest = code;
    while let Some(at) = rest.find("crate::{") {
        rest = &rest[at + "crate::{".len()..];
        let mut depth = 1;
        let end = rest.char_indices().find(|(_, c)| {
            depth += match c {
                '{' => 1,
                '}' => -1,
                _ => 0,
            };
            depth == 0
        });
        let group = &rest[..end.map_or(rest.len(), |(i, _)| i)];
        for item in group.split([',', '{', '}']).map(str::trim) {
            let mut parts = item.split("::");
            if let (Some(layer), Some(name)) = (parts.next(), parts.next()) {
                if LAYERS.contains(&layer) {
                    out.insert((layer.to_owned(), name.trim().to_owned()));
                }
            }
            if item == "Error" {
                out.insert(("error".to_owned(), "error".to_owned()));
            }
        }
    }
    out
}

fn rank(layer: &str) -> usize {
    LAYERS.iter().position(|l| *l == layer).unwrap_or(usize::MAX)
}

#[test]
fn each_layer_uses_only_the_layers_below_it() {
    let modules = modules();
    assert!(modules.len() > 40, "the test reads the sources it means to ({} modules)", modules.len());
    let mut wrong = Vec::new();
    for m in &modules {
        for (layer, name) in uses(&m.code) {
            if rank(&layer) > rank(&m.layer) {
                wrong.push(format!("{}::{} uses {layer}::{name}", m.layer, m.name));
            }
        }
    }
    assert!(wrong.is_empty(), "a layer reaches up:\n{}", wrong.join("\n"));
}

#[test]
fn no_two_modules_import_each_other_in_a_circle() {
    let modules = modules();
    let graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| {
            let me = format!("{}::{}", m.layer, m.name);
            let deps = uses(&m.code).into_iter().map(|(l, n)| format!("{l}::{n}")).filter(|d| *d != me).collect();
            (me, deps)
        })
        .collect();
    // Depth-first search for a path back to where it started.
    fn cycle(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, at: &str, path: &mut Vec<String>, seen: &mut BTreeSet<String>) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == from {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if cycle(graph, from, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    for start in graph.keys() {
        let mut path = vec![start.clone()];
        assert!(!cycle(&graph, start, start, &mut path, &mut BTreeSet::new()), "an import cycle: {}", path.join(" -> "));
    }
}

#[test]
fn only_the_platform_and_the_glue_name_the_workers_runtime() {
    for m in modules().iter().filter(|m| !RUNTIME.contains(&m.layer.as_str())) {
        for runtime in ["worker::", "use worker", "wasm_bindgen", "web_sys", "js_sys"] {
            assert!(!m.code.contains(runtime), "{}::{} names `{runtime}`", m.layer, m.name);
        }
    }
}

#[test]
fn the_reader_of_imports_sees_what_it_must() {
    // The parser above, on the shapes the sources use: a path, a group, a nested group, the error.
    let found = uses("use crate::rules::intake;\nuse crate::{protocol::ledger::{self, Command}, services::holding::Holding, Error};\nlet x = crate::platform::cloud::kv(env);");
    let names: Vec<String> = found.iter().map(|(l, n)| format!("{l}::{n}")).collect();
    assert_eq!(names, ["error::error", "platform::cloud", "protocol::ledger", "rules::intake", "services::holding"]);
}

#[test]
fn routes_read_and_write_storage_only_through_the_seam() {
    // The routes get the seam from their request's context (`glue::context::Cx`); KV itself is the
    // platform's, and only the cron's upkeep (which lists KV keys of the old layout) may reach it.
    for m in modules().iter().filter(|m| m.layer == "glue" && ["visitor", "operator", "integration", "entry", "exchange"].contains(&m.name.as_str())) {
        for storage in ["platform::store", "store::", "Cloud::of(", "Date::now("] {
            assert!(!m.code.contains(storage), "glue::{} uses `{storage}` instead of its request's context", m.name);
        }
    }
}
