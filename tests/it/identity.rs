//! Who an MCP call acts as, on every transport: the request's Authorization header wins, then
//! the connection's sign-in, then the connection's configured credential (CLARA_API_KEY, the
//! /sse header). Stateless calls are told to send the token themselves, and every credential
//! failure explains what was presented and what the tool takes.

use std::process::Stdio;

use serde_json::{Value, json};

use crate::support::{
    TestApp,
    flows::TestUser,
    mcp::{self, Transport},
    typed::call_raw,
};

/// One stateless (2026-07-28) `tools/call` on `/mcp`, as a raw HTTP request: its result.
async fn stateless(app: &TestApp, bearer: Option<&str>, name: &str, args: Value) -> Value {
    let meta = mcp::stateless_meta("identity-test", json!({}));
    let params = json!({"name": name, "arguments": args, "_meta": meta});
    app.stateless_call(bearer, params).await["result"].clone()
}

fn error_of(result: &Value) -> Value {
    assert_eq!(result["isError"], true, "{result}");
    serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap()
}

async fn api_key(app: &TestApp, user: &TestUser) -> String {
    format!("Bearer {}", app.api_key(user).await)
}

#[tokio::test]
async fn a_stateless_sign_in_says_to_send_the_token_and_a_401_says_how() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada-stateless@example.com").await;
    let login = stateless(
        &app,
        None,
        "auth_login",
        json!({"email": ada.email, "password": ada.password}),
    )
    .await;
    assert_eq!(login["isError"], false, "{login}");
    let token = login["structuredContent"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let note = login["content"][1]["text"].as_str().unwrap();
    assert!(note.contains("Authorization: Bearer"), "{note}");

    let without = stateless(&app, None, "user_view", json!({})).await;
    let error = error_of(&without);
    assert_eq!(error["status"], 401);
    let detail = error["detail"].as_str().unwrap();
    assert!(detail.contains("user_view takes"), "{detail}");
    assert!(detail.contains("no credential was presented"), "{detail}");
    assert!(detail.contains("keeps no session"), "{detail}");

    let with = stateless(
        &app,
        Some(&format!("Bearer {token}")),
        "user_view",
        json!({}),
    )
    .await;
    assert_eq!(
        with["structuredContent"]["email"],
        ada.email.as_str(),
        "{with}"
    );
}

#[tokio::test]
async fn the_request_header_wins_and_a_sign_in_as_someone_else_is_refused() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada-header@example.com").await;
    let bob = app.user("bob-header@example.com").await;
    let ada_key = api_key(&app, &ada).await;
    for transport in [Transport::Http, Transport::Sse] {
        let client = app
            .mcp_with(transport, &[("authorization", ada_key.as_str())])
            .await;
        let as_bob = json!({"email": bob.email, "password": bob.password});
        let refused = call_raw(&client, "auth_login", as_bob.as_object().unwrap().clone()).await;
        assert_eq!(refused.is_error, Some(true), "{transport:?}");
        let text = &refused.content[0].as_text().unwrap().text;
        if transport == Transport::Http {
            // Streamable HTTP sends the header with every request: it wins, so a sign-in as
            // someone else would silently change nothing.
            assert!(
                text.contains("already acts as ada-header@example.com"),
                "{text}"
            );
        }
        let me = call_raw(&client, "user_view", Default::default()).await;
        assert_eq!(
            me.structured_content.as_ref().unwrap()["email"],
            ada.email.as_str(),
            "{transport:?}"
        );
        // Signing in as the header's own user is fine.
        let as_ada = json!({"email": ada.email, "password": ada.password});
        let ok = call_raw(&client, "auth_login", as_ada.as_object().unwrap().clone()).await;
        assert_eq!(ok.is_error, Some(false), "{transport:?}: {ok:?}");
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn on_stdio_a_sign_in_replaces_the_configured_key() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada-stdio@example.com").await;
    let bob = app.user("bob-stdio@example.com").await;
    let ada_key = api_key(&app, &ada).await;
    let client = app
        .mcp_with(Transport::Stdio, &[("authorization", ada_key.as_str())])
        .await;
    let me = call_raw(&client, "user_view", Default::default()).await;
    assert_eq!(
        me.structured_content.as_ref().unwrap()["email"],
        ada.email.as_str()
    );
    let as_bob = json!({"email": bob.email, "password": bob.password});
    let login = call_raw(&client, "auth_login", as_bob.as_object().unwrap().clone()).await;
    assert_eq!(login.is_error, Some(false));
    // A session keeps its sign-in: no "send the token" note.
    assert_eq!(login.content.len(), 1);
    let me = call_raw(&client, "user_view", Default::default()).await;
    assert_eq!(
        me.structured_content.as_ref().unwrap()["email"],
        bob.email.as_str()
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn credential_failures_name_what_was_sent_and_what_the_tool_takes() {
    let app = TestApp::spawn().await;
    let ada = app.user("ada-detail@example.com").await;
    let bob = app.user("bob-detail@example.com").await;
    let ada_key = api_key(&app, &ada).await;
    for transport in mcp::ALL {
        let client = app
            .mcp_with(transport, &[("authorization", ada_key.as_str())])
            .await;
        let update = json!({"first_name": "Ada"});
        let result = call_raw(&client, "user_update", update.as_object().unwrap().clone()).await;
        let error: Value =
            serde_json::from_str(&result.content[0].as_text().unwrap().text).unwrap();
        assert_eq!(error["status"], 403, "{transport:?}");
        assert_eq!(
            error["message"],
            "You do not have access to the requested resource."
        );
        let detail = error["detail"].as_str().unwrap();
        assert!(
            detail.contains("user_update takes a user token"),
            "{detail}"
        );
        assert!(detail.contains("an API key token"), "{detail}");
        assert!(detail.contains("auth_login"), "{detail}");

        let other = json!({"user_id": bob.id});
        let result = call_raw(&client, "user_view", other.as_object().unwrap().clone()).await;
        let error: Value =
            serde_json::from_str(&result.content[0].as_text().unwrap().text).unwrap();
        assert_eq!(error["status"], 403);
        assert!(
            error["detail"].as_str().unwrap().contains("its own user"),
            "{error}"
        );
        client.cancel().await.unwrap();
    }
    // REST envelopes stay exactly as documented.
    let reply = app
        .call(
            "PATCH",
            &format!("/users/{}", ada.id),
            Some(&ada_key),
            Some(json!({"first_name": "A"})),
        )
        .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.body,
        json!({"data": null, "message": "You do not have access to the requested resource.",
               "status": "error"})
    );
}

#[tokio::test]
async fn stdio_warns_at_start_when_its_api_key_does_not_resolve() {
    let app = TestApp::spawn().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_clara"))
        .arg("stdio")
        .envs(app.child_env())
        .env("RUST_LOG", "warn")
        .env("CLARA_API_KEY", "clara_api_not_a_real_key")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("CLARA_API_KEY is not a live API key"), "{log}");
    assert!(log.contains("an API key token"), "{log}");
}
