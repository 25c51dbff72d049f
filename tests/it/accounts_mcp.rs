//! The account flow over MCP (stdio and Streamable HTTP, and SSE): sign-in binds the
//! connection, API keys authenticate new connections, failures are structured tool errors.

use serde_json::{Value, json};

use crate::support::{
    TestApp,
    mcp::{Transport, call, err, ok},
};

async fn flow(app: &TestApp, transport: Transport, email: &str) {
    let client = app.mcp(transport).await;

    // Without a credential: user tools say what is missing.
    let result = call(&client, "user_view", json!({})).await;
    let body = err(&result);
    assert_eq!(
        (body["code"].as_str(), body["status"].as_u64()),
        (Some("unauthorized"), Some(401)),
        "{transport:?}"
    );
    assert!(
        body["detail"].as_str().unwrap().contains("user token"),
        "{body}"
    );

    // Register binds the connection; no public key is needed over MCP.
    let args = json!({"first_name": "ada", "last_name": "lovelace", "email": email, "password": "long enough"});
    let user = ok(&call(&client, "auth_register", args).await).clone();
    assert!(user["token"].as_str().unwrap().starts_with("clara_user_"));
    let id = user["id"].as_str().unwrap().to_string();
    let code = app.mail(email).await.code();
    let activated = ok(&call(
        &client,
        "auth_activate",
        json!({"user_email": email, "code": code}),
    )
    .await)
    .clone();
    assert_eq!(activated["is_active"], true);

    // The bound connection acts as the user.
    let me = ok(&call(&client, "user_view", json!({})).await).clone();
    assert_eq!(me["id"], id.as_str());
    let updated = ok(&call(&client, "user_update", json!({"last_name": "byron"})).await).clone();
    assert_eq!(updated["last_name"], "Byron");
    let key = ok(&call(&client, "api_key_view", json!({})).await)["token"]
        .as_str()
        .unwrap()
        .to_string();

    // A new connection with the API key works on user tools and is refused API key tools.
    let keyed = app
        .mcp_with(transport, &[("authorization", &format!("Bearer {key}"))])
        .await;
    assert_eq!(
        ok(&call(&keyed, "user_view", json!({})).await)["id"],
        id.as_str()
    );
    let body = err(&call(&keyed, "api_key_view", json!({})).await).clone();
    assert_eq!(
        (body["status"].as_u64(), body["message"].as_str()),
        (
            Some(403),
            Some("You do not have access to the requested resource.")
        )
    );
    let body = err(&call(
        &keyed,
        "user_view",
        json!({"user_id": "user_00000000000000000000000000000000"}),
    )
    .await)
    .clone();
    assert_eq!(body["status"], 403, "another user's id");
    keyed.cancel().await.unwrap();

    // Reset invalidates the old key at once.
    let new_key = ok(&call(&client, "api_key_reset", json!({})).await)["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_key, key);
    let stale = app
        .mcp_with(transport, &[("authorization", &format!("Bearer {key}"))])
        .await;
    assert_eq!(
        err(&call(&stale, "user_view", json!({})).await)["status"],
        401
    );
    stale.cancel().await.unwrap();

    // 2FA on; a fresh connection's login without a code fails with is_2fa_enabled.
    ok(&call(
        &client,
        "auth_send_otp",
        json!({"user_email": email, "otp_type": "TWO_FACTOR_AUTH"}),
    )
    .await);
    let code = app.mail(email).await.code();
    let done = ok(&call(&client, "auth_enable_2fa", json!({"code": code})).await).clone();
    assert_eq!(done["message"], "User 2FA enabled successfully.");
    app.mail(email).await; // the "2FA enabled" notice

    let fresh = app.mcp(transport).await;
    let body = err(&call(
        &fresh,
        "auth_login",
        json!({"email": email, "password": "long enough"}),
    )
    .await)
    .clone();
    assert_eq!(body["data"], json!({"is_2fa_enabled": true}));
    app.sql("UPDATE otps SET created_at = created_at - 120")
        .await;
    ok(&call(
        &fresh,
        "auth_send_otp",
        json!({"user_email": email, "otp_type": "TWO_FACTOR_AUTH"}),
    )
    .await);
    let code = app.mail(email).await.code();
    let login = ok(&call(
        &fresh,
        "auth_login",
        json!({"email": email, "password": "long enough", "code": code}),
    )
    .await)
    .clone();
    assert!(login["token"].as_str().is_some());
    assert_eq!(
        ok(&call(&fresh, "user_view", json!({})).await)["email"],
        email
    );

    // Logout ends the binding.
    ok(&call(&fresh, "auth_logout", json!({})).await);
    assert_eq!(
        err(&call(&fresh, "user_view", json!({})).await)["status"],
        401
    );
    fresh.cancel().await.unwrap();
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn the_account_flow_works_over_stdio() {
    let app = TestApp::spawn().await;
    flow(&app, Transport::Stdio, "stdio@example.com").await;
}

#[tokio::test]
async fn the_account_flow_works_over_streamable_http() {
    let app = TestApp::spawn().await;
    flow(&app, Transport::Http, "http@example.com").await;
}

#[tokio::test]
async fn the_account_flow_works_over_sse() {
    let app = TestApp::spawn().await;
    flow(&app, Transport::Sse, "sse@example.com").await;
}

#[tokio::test]
async fn a_user_id_header_that_is_not_the_token_owner_is_403() {
    let app = TestApp::spawn().await;
    let user = app.user("ann@example.com").await;
    let headers = [
        ("authorization", user.bearer()),
        (
            "user-id",
            "user_ffffffffffffffffffffffffffffffff".to_string(),
        ),
    ];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let client = app.mcp_with(Transport::Http, &headers).await;
    assert_eq!(
        err(&call(&client, "user_view", json!({})).await)["status"],
        403
    );
    let matching = [
        ("authorization", user.bearer()),
        ("user-id", user.id.clone()),
    ];
    let matching: Vec<(&str, &str)> = matching.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let client = app.mcp_with(Transport::Http, &matching).await;
    assert_eq!(
        ok(&call(&client, "user_view", json!({})).await)["id"],
        Value::String(user.id.clone())
    );
}

#[tokio::test]
async fn a_sign_in_replaces_the_connections_own_credential_on_stdio() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    app.user("bob@example.com").await;
    let key = app
        .call(
            "GET",
            &format!("/users/{}/api_key", ann.id),
            Some(&ann.bearer()),
            None,
        )
        .await;
    let key = format!("Bearer {}", key.data()["token"].as_str().unwrap());
    let client = app
        .mcp_with(Transport::Stdio, &[("authorization", &key)])
        .await;
    assert_eq!(
        ok(&call(&client, "user_view", json!({})).await)["email"],
        "ann@example.com",
        "CLARA_API_KEY"
    );
    let login = json!({"email": "bob@example.com", "password": "correct horse battery"});
    ok(&call(&client, "auth_login", login).await);
    assert_eq!(
        ok(&call(&client, "user_view", json!({})).await)["email"],
        "bob@example.com",
        "the sign-in wins"
    );
    ok(&call(&client, "auth_logout", json!({})).await);
    assert_eq!(
        err(&call(&client, "user_view", json!({})).await)["status"],
        401
    );
    client.cancel().await.unwrap();
}
