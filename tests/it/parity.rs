//! Every catalog operation answers the same data over REST and over each MCP transport.

use serde_json::{Value, json};

use crate::support::{TestApp, mcp};

/// How each operation is compared across surfaces. Every catalog operation must have a row.
/// `Same`: a read whose data must be identical over REST and every MCP transport.
/// `Flow`: a write, exercised over REST in `accounts.rs` and over every MCP transport in
/// `accounts_mcp.rs`, whose MCP output is checked here to have the REST data's shape.
fn cases() -> Vec<(&'static str, Kind)> {
    use Kind::*;
    vec![
        ("misc_health", Same("/health")),
        ("misc_version", Same("/version")),
        ("user_view", Same("/users/{id}")),
        ("api_key_view", Same("/users/{id}/api_key")),
        ("auth_register", Flow),
        ("auth_google", Flow),
        ("auth_login", Flow),
        ("auth_logout", Flow),
        ("auth_change_password", Flow),
        ("auth_send_otp", Flow),
        ("auth_activate", Flow),
        ("auth_enable_2fa", Flow),
        ("auth_disable_2fa", Flow),
        ("auth_totp_enroll", Flow),
        ("auth_totp_confirm", Flow),
        ("user_update", Flow),
        ("api_key_reset", Flow),
    ]
}

enum Kind {
    Same(&'static str),
    Flow,
}

#[test]
fn every_catalog_operation_has_a_parity_case() {
    let covered: Vec<_> = cases().into_iter().map(|(name, _)| name).collect();
    for op in clara::catalog::all() {
        assert!(covered.contains(&op.name), "{} has no parity case", op.name);
    }
}

#[tokio::test]
async fn rest_and_every_mcp_transport_answer_the_same_data() {
    let app = TestApp::spawn().await;
    let user = app.user("parity@example.com").await;
    for transport in mcp::ALL {
        let client = app
            .mcp_with(transport, &[("authorization", &user.bearer())])
            .await;
        for (name, kind) in cases() {
            let Kind::Same(path) = kind else { continue };
            let path = path.replace("{id}", &user.id);
            let rest = app.call("GET", &path, Some(&user.bearer()), None).await;
            assert_eq!(rest.status, 200, "{name}: {:?}", rest.body);
            let result = mcp::call(&client, name, json!({})).await;
            assert_eq!(mcp::ok(&result), rest.data(), "{name} over {transport:?}");
            // The text block carries the same JSON, for clients without structured output.
            let text = result.content[0]
                .as_text()
                .expect("text content")
                .text
                .clone();
            assert_eq!(&serde_json::from_str::<Value>(&text).unwrap(), rest.data());
        }
        client.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn writes_answer_the_same_shape_over_rest_and_mcp() {
    let app = TestApp::spawn().await;
    let rest_user = app.register("rest@example.com", "long enough").await;
    let client = app.mcp(mcp::Transport::Http).await;
    let args = json!({"first_name": "ada", "last_name": "lovelace", "email": "mcp@example.com", "password": "long enough"});
    let mcp_user = mcp::call(&client, "auth_register", args).await;
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(mcp::ok(&mcp_user)), keys(rest_user.data()));
    // Operations whose REST data is null answer MCP with their documented message.
    let reply = app
        .call(
            "POST",
            "/users/rest@example.com/otp/CHANGE_PASSWORD",
            Some(&app.public_key()),
            None,
        )
        .await;
    let result = mcp::call(
        &client,
        "auth_send_otp",
        json!({"user_email": "mcp@example.com", "otp_type": "CHANGE_PASSWORD"}),
    )
    .await;
    assert_eq!(mcp::ok(&result)["message"], reply.message());
    assert_eq!(reply.body["data"], Value::Null);
}

#[tokio::test]
async fn every_transport_lists_every_catalog_tool_with_schemas() {
    let app = TestApp::spawn().await;
    for transport in mcp::ALL {
        let client = app.mcp(transport).await;
        let tools = client.list_all_tools().await.unwrap();
        let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
        let expected: Vec<_> = clara::catalog::all()
            .iter()
            .map(|o| o.name.to_string())
            .collect();
        assert_eq!(
            names, expected,
            "{transport:?}: the production list has no fixtures"
        );
        for tool in &tools {
            assert!(
                tool.output_schema.is_some(),
                "{} has an output schema",
                tool.name
            );
            assert_eq!(tool.input_schema["type"], "object");
        }
        client.cancel().await.unwrap();
    }
}
