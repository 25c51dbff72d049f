//! `clara schemas [--check]`: the generated files in `schemas/`: an input and an output JSON
//! Schema per tool, and the OpenAPI document. `--check` (and a test) fail on drift.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context;

use crate::catalog;

/// Every generated file: name → pretty JSON with a trailing newline.
pub fn render() -> BTreeMap<String, String> {
    let pretty = |v: &serde_json::Value| {
        let mut text = serde_json::to_string_pretty(v).expect("JSON values always serialize");
        text.push('\n');
        text
    };
    let mut files = BTreeMap::new();
    for op in catalog::all() {
        files.insert(
            format!("{}.input.json", op.name),
            pretty(&serde_json::Value::Object(op.input_schema.clone())),
        );
        files.insert(
            format!("{}.output.json", op.name),
            pretty(&serde_json::Value::Object(op.output_schema.clone())),
        );
    }
    files.insert("openapi.json".into(), pretty(&crate::openapi::document()));
    files
}

/// Writes every file, and removes stale `*.json` files the catalog no longer produces.
pub fn write(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let files = render();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().to_string();
        if name.ends_with(".json") && !files.contains_key(&name) {
            std::fs::remove_file(dir.join(&name))?;
        }
    }
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))?;
    }
    Ok(())
}

/// The names of files that are missing, stale or different.
pub fn drift(dir: &Path) -> anyhow::Result<Vec<String>> {
    let files = render();
    let mut problems = Vec::new();
    for (name, text) in &files {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(on_disk) if on_disk == *text => {}
            Ok(_) => problems.push(format!("{name} differs")),
            Err(_) => problems.push(format!("{name} is missing")),
        }
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.ends_with(".json") && !files.contains_key(&name) {
                problems.push(format!("{name} is stale"));
            }
        }
    }
    Ok(problems)
}
