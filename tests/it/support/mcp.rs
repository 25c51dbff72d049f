//! MCP clients for tests: rmcp's client over a `clara stdio` child process, over Streamable
//! HTTP (`/mcp`), and over legacy SSE (`/sse`, with our small client transport in `sse.rs`).

use std::collections::HashMap;

use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult},
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::Value;

use super::TestApp;

pub type Client = RunningService<RoleClient, ()>;

/// The three MCP transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Stdio,
    Http,
    Sse,
}

pub const ALL: [Transport; 3] = [Transport::Stdio, Transport::Http, Transport::Sse];

impl TestApp {
    /// An MCP client over `transport`, sending `headers` (HTTP) or `env` (stdio).
    pub async fn mcp(&self, transport: Transport) -> Client {
        self.mcp_with(transport, &[]).await
    }

    /// `credentials`: (`Authorization` value, `User-Id` value) pairs as headers over HTTP and SSE;
    /// over stdio the `Authorization` value (a token) becomes `CLARA_API_KEY`.
    pub async fn mcp_with(&self, transport: Transport, headers: &[(&str, &str)]) -> Client {
        self.mcp_handler(transport, headers, ()).await
    }

    /// [`TestApp::mcp_with`] with a client handler of the test's own (elicitation…).
    pub async fn mcp_handler<H: rmcp::ClientHandler>(
        &self,
        transport: Transport,
        headers: &[(&str, &str)],
        handler: H,
    ) -> RunningService<RoleClient, H> {
        match transport {
            Transport::Stdio => {
                let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_clara"));
                command.arg("stdio").envs(self.child_env());
                for (name, value) in headers {
                    match name.to_ascii_lowercase().as_str() {
                        "authorization" => {
                            let token = value.strip_prefix("Bearer ").unwrap_or(value);
                            command.env("CLARA_API_KEY", token);
                        }
                        "user-id" => {
                            command.env("CLARA_USER_ID", value);
                        }
                        other => panic!("no stdio equivalent for header {other}"),
                    }
                }
                let process = TokioChildProcess::new(command).expect("spawn clara stdio");
                handler.serve(process).await.expect("stdio initialize")
            }
            Transport::Http => {
                let map: HashMap<_, _> = headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                            http::HeaderValue::from_str(v).unwrap(),
                        )
                    })
                    .collect();
                let config = StreamableHttpClientTransportConfig::with_uri(self.url("/mcp"))
                    .custom_headers(map);
                let transport =
                    StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
                handler.serve(transport).await.expect("http initialize")
            }
            Transport::Sse => {
                let transport = super::sse::connect(&self.url("/sse"), headers).await;
                handler.serve(transport).await.expect("sse initialize")
            }
        }
    }
}

/// Calls a tool with JSON object arguments.
pub async fn call(client: &Client, name: &str, args: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(name.to_string());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    client
        .call_tool(params)
        .await
        .unwrap_or_else(|e| panic!("tools/call {name} failed: {e}"))
}

/// The structured content of a successful call.
pub fn ok(result: &CallToolResult) -> &Value {
    assert_ne!(result.is_error, Some(true), "tool error: {result:?}");
    result
        .structured_content
        .as_ref()
        .expect("structured content")
}

/// The `{code, message, status}` of a failed call (a JSON text block, no structured content).
pub fn err(result: &CallToolResult) -> Value {
    assert_eq!(
        result.is_error,
        Some(true),
        "expected a tool error: {result:?}"
    );
    assert!(
        result.structured_content.is_none(),
        "errors carry no structured content"
    );
    let text = &result.content[0].as_text().expect("a text block").text;
    serde_json::from_str(text).expect("the error text is JSON")
}

/// The `_meta` every 2026-07-28 request carries: protocol version, client capabilities and
/// a client named `client`.
pub fn stateless_meta(client: &str, capabilities: Value) -> Value {
    serde_json::json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": client, "version": "1"},
    })
}

impl TestApp {
    /// One stateless (2026-07-28) `tools/call` on `/mcp` as a raw HTTP request; `params` holds
    /// the tool's `name`, its `arguments` and the `_meta`. The JSON-RPC answer, whether the
    /// server framed it as JSON or as one SSE event.
    pub async fn stateless_call(&self, bearer: Option<&str>, params: Value) -> Value {
        let name = params["name"].as_str().unwrap_or_default().to_string();
        let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                      "params": params});
        let mut request = self
            .http
            .post(self.url("/mcp"))
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", name)
            .json(&body);
        if let Some(bearer) = bearer {
            request = request.header("authorization", bearer);
        }
        let text = request.send().await.unwrap().text().await.unwrap();
        let json = text
            .lines()
            .find_map(|l| l.strip_prefix("data:"))
            .unwrap_or(&text)
            .trim();
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {text}"))
    }
}
