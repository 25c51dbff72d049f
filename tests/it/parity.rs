//! Every catalog operation answers the same data over REST and over each MCP transport.

use serde_json::{Value, json};

use crate::support::{TestApp, mcp};

/// For each operation: the REST path to GET (or a request builder) and the MCP arguments.
/// Every catalog operation must have a row: a test below fails when one is missing.
fn cases() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("misc_health", "/health", json!({})),
        ("misc_version", "/version", json!({})),
    ]
}

#[test]
fn every_catalog_operation_has_a_parity_case() {
    let covered: Vec<_> = cases().into_iter().map(|(name, ..)| name).collect();
    for op in clara::catalog::all() {
        assert!(covered.contains(&op.name), "{} has no parity case", op.name);
    }
}

#[tokio::test]
async fn rest_and_every_mcp_transport_answer_the_same_data() {
    let app = TestApp::spawn().await;
    for transport in mcp::ALL {
        let client = app.mcp(transport).await;
        for (name, path, args) in cases() {
            let rest = app.get(path).await;
            assert_eq!(rest.status, 200, "{name}: {:?}", rest.body);
            let result = mcp::call(&client, name, args).await;
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
