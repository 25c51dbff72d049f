//! Health and Version over REST and MCP, and graceful shutdown.

use serde_json::json;

use crate::support::{TestApp, mcp};

#[tokio::test]
async fn health_is_healthy_with_the_documented_envelope() {
    let app = TestApp::spawn().await;
    let reply = app.get("/health").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"data": {"service": "clara", "status": "healthy"}, "message": "Health check successful.", "status": "success"})
    );
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{:?}",
        reply.headers
    );
}

#[tokio::test]
async fn version_is_the_crate_version() {
    let app = TestApp::spawn().await;
    let reply = app.get("/version").await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({"data": {"version": env!("CARGO_PKG_VERSION")}, "message": "Version check successful.", "status": "success"})
    );
}

#[tokio::test]
async fn health_is_503_unhealthy_when_the_database_does_not_answer() {
    let app = TestApp::spawn().await;
    app.app.store().close().await;
    let reply = app.get("/health").await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.body["data"],
        json!({"service": "clara", "status": "unhealthy"})
    );
    assert_eq!(reply.body["status"], "error");

    let client = app.mcp(mcp::Transport::Http).await;
    let result = mcp::call(&client, "misc_health", json!({})).await;
    assert_eq!(result.is_error, Some(true));
    assert_eq!(result.structured_content.unwrap()["status"], "unhealthy");
}

#[tokio::test]
async fn the_response_keys_are_in_alphabetical_order_like_the_original() {
    let app = TestApp::spawn().await;
    let text = app
        .http
        .get(app.api("/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let data = text.find("\"data\"").unwrap();
    let message = text.find("\"message\"").unwrap();
    let status = text.rfind("\"status\":\"success\"").unwrap();
    assert!(data < message && message < status, "{text}");
}

#[tokio::test]
async fn cors_is_open_on_the_rest_api() {
    let app = TestApp::spawn().await;
    let response = app
        .http
        .request(reqwest::Method::OPTIONS, app.api("/health"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn shutdown_lets_an_open_sse_stream_end_and_the_server_stop() {
    let mut app = TestApp::spawn().await;
    let client = app.mcp(mcp::Transport::Sse).await;
    let result = mcp::call(&client, "misc_version", json!({})).await;
    assert_eq!(mcp::ok(&result)["version"], env!("CARGO_PKG_VERSION"));
    tokio::time::timeout(std::time::Duration::from_secs(10), app.stop())
        .await
        .expect("graceful shutdown does not hang on open SSE streams");
    assert!(
        app.http.get(app.api("/health")).send().await.is_err(),
        "no longer listening"
    );
}
