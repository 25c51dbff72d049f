//! [`Effect::OpenUrl`](crate::catalog::Effect::OpenUrl): after an operation whose output carries a
//! page for the user (a Stripe Checkout URL), ask the client to open it, the MCP spec's route for
//! payments, when the client declares URL elicitation:
//! - 2025-11-25 sessions: an `elicitation/create` request with `mode: "url"` during the call;
//!   whatever the user answers, the tool result (with the URL) follows.
//! - 2026-07-28 (stateless): an input-required result carrying that elicitation and the output
//!   sealed in `requestState`; the client's retry returns the sealed output, so the operation
//!   (and its Stripe call) runs once.
//!
//! Clients without URL elicitation get the plain tool result: the URL is always in it.

use std::time::Duration;

use rmcp::{
    RoleServer,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ElicitRequest,
        ElicitRequestParams, InputRequest, InputRequests, InputRequiredResult, RequestStateCodec,
    },
    service::RequestContext,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{app::App, crypto};

/// How long a 2025-11-25 client has to answer before the result goes out anyway.
const ANSWER_WITHIN: Duration = Duration::from_secs(120);
/// How long a sealed output may be redeemed by the client's retry.
const STATE_TTL_SECS: i64 = 3600;

/// How this client can be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// No URL elicitation: just the result.
    No,
    /// A 2025-11-25 session: a server-to-client request during the call.
    Request,
    /// 2026-07-28: an input-required result, answered by a retry.
    InputRequired,
}

pub fn how(context: &RequestContext<RoleServer>) -> Ask {
    let supports = |caps: &rmcp::model::ClientCapabilities| {
        caps.elicitation.as_ref().is_some_and(|e| e.url.is_some())
    };
    if let Some(caps) = context.meta.client_capabilities() {
        return if supports(&caps) {
            Ask::InputRequired
        } else {
            Ask::No
        };
    }
    match context.peer.peer_info() {
        Some(info) if supports(&info.capabilities) => Ask::Request,
        _ => Ask::No,
    }
}

/// The sealed `requestState`: which tool, what it answered, until when.
#[derive(Debug, Serialize, Deserialize)]
struct Sealed {
    tool: String,
    output: Value,
    expires_at: i64,
}

/// A codec keyed from the server secret, so every process of one deployment opens the state.
fn codec(app: &App) -> Option<RequestStateCodec> {
    let key = crypto::mac(&app.config().secret_key, "mcp-request-state", "");
    RequestStateCodec::try_new(key.into_bytes()).ok()
}

fn message(url: &str) -> String {
    let host = url.split('/').nth(2).unwrap_or(url);
    format!("Open {host} to pay for the credits. They are added once the payment is confirmed.")
}

fn elicitation(url: &str) -> ElicitRequestParams {
    ElicitRequestParams::UrlElicitationParams {
        meta: None,
        message: message(url),
        url: url.to_string(),
        elicitation_id: crypto::new_id("elicitation"),
    }
}

/// The client's retry of an input-required call: the output sealed in its `requestState`, if
/// the state is ours, for this tool, and fresh. `None` for a first call.
pub fn resume(app: &App, request: &CallToolRequestParams) -> Option<Result<Value, String>> {
    let sealed = request.request_state.as_deref()?;
    let opened = codec(app).map(|c| c.open_json::<Sealed>(sealed));
    let opened = match opened {
        Some(Ok(opened)) => opened,
        _ => return Some(Err("requestState failed integrity verification".into())),
    };
    if opened.tool != request.name || opened.expires_at < app.now() {
        return Some(Err("requestState is for another call or has expired".into()));
    }
    Some(Ok(opened.output))
}

/// Asks the client to open `output["url"]`, as `ask` says, and answers the call.
pub async fn answer(
    app: &App,
    context: &RequestContext<RoleServer>,
    tool: &str,
    ask: Ask,
    result: CallToolResult,
) -> CallToolResponse {
    let url = result
        .structured_content
        .as_ref()
        .and_then(|out| out.get("url"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let (Some(url), false) = (url, result.is_error == Some(true)) else {
        return result.into();
    };
    match ask {
        Ask::No => result.into(),
        Ask::Request => {
            let asked = context.peer.create_elicitation(elicitation(&url));
            match tokio::time::timeout(ANSWER_WITHIN, asked).await {
                Ok(Ok(reply)) => {
                    tracing::debug!(action = ?reply.action, "checkout URL elicitation")
                }
                Ok(Err(err)) => tracing::debug!(error = %err, "checkout URL elicitation failed"),
                Err(_) => tracing::debug!("checkout URL elicitation unanswered"),
            }
            result.into()
        }
        Ask::InputRequired => {
            let sealed = Sealed {
                tool: tool.to_string(),
                output: result.structured_content.clone().unwrap_or_default(),
                expires_at: app.now() + STATE_TTL_SECS,
            };
            let Some(Ok(state)) = codec(app).map(|c| c.seal_json(&sealed)) else {
                return result.into();
            };
            let mut requests = InputRequests::new();
            let request = InputRequest::Elicitation(ElicitRequest::new(elicitation(&url)));
            requests.insert("open_checkout".into(), request);
            InputRequiredResult::new(Some(requests), Some(state)).into()
        }
    }
}
