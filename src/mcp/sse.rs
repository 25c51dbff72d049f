//! Legacy MCP HTTP+SSE (protocol 2024-11-05), which rmcp 3.x no longer ships: `GET /sse` opens
//! a session and announces `/messages?session_id=…`; `POST /messages` feeds it (202). A session
//! lives exactly as long as its event stream. Built on rmcp's generic (Sink, Stream) transport.

use std::{
    collections::HashMap,
    convert::Infallible,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use axum::{
    Json,
    body::{Body, to_bytes},
    extract::{ConnectInfo, Query, Request, State},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures::{StreamExt, channel::mpsc};
use http::{StatusCode, header};
use rmcp::{
    RoleServer, ServiceExt,
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
};
use serde::Deserialize;
use serde_json::json;

use super::{
    ClaraMcp,
    limits::{Caps, refusal},
};
use crate::{app::App, caller::Credential};

/// Largest JSON-RPC message `/messages` and `/mcp` accept: 4 MiB, or room for a full upload
/// (`CLARA_MAX_UPLOAD_BYTES` of attachments, base64-encoded) when that is larger.
pub fn message_limit(app: &App) -> usize {
    let upload = app.config().upload_limit;
    (4 * 1024 * 1024).max(upload / 3 * 4 + 64 * 1024)
}

type Inbox = mpsc::UnboundedSender<RxJsonRpcMessage<RoleServer>>;

/// The open SSE sessions, by id, with the address that opened each.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, (Inbox, IpAddr)>>>);

impl Sessions {
    /// Registers a session unless a cap is reached.
    fn insert(&self, id: String, inbox: Inbox, from: IpAddr, caps: Caps) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mine = map.values().filter(|(_, ip)| *ip == from).count();
        if map.len() >= caps.total || mine >= caps.per_address {
            return false;
        }
        map.insert(id, (inbox, from));
        true
    }
    fn remove(&self, id: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
    fn get(&self, id: &str) -> Option<Inbox> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .map(|(inbox, _)| inbox.clone())
    }
}

#[derive(Clone)]
pub struct SseState {
    pub app: App,
    pub sessions: Sessions,
    pub caps: Caps,
}

/// Removes the session when the event stream is dropped (client gone or server stopping).
struct SessionGuard {
    sessions: Sessions,
    id: String,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.sessions.remove(&self.id);
        tracing::debug!(session = %self.id, "sse session closed");
    }
}

/// `GET /sse`
pub async fn open(
    State(state): State<SseState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let headers = request.headers();
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let credential = text("authorization").as_deref().and_then(Credential::parse);
    let handler = ClaraMcp::new(state.app.clone()).with_defaults(
        credential,
        text("user-id"),
        Some(addr.ip()),
    );

    let id = uuid::Uuid::new_v4().simple().to_string();
    let (inbox, from_client) = mpsc::unbounded::<RxJsonRpcMessage<RoleServer>>();
    let (to_client, outbox) = mpsc::unbounded::<TxJsonRpcMessage<RoleServer>>();
    if !state
        .sessions
        .insert(id.clone(), inbox, addr.ip(), state.caps)
    {
        return refusal("SSE streams");
    }
    tokio::spawn(async move {
        match handler.serve((to_client, from_client)).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(err) => tracing::debug!(error = %err, "sse session ended before initialize"),
        }
    });
    tracing::debug!(session = %id, "sse session opened");

    let guard = SessionGuard {
        sessions: state.sessions.clone(),
        id: id.clone(),
    };
    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("/messages?session_id={id}"));
    let messages = outbox.map(move |message| {
        let _keep_session_while_streaming = &guard;
        let data = serde_json::to_string(&message).unwrap_or_default();
        Ok(Event::default().event("message").data(data))
    });
    let stopping = state.app.shutdown_token().clone().cancelled_owned();
    let stream = futures::stream::once(async { Ok::<_, Infallible>(endpoint) })
        .chain(messages)
        .take_until(stopping);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct SessionQuery {
    session_id: Option<String>,
    /// The spelling some 2024-era clients use.
    #[serde(rename = "sessionId")]
    session_id_camel: Option<String>,
}

/// `POST /messages?session_id=…`
pub async fn message(
    State(state): State<SseState>,
    Query(query): Query<SessionQuery>,
    request: Request,
) -> Response {
    let Some(id) = query.session_id.or(query.session_id_camel) else {
        return rpc_error(StatusCode::BAD_REQUEST, -32600, "Missing session_id");
    };
    let Some(inbox) = state.sessions.get(&id) else {
        return rpc_error(StatusCode::NOT_FOUND, -32001, "Session not found");
    };
    let (parts, body): (http::request::Parts, Body) = request.into_parts();
    let bytes = match to_bytes(body, message_limit(&state.app)).await {
        Ok(bytes) => bytes,
        Err(_) => return rpc_error(StatusCode::PAYLOAD_TOO_LARGE, -32600, "Message too large"),
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !content_type.is_some_and(|ct| ct.starts_with("application/json")) {
        return rpc_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            -32600,
            "Content-Type must be application/json",
        );
    }
    let mut message = match serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(&bytes) {
        Ok(message) => message,
        Err(err) => {
            let code = if serde_json::from_slice::<serde_json::Value>(&bytes).is_ok() {
                -32600
            } else {
                -32700
            };
            return rpc_error(
                StatusCode::BAD_REQUEST,
                code,
                &format!("Invalid message: {err}"),
            );
        }
    };
    if let rmcp::model::JsonRpcMessage::Request(request) = &mut message {
        // Tools read the caller's headers from here, as on Streamable HTTP.
        rmcp::model::GetExtensions::extensions_mut(&mut request.request).insert(parts);
    }
    match inbox.unbounded_send(message) {
        Ok(()) => (StatusCode::ACCEPTED, "Accepted").into_response(),
        Err(_) => rpc_error(StatusCode::NOT_FOUND, -32001, "Session not found"),
    }
}

fn rpc_error(status: StatusCode, code: i32, message: &str) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    (status, Json(body)).into_response()
}
