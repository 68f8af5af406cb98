//! Holds the layers of `lib.rs`: every path into the crate (`use`, a call, a doc
//! link) in production code must point to the module's own layer or below.
//! Unit tests (`#[cfg(test)] mod …` to the end of a file, and test-only files)
//! may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
/// Written in two halves so this file's own text holds no such path.
const ROOT: &str = concat!("cra", "te::");
const TEST_ONLY: [&str; 3] = ["layers", "testing", "tests"];

/// Top-level module -> layer number, from the table in `lib.rs`'s docs.
fn layers() -> BTreeMap<String, u32> {
    let lib = std::fs::read_to_string(Path::new(SRC).join("lib.rs")).unwrap();
    let mut layers = BTreeMap::new();
    for line in lib.lines() {
        let Some(row) = line.strip_prefix("//! | ") else {
            continue;
        };
        let Some((number, rest)) = row.split_once(". ") else {
            continue;
        };
        let Ok(number) = number.parse::<u32>() else {
            continue;
        };
        let modules = rest.split_once('|').map_or("", |(_, m)| m);
        for name in modules.split('`').skip(1).step_by(2) {
            let name = name.trim_end_matches(".rs");
            assert!(
                layers.insert(name.to_owned(), number).is_none(),
                "lib.rs names `{name}` in two layers"
            );
        }
    }
    layers
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file's production code names after the crate root,
/// with the text of each path.
fn targets(text: &str) -> Vec<(String, String)> {
    let production = text
        .find("#[cfg(test)]\nmod ")
        .map_or(text, |end| &text[..end]);
    let mut out = Vec::new();
    for (start, _) in production.match_indices(ROOT) {
        let before = production[..start].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &production[start + ROOT.len()..];
        let names: Vec<&str> = match rest.strip_prefix('{') {
            // `…::{a, b::c, d::{e, f}}`: the first segment of each item.
            Some(group) => {
                let mut depth = 0;
                let end = group
                    .find(|c| {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => return true,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        false
                    })
                    .unwrap_or(group.len());
                let mut items = Vec::new();
                let mut depth = 0;
                let mut item_start = 0;
                for (i, c) in group[..end].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            items.push(&group[item_start..i]);
                            item_start = i + 1;
                        }
                        _ => {}
                    }
                }
                items.push(&group[item_start..end]);
                items
            }
            None => vec![rest],
        };
        for name in names {
            let name = name.trim_start();
            let ident: String = name
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !ident.is_empty() {
                let shown: String = name
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || "_:".contains(*c))
                    .collect();
                out.push((ident, shown));
            }
        }
    }
    out
}

#[test]
fn no_module_imports_a_layer_above_its_own() {
    let layers = layers();
    let lib = std::fs::read_to_string(Path::new(SRC).join("lib.rs")).unwrap();
    let declared: BTreeSet<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ").or(l.strip_prefix("mod ")))
        .map(|l| l.trim_end_matches(';'))
        .filter(|m| !TEST_ONLY.contains(m))
        .collect();
    for module in &declared {
        assert!(
            layers.contains_key(*module),
            "lib.rs declares `{module}` but its layer table does not name it"
        );
    }

    let mut files = Vec::new();
    rust_files(Path::new(SRC), &mut files);
    let mut violations = Vec::new();
    for file in files {
        let relative = file.strip_prefix(SRC).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        let stem = file.file_stem().unwrap().to_string_lossy();
        if top == "lib" || TEST_ONLY.contains(&top.as_str()) || TEST_ONLY.contains(&&*stem) {
            continue;
        }
        let own = if top == "main" { 1 } else { layers[&top] };
        let text = std::fs::read_to_string(&file).unwrap();
        for (target, shown) in targets(&text) {
            let Some(&layer) = layers.get(&target) else {
                continue;
            };
            if layer < own {
                violations.push(format!(
                    "{} (layer {own}) uses {ROOT}{shown} (layer {layer})",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports that run up a layer:\n{}",
        violations.join("\n")
    );
}

#[test]
fn paths_are_read_as_written() {
    let text = [
        "use ",
        ROOT,
        "store::Store;\n",
        "use ",
        ROOT,
        "{access_tokens, api_keys::{self, NewApiKey}};\n",
        "/// [`",
        ROOT,
        "http::web`]\n",
        "my_",
        ROOT,
        "nothing\n",
        "#[cfg(test)]\nmod tests { use ",
        ROOT,
        "cli; }\n",
    ]
    .concat();
    let names: Vec<String> = targets(&text).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["store", "access_tokens", "api_keys", "http"]);
}
