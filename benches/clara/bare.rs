//! The ceiling of our stack: rmcp 3.11 and axum with one trivial tool, no database, no
//! credentials. The bench binary runs it as a child (`clara-bench bare-server stdio|http|sse`),
//! over the same transports Clara serves: rmcp's `stdio_pipes`, rmcp's Streamable HTTP service
//! (sessions for 2025-11-25, stateless for 2026-07-28) and a minimal legacy SSE adapter on
//! rmcp's generic (Sink, Stream) transport.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::sse::{Event, KeepAlive, Sse},
    serve::ListenerExt,
};
use futures::{StreamExt, channel::mpsc};
use rmcp::{
    Json, RoleServer, ServerHandler, ServiceExt,
    service::{RxJsonRpcMessage, TxJsonRpcMessage},
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
    },
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, JsonSchema)]
pub struct Version {
    /// The server's version.
    version: String,
}

#[derive(Clone)]
pub struct Bare;

#[tool_router]
impl Bare {
    fn new() -> Self {
        Self
    }

    #[tool(
        description = "The server's version.",
        annotations(read_only_hint = true)
    )]
    async fn misc_version(&self) -> Json<Version> {
        Json(Version {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
    }
}

#[tool_handler(name = "bare-rmcp", version = "3.11.0")]
impl ServerHandler for Bare {}

type Inbox = mpsc::UnboundedSender<RxJsonRpcMessage<RoleServer>>;

#[derive(Clone, Default)]
struct Sessions(Arc<Mutex<HashMap<String, Inbox>>>);

async fn sse_open(
    State(sessions): State<Sessions>,
) -> Sse<impl futures::Stream<Item = Result<Event, Infallible>>> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (inbox, from_client) = mpsc::unbounded::<RxJsonRpcMessage<RoleServer>>();
    let (to_client, outbox) = mpsc::unbounded::<TxJsonRpcMessage<RoleServer>>();
    sessions.0.lock().unwrap().insert(id.clone(), inbox);
    let sid = id.clone();
    tokio::spawn(async move {
        if let Ok(running) = Bare::new().serve((to_client, from_client)).await {
            let _ = running.waiting().await;
        }
        sessions.0.lock().unwrap().remove(&sid);
    });
    let endpoint = futures::stream::once(async move {
        Ok(Event::default()
            .event("endpoint")
            .data(format!("/messages?session_id={id}")))
    });
    let messages = outbox.map(|message| {
        Ok(Event::default()
            .event("message")
            .data(serde_json::to_string(&message).unwrap_or_default()))
    });
    Sse::new(endpoint.chain(messages)).keep_alive(KeepAlive::default())
}

#[derive(Deserialize)]
struct SessionQuery {
    session_id: String,
}

async fn sse_message(
    State(sessions): State<Sessions>,
    Query(query): Query<SessionQuery>,
    body: axum::body::Bytes,
) -> StatusCode {
    let Ok(message) = serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let inbox = sessions.0.lock().unwrap().get(&query.session_id).cloned();
    match inbox {
        Some(inbox) if inbox.unbounded_send(message).is_ok() => StatusCode::ACCEPTED,
        Some(_) => StatusCode::GONE,
        None => StatusCode::NOT_FOUND,
    }
}

/// `bare-server stdio`, `bare-server http PORT`, `bare-server sse PORT`.
pub async fn main(mode: &str, port: Option<u16>) -> anyhow::Result<()> {
    let bind = || async move {
        let port = port.ok_or_else(|| anyhow::anyhow!("a port is needed"))?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        // As Clara's listener does: no Nagle delay on small SSE writes.
        Ok::<_, anyhow::Error>(listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        }))
    };
    match mode {
        "stdio" => {
            Bare::new()
                .serve(rmcp::transport::io::stdio_pipes())
                .await?
                .waiting()
                .await?;
        }
        "http" => {
            let service = StreamableHttpService::new(
                || Ok(Bare::new()),
                LocalSessionManager::default().into(),
                StreamableHttpServerConfig::default(),
            );
            let router = axum::Router::new().nest_service("/mcp", service);
            axum::serve(bind().await?, router).await?;
        }
        "sse" => {
            let router = axum::Router::new()
                .route("/sse", axum::routing::get(sse_open))
                .route("/messages", axum::routing::post(sse_message))
                .with_state(Sessions::default());
            axum::serve(bind().await?, router).await?;
        }
        other => anyhow::bail!("unknown bare-server mode {other}"),
    }
    Ok(())
}
