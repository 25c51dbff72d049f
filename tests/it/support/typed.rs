//! Typed clients: call an operation by its catalog type, `app.rest::<O>(auth, input)` over REST
//! or `mcp::op::<O>(&client, input)` over any MCP transport, and get `Result<O::Out, ErrorBody>`.
//! The request is built from the operation's contract: path parameters from the input, the
//! rest as query (no-body routes) or JSON body, Login's email and password as Basic.

use clara::{
    catalog::{Accepts, Body, Contract, Operation, RestData},
    error::ErrorBody,
};
use rmcp::{
    Peer, RoleClient,
    model::{CallToolRequestParams, CallToolResult},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};

use super::{RestReply, TestApp, flows::basic};

/// The input as a JSON object without its null fields (an omitted optional).
pub fn args<T: Serialize>(input: &T) -> Map<String, Value> {
    match serde_json::to_value(input).expect("inputs serialise") {
        Value::Object(mut map) => {
            map.retain(|_, v| !v.is_null());
            map
        }
        other => panic!("an input serialises as an object, not {other}"),
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl TestApp {
    /// Sends the REST request for `contract` with these arguments and an `Authorization` value.
    pub async fn rest_raw(
        &self,
        contract: &Contract,
        auth: Option<&str>,
        mut args: Map<String, Value>,
    ) -> RestReply {
        let mut path = contract.path.to_string();
        while let Some(open) = path.find('{') {
            let close = path[open..].find('}').unwrap() + open;
            let name = path[open + 1..close].to_string();
            let value = args
                .remove(&name)
                .unwrap_or_else(|| panic!("{}: the input has no {name}", contract.name));
            path.replace_range(open..=close, &text(&value));
        }
        let mut authorization = auth.map(str::to_string);
        if contract.accepts == Accepts::BASIC {
            let email = args.remove("email").map(|v| text(&v)).unwrap_or_default();
            let password = args
                .remove("password")
                .map(|v| text(&v))
                .unwrap_or_default();
            authorization = Some(basic(&email, &password));
        }
        if contract.body == Body::None && !args.is_empty() {
            let pairs: Vec<(String, String)> =
                args.iter().map(|(k, v)| (k.clone(), text(v))).collect();
            path = format!("{path}?{}", serde_urlencoded::to_string(&pairs).unwrap());
            args.clear();
        }
        let method = reqwest::Method::from_bytes(contract.method.as_str().as_bytes()).unwrap();
        let mut request = self.http.request(method, self.api(&path));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request = match contract.body {
            Body::None => request,
            Body::OptionalJson if args.is_empty() => request,
            Body::Json | Body::OptionalJson => request.json(&args),
            Body::Multipart => {
                let (content_type, body) = multipart(&args);
                request.header("content-type", content_type).body(body)
            }
        };
        self.send(request).await
    }

    /// Calls operation `O` over REST and returns the raw reply (status, headers, envelope).
    pub async fn rest_reply<O: Operation>(&self, auth: Option<&str>, input: O::In) -> RestReply {
        self.rest_raw(&O::CONTRACT, auth, args(&input)).await
    }

    /// Calls operation `O` over REST.
    pub async fn rest<O: Operation>(
        &self,
        auth: Option<&str>,
        input: O::In,
    ) -> Result<O::Out, ErrorBody> {
        let reply = self.rest_raw(&O::CONTRACT, auth, args(&input)).await;
        decode_rest::<O::Out>(&O::CONTRACT, &reply)
    }
}

/// A REST reply as the operation's output, or its error.
pub fn decode_rest<T: DeserializeOwned>(
    contract: &Contract,
    reply: &RestReply,
) -> Result<T, ErrorBody> {
    if (200..300).contains(&reply.status) {
        let data = if reply.status == 204 {
            json!({ "message": contract.message })
        } else if contract.rest_data == RestData::Null {
            json!({ "message": reply.message() })
        } else if contract.rest_data == RestData::Items {
            json!({ "items": reply.data() })
        } else {
            reply.data().clone()
        };
        return Ok(serde_json::from_value(data).unwrap_or_else(|e| {
            panic!(
                "{}: the REST data is not its output ({e}): {:?}",
                contract.name, reply.body
            )
        }));
    }
    Err(ErrorBody {
        code: String::new(),
        message: reply.message().to_string(),
        status: reply.status,
        data: Some(reply.data().clone()).filter(|d| !d.is_null()),
        detail: None,
    })
}

/// Calls a tool with JSON object arguments and returns the raw result.
pub async fn call_raw(
    client: &Peer<RoleClient>,
    name: &str,
    args: Map<String, Value>,
) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("tools/call {name} failed: {e}"))
}

/// A tool result as the operation's output, or its error (the JSON text of an `isError` result).
pub fn decode_mcp<T: DeserializeOwned>(
    name: &str,
    result: &CallToolResult,
) -> Result<T, ErrorBody> {
    if result.is_error == Some(true) {
        assert!(
            result.structured_content.is_none(),
            "{name}: errors carry no structured content"
        );
        let text = &result.content[0].as_text().expect("a text block").text;
        return Err(serde_json::from_str(text).expect("the error text is an ErrorBody"));
    }
    let data = result
        .structured_content
        .clone()
        .expect("structured content");
    Ok(serde_json::from_value(data).unwrap_or_else(|e| panic!("{name}: not its output ({e})")))
}

/// Calls operation `O` over an MCP connection.
pub async fn op<O: Operation>(
    client: &Peer<RoleClient>,
    input: O::In,
) -> Result<O::Out, ErrorBody> {
    let result = call_raw(client, O::CONTRACT.name, args(&input)).await;
    decode_mcp::<O::Out>(O::CONTRACT.name, &result)
}

/// A `multipart/form-data` body the way Clara's front end sends one: each string argument a
/// text field, each of `attachments` (`{name, content_base64}`) a file part named by the file.
pub fn multipart(args: &Map<String, Value>) -> (String, Vec<u8>) {
    use base64::Engine as _;
    let boundary = "clara-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    let mut part = |headers: String, content: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    for (key, value) in args {
        if key == "attachments" {
            for file in value.as_array().into_iter().flatten() {
                let name = file["name"].as_str().unwrap_or_default();
                let content = base64::engine::general_purpose::STANDARD
                    .decode(file["content_base64"].as_str().unwrap_or_default())
                    .unwrap_or_default();
                part(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\
                         Content-Type: application/octet-stream"
                    ),
                    &content,
                );
            }
        } else {
            let disposition = format!("Content-Disposition: form-data; name=\"{key}\"");
            part(disposition, text(value).as_bytes());
        }
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
