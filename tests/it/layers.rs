//! The crate's layering, read from its own source: the module graph (from `use crate::…`,
//! `crate::…` paths and, inside a folder, `super::…`) has no cycle, and no layer imports one
//! above it. Top to bottom: server → rest, mcp, openapi, schemas → catalog → services → app →
//! mail, store, google, hasher, ratelimit → leaves.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// A source file's module path inside the crate: `src/services/otp.rs` → `services::otp`.
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|p| p != "mod")
        .collect();
    parts.join("::")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path a file names from `prefix` (`crate::` or `super::`), expanded through `use`
/// groups: `use crate::{app::App, store::{a, b}}` names `app::App`, `store::a`, `store::b`.
fn paths(code: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let end = group_end(rest);
        expand("", &rest[..end], &mut out);
    }
    out
}

/// Where the path starting at `text` ends: at `;`, `(`, `<`, whitespace or `,` outside braces.
fn group_end(text: &str) -> usize {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            ';' | '(' | '<' | ')' | '>' | '!' | '=' | '&' | '[' | ']' if depth == 0 => return i,
            ',' | ' ' | '\n' if depth == 0 => return i,
            _ => {}
        }
    }
    text.len()
}

fn expand(base: &str, text: &str, out: &mut Vec<String>) {
    let text = text.trim();
    match text.find('{') {
        Some(open) => {
            let head = text[..open].trim_end_matches("::");
            let inner = &text[open + 1..text.rfind('}').unwrap_or(text.len())];
            let base = join(base, head);
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&base, &inner[start..i], out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            expand(&base, &inner[start..], out);
        }
        None if !text.is_empty() => out.push(join(base, text.split(" as ").next().unwrap())),
        None => {}
    }
}

fn join(base: &str, tail: &str) -> String {
    match (base.is_empty(), tail.is_empty()) {
        (true, _) => tail.to_string(),
        (_, true) => base.to_string(),
        _ => format!("{base}::{tail}"),
    }
}

/// The crate's modules and, for each, the modules it imports (the longest module prefix of
/// each named path). `self` in a path names the module itself.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<(String, String)> = rust_files(&root)
        .into_iter()
        .map(|f| {
            (
                module_of(&root, &f),
                code(&std::fs::read_to_string(&f).unwrap()),
            )
        })
        .filter(|(m, _)| m != "lib" && m != "main")
        .collect();
    let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
    let resolve = |path: &str| -> Option<String> {
        let parts: Vec<&str> = path.split("::").filter(|p| *p != "self").collect();
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("::"))
            .find(|m| modules.contains(m))
    };
    let mut graph = BTreeMap::new();
    for (module, text) in &files {
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
        let mut named = paths(text, "crate::");
        named.extend(paths(text, "super::").into_iter().map(|p| join(parent, &p)));
        let edges: BTreeSet<String> = named
            .iter()
            .filter_map(|p| resolve(p))
            .filter(|m| m != module && !module.starts_with(&format!("{m}::")))
            .collect();
        graph.insert(module.clone(), edges);
    }
    graph
}

fn top(module: &str) -> &str {
    module.split("::").next().unwrap()
}

/// A cycle in `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_path_reader_expands_use_groups() {
    let code =
        "use crate::{app::App, store::{a, b::{C, D as E}}};\nlet x = crate::defaults::API_PREFIX;";
    assert_eq!(
        paths(code, "crate::"),
        [
            "app::App",
            "store::a",
            "store::b::C",
            "store::b::D",
            "defaults::API_PREFIX"
        ]
    );
}

#[test]
fn the_module_graph_has_no_cycle_between_files_or_between_layers() {
    let files = graph();
    assert!(files.contains_key("services::auth") && files.contains_key("catalog"));
    if let Some(cycle) = find_cycle(&files) {
        panic!(
            "files import each other in a circle: {}",
            cycle.join(" -> ")
        );
    }
    let mut layers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, edges) in &files {
        let entry = layers.entry(top(module).to_string()).or_default();
        entry.extend(
            edges
                .iter()
                .map(|e| top(e).to_string())
                .filter(|e| e != top(module)),
        );
    }
    if let Some(cycle) = find_cycle(&layers) {
        panic!(
            "top-level modules import each other in a circle: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn no_layer_imports_one_above_it() {
    let adapters = ["server", "rest", "mcp", "openapi", "schemas"];
    let rules: [(&str, &[&str]); 5] = [
        ("catalog", &adapters),
        ("services", &[&adapters[..], &["catalog"]].concat()),
        ("app", &[&adapters[..], &["catalog", "services"]].concat()),
        (
            "store",
            &[&adapters[..], &["catalog", "services", "app", "mail"]].concat(),
        ),
        // The engines know nothing of tasks, credits, the database or the app.
        (
            "analysis",
            &[&adapters[..], &["catalog", "services", "app", "store"]].concat(),
        ),
    ];
    for (module, edges) in graph() {
        for (layer, forbidden) in &rules {
            if top(&module) != *layer {
                continue;
            }
            for edge in &edges {
                assert!(
                    !forbidden.contains(&top(edge)),
                    "{module} imports {edge}, a layer above it"
                );
            }
        }
    }
}

#[test]
fn the_domain_imports_no_adapter_framework_and_no_sql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let words = |list: &[&'static str]| list.to_vec();
    for (dir, forbidden) in [
        (
            "services",
            words(&["axum", "rmcp", "http::", "use http", "sqlx::query"]),
        ),
        ("store", words(&["axum", "rmcp", "http::", "use http"])),
        ("catalog", words(&["axum", "rmcp"])),
    ] {
        for file in rust_files(&root.join(dir)) {
            let text = code(&std::fs::read_to_string(&file).unwrap());
            for word in &forbidden {
                assert!(!text.contains(word), "{} uses {word}", file.display());
            }
        }
    }
}
