//! Caps on live MCP sessions, in total and per client address, for Streamable HTTP (`/mcp`)
//! and legacy SSE (`/sse`): `initialize` needs no credential, so without them one client could
//! open sessions until the memory runs out. A new session past a cap is a 503 with
//! `Retry-After` and a JSON-RPC error body; sessions already open keep working.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use axum::{
    Json,
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use serde_json::json;

/// How many sessions may be open.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub total: usize,
    pub per_address: usize,
}

/// The answer to a session past a cap.
pub fn refusal(what: &str) -> Response {
    let message = format!("Too many open MCP {what}; close some or try again later.");
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32000, "message": message}});
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    response
}

/// Which address opened each live Streamable HTTP session.
#[derive(Clone)]
pub struct HttpSessions {
    pub manager: Arc<LocalSessionManager>,
    owners: Arc<Mutex<HashMap<String, IpAddr>>>,
    pub caps: Caps,
}

impl HttpSessions {
    pub fn new(manager: Arc<LocalSessionManager>, caps: Caps) -> Self {
        Self {
            manager,
            owners: Arc::default(),
            caps,
        }
    }
}

/// In front of `/mcp`: a request that may open a session (a POST with neither a session id nor
/// the stateless protocol header) is refused when the caps are reached; a session the answer
/// opens is remembered with its address.
pub async fn cap_http_sessions(
    State(sessions): State<HttpSessions>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let opens = request.method() == http::Method::POST
        && !headers.contains_key("mcp-session-id")
        && !headers.contains_key("mcp-protocol-version");
    if !opens {
        return next.run(request).await;
    }
    let over = {
        let live = sessions.manager.sessions.read().await;
        let mut owners = sessions.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners.retain(|id, _| live.contains_key(id.as_str()));
        let mine = owners.values().filter(|ip| **ip == addr.ip()).count();
        live.len() >= sessions.caps.total || mine >= sessions.caps.per_address
    };
    if over {
        return refusal("sessions");
    }
    let response = next.run(request).await;
    if let Some(id) = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
    {
        let mut owners = sessions.owners.lock().unwrap_or_else(|e| e.into_inner());
        owners.insert(id.to_string(), addr.ip());
    }
    response
}

/// rmcp ends a session (`DELETE /mcp`) with 202; clients expect 200, 204 or 405 (the Python SDK
/// warns on anything else), so the answer is 204.
pub async fn end_session_with_204(request: Request, next: Next) -> Response {
    let deleting = request.method() == http::Method::DELETE;
    let mut response = next.run(request).await;
    if deleting && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
        *response.body_mut() = axum::body::Body::empty();
    }
    response
}
