//! The MCP HTTP endpoints, behind one Host/Origin guard: Streamable HTTP at `/mcp` (protocol
//! 2025-11-25 with sessions and 2026-07-28 stateless, from the one endpoint, by rmcp) and the
//! legacy SSE pair `/sse` + `/messages`.

use std::{sync::Arc, time::Duration};

use axum::{
    Router, middleware,
    routing::{get, post},
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::local::LocalSessionManager,
};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::{
    ClaraMcp,
    guard::{self, Policy},
    limits::{self, Caps, HttpSessions},
    sse::{self, Sessions, SseState},
};
use crate::app::App;

pub fn router(app: App) -> Router {
    let config = app.config();
    let policy = Policy::new(&config.allowed_hosts, &config.allowed_origins);
    // Our guard enforces one Host/Origin policy for all three endpoints, so rmcp's own
    // (loopback-only) host list is lifted here rather than kept as a second, different policy.
    let mcp_config = StreamableHttpServerConfig::default()
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(sse::message_limit(&app))
        .with_cancellation_token(app.shutdown_token().child_token());
    let caps = Caps {
        total: config.max_mcp_sessions,
        per_address: config.max_mcp_sessions_per_address,
    };
    let mut manager = LocalSessionManager::default();
    // A session that never sends `initialize` is dropped quickly; an idle one after 5 minutes.
    manager.session_config.init_timeout = Some(Duration::from_secs(10));
    let manager = Arc::new(manager);
    let factory_app = app.clone();
    let streamable = StreamableHttpService::new(
        move || Ok(ClaraMcp::new(factory_app.clone())),
        manager.clone(),
        mcp_config,
    );
    let http_sessions = HttpSessions::new(manager, caps);
    let streamable = Router::new()
        .fallback_service(streamable)
        .layer(middleware::from_fn_with_state(
            http_sessions,
            limits::cap_http_sessions,
        ))
        .layer(middleware::from_fn(limits::end_session_with_204));
    let sse_state = SseState {
        app,
        sessions: Sessions::default(),
        caps,
    };

    Router::new()
        .nest_service("/mcp", streamable)
        .route("/sse", get(sse::open))
        .route("/messages", post(sse::message))
        .route("/messages/", post(sse::message))
        .with_state(sse_state)
        .layer(middleware::from_fn_with_state(policy, guard::check))
        .layer(
            // The guard has already refused disallowed origins; browsers may read the rest.
            CorsLayer::new()
                .allow_origin(AllowOrigin::mirror_request())
                .allow_methods(tower_http::cors::Any)
                .allow_headers(tower_http::cors::Any)
                .expose_headers([
                    http::HeaderName::from_static("mcp-session-id"),
                    http::HeaderName::from_static("mcp-protocol-version"),
                ]),
        )
}
