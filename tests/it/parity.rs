//! Every catalog operation answers alike over REST and over each MCP transport. Driven from
//! `catalog::all()`: each operation has one sample (its arguments, after whatever setup it needs),
//! so an operation added without a sample fails here.

use std::{future::Future, pin::Pin};

use clara::{
    catalog::{self, Accepts, OpInfo, agent},
    model::{Credits, UserId},
    services::{
        UserPage,
        agent::AnalysisRequest,
        credits::{self, Entry},
    },
};
use serde_json::{Value, json};

use crate::support::{
    TestApp,
    flows::{TestUser, totp_now},
    google,
    mcp::{self, Transport},
    typed::{call_raw, decode_mcp, decode_rest},
};

const PRIVATE: &str = "clara_private_parity";

type Sample<'a> = Pin<Box<dyn Future<Output = Value> + 'a>>;

/// The arguments each operation is called with, for an active user who owns a live session.
/// Setup (a mailed code, an authenticator enrollment) runs over REST before the call.
fn sample<'a>(name: &str, app: &'a TestApp, user: &'a TestUser) -> Option<Sample<'a>> {
    let (id, email) = (user.id.clone(), user.email.clone());
    let bearer = user.bearer();
    Some(match name {
        "auth_register" => Box::pin(async move {
            json!({"first_name": "grace", "last_name": "hopper", "email": format!("new-{email}"),
                   "password": "long enough"})
        }),
        "auth_google" => Box::pin(async move {
            let claims = google::claims(&format!("g-{id}"), &format!("g-{email}"), "grace");
            json!({"id_token": google::sign(&claims, google::KID)})
        }),
        "auth_login" => Box::pin(async move { json!({"email": email, "password": user.password}) }),
        "auth_logout" => Box::pin(async { json!({}) }),
        "auth_change_password" => Box::pin(async move {
            let code = app.otp(&email, "CHANGE_PASSWORD").await;
            json!({"user_email": email, "password": "a new password", "code": code})
        }),
        "auth_send_otp" => {
            Box::pin(async move { json!({"user_email": email, "otp_type": "TWO_FACTOR_AUTH"}) })
        }
        "auth_activate" => Box::pin(async move {
            let code = app.otp(&email, "ACTIVATION").await;
            json!({"user_email": email, "code": code})
        }),
        "auth_enable_2fa" => Box::pin(async move {
            let code = app.otp(&email, "TWO_FACTOR_AUTH").await;
            json!({"user_id": id, "code": code})
        }),
        "auth_disable_2fa" => Box::pin(async move {
            let recovery = enroll_authenticator(app, &id, &bearer).await;
            json!({"user_id": id, "code": recovery})
        }),
        "auth_totp_enroll" => Box::pin(async move { json!({"user_id": id}) }),
        "auth_totp_confirm" => Box::pin(async move {
            let path = format!("/users/{id}/2fa/totp");
            let enroll = app.call("POST", &path, Some(&bearer), None).await;
            let secret = enroll.data()["secret"].as_str().unwrap().to_string();
            json!({"user_id": id, "code": totp_now(&secret)})
        }),
        "user_view" | "api_key_view" | "api_key_reset" => {
            Box::pin(async move { json!({"user_id": id}) })
        }
        "user_update" => Box::pin(async move { json!({"user_id": id, "first_name": "grace"}) }),
        "misc_health" | "misc_version" | "stripe_rate" | "stripe_portal" => {
            Box::pin(async { json!({}) })
        }
        "transaction_list" => Box::pin(async move {
            purchase(app, &id).await;
            json!({"user_id": id, "limit": 5, "offset": 0})
        }),
        "transaction_view" => Box::pin(async move {
            let transaction_id = purchase(app, &id).await;
            json!({"user_id": id, "transaction_id": transaction_id})
        }),
        "stripe_buy" => Box::pin(async { json!({"amount": 5, "return_path": "billing"}) }),
        "agent_supported_attachments" => Box::pin(async move { json!({"user_id": id}) }),
        "agent_analysis" => Box::pin(async move {
            purchase(app, &id).await;
            json!({"user_id": id, "text": "The Eiffel Tower is 330 metres tall."})
        }),
        "task_list" => Box::pin(async move {
            analysed(app, &id, &bearer).await;
            json!({"user_id": id, "limit": 5, "offset": 0})
        }),
        // Ended tasks: their answers no longer change (a cancel leaves one as it is).
        "task_view" | "task_cancel" => Box::pin(async move {
            let task_id = analysed(app, &id, &bearer).await;
            json!({"user_id": id, "task_id": task_id})
        }),
        "admin_user_list" => Box::pin(async { json!({"limit": 1, "offset": 0}) }),
        "admin_credits_set" => Box::pin(async move { json!({"user_id": id, "credits": 12.5}) }),
        "admin_user_delete" => Box::pin(async move { json!({"user_id": id}) }),
        "admin_transaction_create" => Box::pin(async move {
            json!({"user_id": id, "description": "Goodwill.", "value_in_credits": 3,
                   "value_in_fiat": 0.03, "type": "CREDIT"})
        }),
        _ => return None,
    })
}

/// Gives the user one ledger entry, once (through the domain API, as a worker would), and
/// returns its id.
async fn purchase(app: &TestApp, user_id: &str) -> String {
    let entry =
        Entry::credit(Credits::whole(50), "Parity credits.").key(format!("parity:{user_id}"));
    let applied = credits::grant(&app.app, &UserId::new(user_id), entry)
        .await
        .unwrap();
    applied.transaction().id.clone()
}

/// Gives the user one finished analysis, once, and returns its task id.
async fn analysed(app: &TestApp, user_id: &str, bearer: &str) -> String {
    let list = UserPage {
        user_id: Some(user_id.into()),
        ..UserPage::default()
    };
    let existing = app.rest::<agent::List>(Some(bearer), list).await.unwrap();
    let task_id = match existing.items.first() {
        Some(task) => task.id.clone(),
        None => {
            purchase(app, user_id).await;
            let request = AnalysisRequest {
                user_id: Some(user_id.into()),
                text: Some("The Eiffel Tower was finished in 1889.".into()),
                ..AnalysisRequest::default()
            };
            let created = app.rest::<agent::Analysis>(Some(bearer), request).await;
            created.unwrap().id
        }
    };
    app.task_ended(bearer, user_id, &task_id).await;
    task_id
}

/// Turns the authenticator app on for the user and returns one of its recovery codes.
async fn enroll_authenticator(app: &TestApp, id: &str, bearer: &str) -> String {
    let path = format!("/users/{id}/2fa/totp");
    let enroll = app.call("POST", &path, Some(bearer), None).await;
    let secret = enroll.data()["secret"].as_str().unwrap();
    let body = json!({"code": totp_now(secret)});
    let confirm = app
        .call("POST", &format!("{path}/confirm"), Some(bearer), Some(body))
        .await;
    assert_eq!(confirm.status, 200, "{:?}", confirm.body);
    confirm.data()["recovery_codes"][0]
        .as_str()
        .unwrap()
        .to_string()
}

/// The REST credential a user sends for `op`.
fn rest_auth(app: &TestApp, op: &OpInfo, user: &TestUser) -> Option<String> {
    if op.accepts == Accepts::PRIVATE_KEY {
        app.app.config().private_api_key.clone()
    } else if op.accepts.contains(Accepts::USER_TOKEN) {
        Some(user.bearer())
    } else if op.accepts.contains(Accepts::PUBLIC_KEY) {
        Some(app.public_key())
    } else {
        None // public, or Basic (built from the arguments)
    }
}

/// What a surface answered, comparable across surfaces: the error's status and message, or
/// the output (exactly, or only its shape when each surface used its own user).
#[derive(Debug, PartialEq)]
enum Answer {
    Ok(Value),
    Err(u16, String),
}

/// Every leaf replaced by its JSON type.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), shape(v))).collect(),
        Value::Array(items) => items.first().map(shape).into_iter().collect(),
        Value::String(_) => json!("string"),
        Value::Number(_) => json!("number"),
        Value::Bool(_) => json!("bool"),
        Value::Null => Value::Null,
    }
}

fn answer(result: Result<Value, clara::error::ErrorBody>, exact: bool) -> Answer {
    match result {
        Ok(data) if exact => Answer::Ok(data),
        Ok(data) => Answer::Ok(shape(&data)),
        Err(body) => Answer::Err(body.status, body.message),
    }
}

async fn over_rest(app: &TestApp, op: &OpInfo, user: &TestUser, exact: bool) -> Answer {
    let args = sample(op.name, app, user).expect("a sample").await;
    let auth = rest_auth(app, op, user);
    let reply = app
        .rest_raw(op, auth.as_deref(), args.as_object().unwrap().clone())
        .await;
    answer(decode_rest(op, &reply), exact)
}

async fn over_mcp(
    app: &TestApp,
    op: &OpInfo,
    user: &TestUser,
    transport: Transport,
    exact: bool,
) -> Answer {
    let args = sample(op.name, app, user).expect("a sample").await;
    // A sign-in goes without a header: a header naming another user would win over it, and
    // is refused (identity.rs).
    let bearer = user.bearer();
    let headers: &[(&str, &str)] = if op.effect == catalog::Effect::SignIn {
        &[]
    } else {
        &[("authorization", bearer.as_str())]
    };
    let client = app.mcp_with(transport, headers).await;
    let result = call_raw(&client, op.name, args.as_object().unwrap().clone()).await;
    if result.is_error != Some(true) {
        // The text block carries the same JSON, for clients without structured output.
        let text = &result.content[0].as_text().expect("a text block").text;
        let parsed: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            Some(&parsed),
            result.structured_content.as_ref(),
            "{}",
            op.name
        );
    }
    client.cancel().await.unwrap();
    answer(decode_mcp(op.name, &result), exact)
}

#[tokio::test]
async fn every_catalog_operation_has_a_sample() {
    let app = TestApp::spawn().await;
    let nobody = TestUser {
        id: String::new(),
        email: String::new(),
        password: String::new(),
        token: String::new(),
    };
    for op in catalog::all() {
        // Looked up, not run: the sample's setup never starts.
        assert!(
            sample(op.name, &app, &nobody).is_some(),
            "{} has no parity sample",
            op.name
        );
    }
}

#[tokio::test]
async fn every_operation_answers_alike_over_rest_and_every_mcp_transport() {
    let app = TestApp::spawn_with(|s| s.private_api_key = Some(PRIVATE.into())).await;
    let reader = app.user("reader@example.com").await;
    for op in catalog::all() {
        // Reads share one user, so their data must be identical; writes get a fresh user per
        // surface (a write changes the state the next surface would see), so their output is
        // compared by shape.
        let exact = op.hints.read_only;
        let fresh = |surface: &str| format!("{}-{surface}@example.com", op.name.replace('_', "-"));
        let user = match exact {
            true => reader.clone(),
            false => app.user(&fresh("rest")).await,
        };
        let expected = over_rest(&app, op, &user, exact).await;
        assert!(
            matches!(expected, Answer::Ok(_)),
            "{} fails over REST: {expected:?}",
            op.name
        );
        if !op.mcp {
            continue; // REST only: every_transport_lists_every_catalog_tool checks it is absent
        }
        for transport in mcp::ALL {
            let user = match exact {
                true => reader.clone(),
                false => {
                    app.user(&fresh(&format!("{transport:?}").to_lowercase()))
                        .await
                }
            };
            let got = over_mcp(&app, op, &user, transport, exact).await;
            assert_eq!(got, expected, "{} over {transport:?}", op.name);
        }
    }
}

#[tokio::test]
async fn every_transport_lists_every_catalog_tool_with_schemas() {
    let app = TestApp::spawn().await;
    for transport in mcp::ALL {
        let client = app.mcp(transport).await;
        let tools = client.list_all_tools().await.unwrap();
        let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
        let expected: Vec<_> = catalog::tools().map(|o| o.name.to_string()).collect();
        assert_eq!(
            names, expected,
            "{transport:?}: the production list has no fixtures"
        );
        // REST-only entries are neither listed nor callable.
        for op in catalog::all().iter().filter(|op| !op.mcp) {
            let call = rmcp::model::CallToolRequestParams::new(op.name.to_string());
            assert!(
                client.call_tool(call).await.is_err(),
                "{} is not a tool",
                op.name
            );
        }
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
