//! The OpenAPI 3.1 document of the REST API, generated from the catalog: one operation per
//! catalog entry, its input schema split into path, query and body parameters, its output
//! schema inside the Clara envelope, and the credentials it accepts.

use serde_json::{Map, Value, json};

use crate::{
    catalog::{self, Body, OpInfo, RestData},
    defaults::API_PREFIX as PREFIX,
};

pub fn document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for op in catalog::all() {
        let path = format!("{PREFIX}{}", op.path);
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        let mut operation = operation(op);
        hoist_defs(&mut operation, &mut schemas);
        // Parameters and the body take the input's properties; its definitions live at its root.
        hoist_defs(&mut Value::Object(op.input_schema.clone()), &mut schemas);
        entry[op.method.as_str().to_ascii_lowercase()] = operation;
    }
    schemas.insert("Error".into(), error_schema());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Clara API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Clara-Backend compatible REST API. Every response is the envelope \
                {data, message, status}; every operation is also an MCP tool of the same name."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "user_token": {"type": "http", "scheme": "bearer", "description": "clara_user_… token from Login, Register or Google sign-in"},
                "api_key_token": {"type": "http", "scheme": "bearer", "description": "clara_api_… token from API Key View/Reset"},
                "public_api_key": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "the raw public API key"},
                "private_api_key": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "the raw private (admin) API key"}
            },
            "schemas": schemas
        }
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["data", "message", "status"],
        "properties": {
            "data": {"anyOf": [{"type": "object"}, {"type": "null"}]},
            "message": {"type": "string"},
            "status": {"const": "error"}
        }
    })
}

/// Moves every `$defs` entry into `components/schemas` and points the `$ref`s there, so the
/// per-operation schemas resolve inside the one document.
fn hoist_defs(value: &mut Value, schemas: &mut Map<String, Value>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Object(defs)) = object.remove("$defs") {
                for (name, mut def) in defs {
                    hoist_defs(&mut def, schemas);
                    schemas.insert(name, def);
                }
            }
            object.remove("$schema");
            if let Some(Value::String(target)) = object.get_mut("$ref")
                && let Some(name) = target.strip_prefix("#/$defs/")
            {
                *target = format!("#/components/schemas/{name}");
            }
            for child in object.values_mut() {
                hoist_defs(child, schemas);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| hoist_defs(item, schemas)),
        _ => {}
    }
}

fn operation(op: &OpInfo) -> Value {
    let properties = op.input_schema.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = op
        .input_schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let path_names: Vec<&str> = path_params(op.path).collect();

    let mut parameters = Vec::new();
    let mut body_props = Map::new();
    for (name, schema) in properties.into_iter().flatten() {
        let mut schema = schema.clone();
        if let Some(object) = schema.as_object_mut() {
            object.remove("default"); // `null` defaults of optional MCP arguments
        }
        let schema = &schema;
        if path_names.contains(&name.as_str()) {
            parameters
                .push(json!({"name": name, "in": "path", "required": true, "schema": schema}));
        } else if op.body == Body::None {
            let required = required.contains(&name.as_str());
            parameters
                .push(json!({"name": name, "in": "query", "required": required, "schema": schema}));
        } else {
            body_props.insert(name.clone(), schema.clone());
        }
    }
    let mut value = json!({
        "operationId": op.name,
        "summary": op.title,
        "description": op.description,
        "parameters": parameters,
        "security": op.accepts.names().into_iter().map(|n| json!({ n: [] })).collect::<Vec<_>>(),
        "responses": {
            op.status.as_str(): success(op),
            "default": {
                "description": "An error, in the envelope with data null",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            }
        }
    });
    if op.body != Body::None {
        let body_required: Vec<&str> = required
            .iter()
            .copied()
            .filter(|r| !path_names.contains(r))
            .collect();
        let mut schema = json!({
            "type": "object",
            "properties": body_props,
            "required": body_required,
            "additionalProperties": false
        });
        if let Some(any_of) = op.input_schema.get("anyOf") {
            schema["anyOf"] = any_of.clone();
        }
        value["requestBody"] = if op.body == Body::Multipart {
            // The text fields, and one file part per file, named by the file name.
            let text = schema["properties"]["text"].clone();
            json!({
                "required": true,
                "content": {"multipart/form-data": {"schema": {
                    "type": "object",
                    "properties": {"text": text},
                    "additionalProperties": {"type": "string", "format": "binary"}
                }}}
            })
        } else {
            json!({
                "required": op.body == Body::Json,
                "content": {"application/json": {"schema": schema}}
            })
        };
    }
    value
}

fn success(op: &OpInfo) -> Value {
    if op.status == http::StatusCode::NO_CONTENT {
        return json!({"description": op.message});
    }
    json!({
        "description": op.message,
        "content": {"application/json": {"schema": envelope(op)}}
    })
}

fn envelope(op: &OpInfo) -> Value {
    let data = match op.rest_data {
        RestData::Null => json!({"type": "null"}),
        RestData::Output => Value::Object(op.output_schema.clone()),
        RestData::Items => {
            // The `items` array itself, keeping the definitions it refers to.
            let mut items = op.output_schema["properties"]["items"].clone();
            if let (Some(defs), Value::Object(map)) = (op.output_schema.get("$defs"), &mut items) {
                map.insert("$defs".into(), defs.clone());
            }
            items
        }
    };
    json!({
        "type": "object",
        "required": ["data", "message", "status"],
        "properties": {
            "data": data,
            "message": {"type": "string", "examples": [op.message]},
            "status": {"const": "success"}
        }
    })
}

/// `/users/{user_id}/tasks/{task_id}` → `user_id`, `task_id`.
pub fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}
