//! Toolsets and read-only mode: `CLARA_TOOLSETS` / `CLARA_READ_ONLY` choose what MCP serves;
//! the `X-MCP-Toolsets` / `X-MCP-Readonly` headers can only narrow it. A hidden tool is neither
//! listed nor callable, and the instructions never name it.

use rmcp::{ServiceExt, model::CallToolRequestParams, transport::TokioChildProcess};

use crate::support::{TestApp, mcp::Transport};

async fn names(client: &crate::support::mcp::Client) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_server_limited_to_read_only_agent_and_misc_tools_serves_only_those() {
    let app = TestApp::spawn_with(|s| {
        s.toolsets = "agent, misc".into();
        s.read_only = true;
    })
    .await;
    let expected = [
        "agent_supported_attachments",
        "misc_health",
        "misc_version",
        "task_list",
        "task_view",
    ];
    for transport in [Transport::Http, Transport::Sse] {
        let client = app.mcp(transport).await;
        assert_eq!(names(&client).await, expected, "{transport:?}");
        let instructions = client
            .peer_info()
            .and_then(|i| i.instructions.clone())
            .unwrap_or_default();
        assert!(instructions.contains("task_view"), "{instructions}");
        assert!(!instructions.contains("auth_login"), "{instructions}");
        assert!(!instructions.contains("agent_analysis"), "{instructions}");
        assert!(instructions.contains("read-only"), "{instructions}");
        // Hidden tools cannot be called: unknown-tool JSON-RPC errors.
        for hidden in ["auth_login", "agent_analysis", "task_cancel"] {
            let call = client
                .call_tool(CallToolRequestParams::new(hidden))
                .await
                .unwrap_err();
            assert!(
                call.to_string().contains("tool not found"),
                "{hidden}: {call}"
            );
        }
        client.cancel().await.unwrap();
    }

    // stdio, configured by its environment.
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_clara"));
    command
        .arg("stdio")
        .envs(app.child_env())
        .env("CLARA_TOOLSETS", "misc")
        .env("CLARA_READ_ONLY", "true");
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.unwrap();
    assert_eq!(names(&client).await, ["misc_health", "misc_version"]);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn request_headers_narrow_what_the_server_allows_and_never_widen_it() {
    let app = TestApp::spawn_with(|s| s.toolsets = "auth,users,misc".into()).await;
    let client = app
        .mcp_with(Transport::Http, &[("x-mcp-toolsets", "misc,agent")])
        .await;
    // agent is not served by this server: asking for it adds nothing.
    assert_eq!(names(&client).await, ["misc_health", "misc_version"]);
    client.cancel().await.unwrap();

    let client = app
        .mcp_with(Transport::Http, &[("x-mcp-readonly", "true")])
        .await;
    let listed = names(&client).await;
    assert!(listed.contains(&"user_view".to_string()));
    assert!(!listed.contains(&"user_update".to_string()));
    assert!(!listed.contains(&"auth_login".to_string()));
    let call = client
        .call_tool(CallToolRequestParams::new("auth_logout"))
        .await
        .unwrap_err();
    assert!(call.to_string().contains("tool not found"), "{call}");
    client.cancel().await.unwrap();

    // A list that does not parse narrows to nothing.
    let client = app
        .mcp_with(Transport::Http, &[("x-mcp-toolsets", "everything")])
        .await;
    assert!(names(&client).await.is_empty());
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn an_unknown_toolset_stops_the_server_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clara"))
        .arg("migrate")
        .env("CLARA_DATA_DIR", dir.path())
        .env("CLARA_TOOLSETS", "auth,payments")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown toolset \"payments\""), "{err}");
}
