//! Checks on the catalog and what is generated from it: tool names, titles and hints, the
//! committed `schemas/`, the migrations of both backends, the README table.

use std::path::Path;

use clara::catalog;

#[test]
fn tool_names_are_snake_case_and_unique() {
    let mut seen = std::collections::HashSet::new();
    for op in catalog::all() {
        assert!(
            !op.name.is_empty()
                && op
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{} must match ^[a-z0-9_]+$",
            op.name
        );
        assert!(seen.insert(op.name), "{} is listed twice", op.name);
    }
}

#[test]
fn every_tool_sets_a_title_and_all_four_hints() {
    for tool in clara::mcp::tools() {
        assert!(
            tool.title.as_deref().is_some_and(|t| !t.is_empty()),
            "{} has no title",
            tool.name
        );
        assert!(
            tool.description.as_deref().is_some_and(|d| !d.is_empty()),
            "{}",
            tool.name
        );
        let a = tool
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no annotations", tool.name));
        assert!(a.read_only_hint.is_some(), "{}: readOnlyHint", tool.name);
        assert!(
            a.destructive_hint.is_some(),
            "{}: destructiveHint",
            tool.name
        );
        assert!(a.idempotent_hint.is_some(), "{}: idempotentHint", tool.name);
        assert!(a.open_world_hint.is_some(), "{}: openWorldHint", tool.name);
        if a.read_only_hint == Some(true) {
            assert_eq!(
                a.destructive_hint,
                Some(false),
                "{}: read-only is not destructive",
                tool.name
            );
        }
    }
}

#[test]
fn every_input_and_output_field_is_documented() {
    for op in catalog::all() {
        for (kind, schema) in [("input", &op.input_schema), ("output", &op.output_schema)] {
            let props = schema.get("properties").and_then(|p| p.as_object());
            for (field, def) in props.into_iter().flatten() {
                assert!(
                    def.get("description").is_some() || def.get("$ref").is_some(),
                    "{} {kind} field {field} has no /// doc",
                    op.name
                );
            }
        }
    }
}

#[test]
fn committed_schemas_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let drift = clara::schemas::drift(&dir).unwrap();
    assert!(drift.is_empty(), "run `cargo run -- schemas`: {drift:?}");
}

#[test]
fn both_backends_have_migrations_with_the_same_names() {
    let names = |backend: &str| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        names
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"));
}

#[test]
fn the_readme_operation_table_matches_the_catalog() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let rows: Vec<(String, String)> = readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let tool = cells.get(1)?.trim_matches('`').to_string();
            let route = cells.get(2)?.trim_matches('`').to_string();
            route.contains(' ').then_some((tool, route))
        })
        .collect();
    for op in catalog::all() {
        let route = format!("{} {}", op.method, op.path);
        assert!(
            rows.iter()
                .any(|(tool, r)| tool == op.name && r.split('?').next() == Some(route.as_str())),
            "README lacks the row | `{}` | `{route}` |",
            op.name
        );
    }
    for (tool, _) in &rows {
        if tool.chars().all(|c| c.is_ascii_lowercase() || c == '_') && tool.contains('_') {
            assert!(
                catalog::find(tool).is_some(),
                "README lists {tool}, which the catalog lacks"
            );
        }
    }
}

#[test]
fn the_openapi_document_covers_every_operation_and_every_ref_resolves() {
    let doc = clara::openapi::document();
    let ids: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    for op in catalog::all() {
        assert!(
            ids.contains(&op.name),
            "{} is not in the OpenAPI document",
            op.name
        );
    }
    fn refs<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(target) = map.get("$ref").and_then(|r| r.as_str()) {
                    out.push(target);
                }
                map.values().for_each(|v| refs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for target in found {
        let pointer = target.strip_prefix('#').expect("local refs only");
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
    assert_eq!(doc["openapi"], "3.1.0");
}

#[test]
fn input_schemas_are_plain_enough_for_every_function_calling_back_end() {
    fn walk(name: &str, path: &str, value: &serde_json::Value) {
        let Some(object) = value.as_object() else {
            if let Some(items) = value.as_array() {
                items.iter().for_each(|v| walk(name, path, v));
            }
            return;
        };
        assert!(!object.contains_key("$ref"), "{name}{path} uses $ref");
        assert!(!object.contains_key("$defs"), "{name}{path} has $defs");
        assert!(!object.contains_key("oneOf"), "{name}{path} uses oneOf");
        assert_ne!(
            object.get("default"),
            Some(&serde_json::Value::Null),
            "{name}{path}"
        );
        if let Some(format) = object.get("format").and_then(|f| f.as_str()) {
            assert!(
                ["email", "uri", "date-time", "date", "uuid"].contains(&format),
                "{name}{path} uses the non-standard format {format}"
            );
        }
        if object.get("type") == Some(&serde_json::json!("object")) {
            assert!(
                object.contains_key("properties"),
                "{name}{path} lacks properties"
            );
        }
        for (key, child) in object {
            walk(name, &format!("{path}/{key}"), child);
        }
    }
    for op in catalog::all() {
        walk(
            op.name,
            "",
            &serde_json::Value::Object(op.input_schema.clone()),
        );
    }
}
