//! The OpenAPI 3.1 document of the REST API, generated from the catalog: one operation per
//! catalog entry, its input schema split into path, query and body parameters, its output
//! schema inside the Clara envelope, and the credentials it accepts.

use serde_json::{Map, Value, json};

use crate::{
    catalog::{self, Body, OpInfo},
    rest::PREFIX,
};

pub fn document() -> Value {
    let mut paths = Map::new();
    for op in catalog::all() {
        let path = format!("{PREFIX}{}", op.path);
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[op.method.as_str().to_ascii_lowercase()] = operation(op);
    }
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
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["data", "message", "status"],
                    "properties": {
                        "data": {"type": ["object", "null"]},
                        "message": {"type": "string"},
                        "status": {"const": "error"}
                    }
                }
            }
        }
    })
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
            op.status.as_str(): {
                "description": op.message,
                "content": {"application/json": {"schema": envelope(op)}}
            },
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
        value["requestBody"] = json!({
            "required": op.body == Body::Json,
            "content": {"application/json": {"schema": {
                "type": "object",
                "properties": body_props,
                "required": body_required,
                "additionalProperties": false
            }}}
        });
    }
    value
}

fn envelope(op: &OpInfo) -> Value {
    let mut data = Value::Object(op.output_schema.clone());
    if let Some(object) = data.as_object_mut() {
        object.remove("$schema");
    }
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
