//! Composition: the REST router, the MCP routers and the background workers, wired over one
//! [`App`]. The top of the crate: it imports the adapters; nothing imports it.

use std::{future::Future, time::Duration};

use axum::Router;
use tokio::net::TcpListener;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::{app::App, listener, mail, mcp, rest};

/// Every HTTP route: REST under `/api/v1` (catalog routes plus the hand-written ones), MCP
/// Streamable HTTP at `/mcp`, legacy SSE at `/sse` + `/messages`.
pub fn router(app: &App) -> Router {
    rest::router(app.clone(), rest::extra_routes())
        .merge(mcp::http::router(app.clone()))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            rest::budget_large_bodies,
        ))
        .layer(axum::middleware::from_fn(rest::refuse_duplicate_headers))
        .layer(axum::middleware::from_fn_with_state(
            std::sync::Arc::new(app.config().trusted_proxies.clone()),
            rest::trust_proxies,
        ))
        // A body sent slower than this is cut off (a half-sent request cannot hold a worker).
        .layer(RequestBodyTimeoutLayer::new(app.config().body_timeout))
}

/// Starts the background work: the mail outbox worker and the rate limiter's housekeeping.
/// Both stop with the app's shutdown token.
pub fn start_background(app: &App) {
    let worker = mail::worker::Worker {
        store: app.store().clone(),
        mailer: app.mailer().clone(),
        clock: app.clock().clone(),
    };
    tokio::spawn(mail::worker::run(worker, app.shutdown_token().clone()));
    crate::services::analysis::start(app);
    let app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                () = app.shutdown_token().cancelled() => return,
                _ = tick.tick() => app.limiter().shrink(app.now()),
            }
        }
    });
}

/// Serves every route on `listener` until `shutdown` resolves; then stops accepting, ends
/// long-lived streams, and lets in-flight requests finish. The testable entry point.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    start_background(&app);
    let token = app.shutdown_token().clone();
    let limits = listener::Limits {
        per_address: app.config().max_connections_per_address,
        header_timeout: app.config().header_timeout,
    };
    let stop = async move {
        shutdown.await;
        token.cancel();
    };
    listener::serve(listener, router(&app), limits, stop).await;
    Ok(())
}

/// `clara stdio`: MCP over stdin/stdout, with the background workers, until stdin closes or
/// `shutdown` resolves.
pub async fn stdio(
    app: App,
    api_key: Option<String>,
    user_id: Option<String>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let result = tokio::select! {
        result = mcp::serve_stdio(app.clone(), api_key, user_id, || start_background(&app)) => result,
        () = shutdown => Ok(()),
    };
    app.shutdown_token().cancel();
    result
}
