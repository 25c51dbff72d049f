//! Malformed requests get a clear error in the documented format and change nothing.

use serde_json::json;

use crate::support::{TestApp, mcp};

async fn still_healthy(app: &TestApp) {
    let reply = app.get("/health").await;
    assert_eq!(reply.status, 200, "server still healthy: {:?}", reply.body);
}

#[tokio::test]
async fn unknown_routes_are_404_in_the_envelope() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/nope",
        "/api/v1/users/x/nothing",
        "/nope",
        "/api/v2/health",
    ] {
        let reply = app.send(app.http.get(app.url(path))).await;
        assert_eq!(reply.status, 404, "{path}");
        assert_eq!(
            reply.body,
            json!({"data": null, "message": "The requested route does not exist.", "status": "error"})
        );
    }
}

#[tokio::test]
async fn wrong_methods_are_405_in_the_envelope() {
    let app = TestApp::spawn().await;
    for method in [
        reqwest::Method::POST,
        reqwest::Method::DELETE,
        reqwest::Method::PATCH,
    ] {
        let reply = app
            .send(app.http.request(method.clone(), app.api("/version")))
            .await;
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(
            reply.message(),
            "The requested method is not allowed for this route."
        );
        assert_eq!(reply.body["data"], json!(null));
    }
}

#[tokio::test]
async fn unknown_tools_are_json_rpc_errors_and_bad_arguments_are_tool_errors() {
    let app = TestApp::spawn().await;
    for transport in mcp::ALL {
        let client = app.mcp(transport).await;
        let params = rmcp::model::CallToolRequestParams::new("no_such_tool");
        let err = client.call_tool(params).await.expect_err("unknown tool");
        assert!(
            err.to_string().contains("tool not found"),
            "{transport:?}: {err}"
        );

        let result = mcp::call(&client, "misc_version", json!({"unexpected": 1})).await;
        let body = mcp::err(&result);
        assert_eq!(body["code"], "invalid_input", "{transport:?}");
        assert_eq!(
            body["message"],
            "One or more required parameters are either not given or have invalid schema."
        );
        assert_eq!(body["status"], 400);
        // The connection is still usable.
        let result = mcp::call(&client, "misc_health", json!({})).await;
        assert_eq!(mcp::ok(&result)["status"], "healthy");
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn invalid_json_rpc_on_mcp_is_rejected_without_harm() {
    let app = TestApp::spawn().await;
    let post = |body: &'static str| {
        app.http
            .post(app.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body)
            .send()
    };
    for body in ["{not json", "[]", "{\"jsonrpc\":\"2.0\"}", "42"] {
        let response = post(body).await.unwrap();
        assert!(
            response.status().is_client_error(),
            "{body}: {}",
            response.status()
        );
    }
    let response = app
        .http
        .post(app.url("/mcp"))
        .header("content-type", "text/plain")
        .header("accept", "application/json, text/event-stream")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error(), "{}", response.status());
    still_healthy(&app).await;
}

#[tokio::test]
async fn bad_origins_and_hosts_are_refused_on_every_mcp_endpoint() {
    let app = TestApp::spawn().await;
    for path in ["/mcp", "/sse", "/messages?session_id=x"] {
        let method = if path == "/sse" {
            reqwest::Method::GET
        } else {
            reqwest::Method::POST
        };
        let origin = app
            .http
            .request(method.clone(), app.url(path))
            .header("origin", "http://evil.example")
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(origin.status(), 403, "{path} with a foreign Origin");
        let host = app
            .http
            .request(method.clone(), app.url(path))
            .header("host", "evil.example")
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(host.status(), 403, "{path} with a foreign Host");
    }
    // A localhost Origin (the MCP Inspector's) passes.
    let client = reqwest::Client::new();
    let ok = client
        .get(app.url("/sse"))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    still_healthy(&app).await;
}

#[tokio::test]
async fn configured_origins_are_allowed_and_others_refused() {
    let app =
        TestApp::spawn_with(|s| s.allowed_origins = vec!["https://agent.example.com".into()]).await;
    let send = |origin: &'static str| {
        app.http
            .get(app.url("/sse"))
            .header("origin", origin)
            .send()
    };
    assert_eq!(
        send("https://agent.example.com").await.unwrap().status(),
        200
    );
    assert_eq!(send("http://localhost:6274").await.unwrap().status(), 403);
}

#[tokio::test]
async fn sse_messages_for_unknown_sessions_bad_json_and_oversized_bodies_are_refused() {
    // A 1 MiB upload limit keeps the message limit at its 4 MiB floor.
    let app = TestApp::spawn_with(|s| s.max_upload_bytes = 1024 * 1024).await;
    let unknown = app
        .http
        .post(app.url("/messages?session_id=does-not-exist"))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: serde_json::Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Session not found");

    // Open a real session to address.
    let sse = app.http.get(app.url("/sse")).send().await.unwrap();
    let mut stream = sse.bytes_stream();
    use futures::StreamExt;
    let first = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
    let endpoint = first
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("endpoint event")
        .to_string();
    let url = app.url(&endpoint);

    let bad_json = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_json.status(), 400);
    let body: serde_json::Value = bad_json.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700);

    let not_json = app
        .http
        .post(&url)
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);

    let huge = "x".repeat(5 * 1024 * 1024);
    let too_big = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"x\":\"{huge}\"}}}}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    drop(stream);
    still_healthy(&app).await;
}

#[tokio::test]
async fn an_sse_session_is_dropped_when_its_stream_closes() {
    use futures::StreamExt;
    let app = TestApp::spawn().await;
    let sse = app.http.get(app.url("/sse")).send().await.unwrap();
    let mut stream = sse.bytes_stream();
    let first = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
    let endpoint = first
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap()
        .to_string();
    let post = |message: serde_json::Value| app.http.post(app.url(&endpoint)).json(&message).send();
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    assert_eq!(post(initialize).await.unwrap().status(), 202);
    let reply = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
    assert!(reply.contains("\"serverInfo\""), "{reply}");
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(initialized).await.unwrap().status(), 202);
    drop(stream);
    // The server notices the closed stream when it next writes to it: keep asking for pings.
    let mut status = 0;
    for id in 1..100 {
        status = post(json!({"jsonrpc": "2.0", "id": id, "method": "ping"}))
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 404 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 404, "the session is gone once its stream is closed");
}

#[tokio::test]
async fn rest_bodies_that_are_not_json_change_nothing() {
    let app = TestApp::spawn().await;
    for (content_type, body) in [
        ("text/plain", "first_name=a"),
        (
            "application/x-www-form-urlencoded",
            "first_name=a&last_name=b",
        ),
        ("application/json", "[\"a\"]"),
        (
            "application/json",
            "{\"first_name\": \"a\", \"last_name\": \"b\", \"email\": \"x@example.com\", \"password\": \"long enough\", \"extra\": 1}",
        ),
    ] {
        let reply = app
            .send(
                app.http
                    .post(app.api("/auth/register"))
                    .header("authorization", app.public_key())
                    .header("content-type", content_type)
                    .body(body),
            )
            .await;
        assert_eq!(reply.status, 400, "{content_type} {body}");
        assert_eq!(
            reply.body,
            json!({"data": null, "message": "One or more required parameters are either not given or have invalid schema.", "status": "error"})
        );
    }
    let mut conn = app.app.store().conn().await.unwrap();
    let users: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(users.0, 0);
    still_healthy(&app).await;
}
