//! The account flow over MCP (stdio, Streamable HTTP and SSE): sign-in binds the connection,
//! API keys authenticate new connections, failures are structured tool errors.

use clara::{
    catalog::{api_keys, auth, users},
    services::{
        NoInput,
        otp::{OtpType, SendOtp},
        sessions::Login,
        signup::{Activate, Register},
        two_factor::EnableTwoFactor,
        users::{UpdateUser, UserRef},
    },
};
use serde_json::{Value, json};

use crate::support::{
    TestApp,
    mcp::{Client, Transport, call, err, ok},
    typed::op,
};

/// One user walking the account flow over one MCP transport, one step per method.
struct Walk<'a> {
    app: &'a TestApp,
    transport: Transport,
    email: String,
    /// The connection that registered, and is signed in as the user.
    client: Client,
    id: String,
}

impl<'a> Walk<'a> {
    /// Without a credential, user tools say what is missing.
    async fn connect(app: &'a TestApp, transport: Transport) -> Client {
        let client = app.mcp(transport).await;
        let body = op::<users::View>(&client, UserRef::default())
            .await
            .unwrap_err();
        assert_eq!(
            (body.code.as_str(), body.status),
            ("unauthorized", 401),
            "{transport:?}"
        );
        assert!(body.detail.unwrap().contains("user token"));
        client
    }

    /// Register (no public key over MCP) binds the connection; activate with the mailed code.
    async fn register(app: &'a TestApp, transport: Transport, email: &str) -> Self {
        let client = Self::connect(app, transport).await;
        let input = Register {
            first_name: "ada".into(),
            last_name: "lovelace".into(),
            email: email.into(),
            password: "long enough".into(),
        };
        let user = op::<auth::Register>(&client, input).await.unwrap();
        assert!(user.token.unwrap().starts_with("clara_user_"));
        let code = app.mail(email).await.code();
        let input = Activate {
            user_email: email.into(),
            code,
        };
        assert!(
            op::<auth::Activate>(&client, input)
                .await
                .unwrap()
                .is_active
        );
        Self {
            app,
            transport,
            email: email.into(),
            client,
            id: user.id,
        }
    }

    /// The bound connection acts as the user; returns the user's API key.
    async fn act_as_the_user(&self) -> String {
        let me = op::<users::View>(&self.client, UserRef::default())
            .await
            .unwrap();
        assert_eq!(me.id, self.id);
        let input = UpdateUser {
            last_name: Some("byron".into()),
            ..UpdateUser::default()
        };
        let updated = op::<users::Update>(&self.client, input).await.unwrap();
        assert_eq!(updated.last_name.as_deref(), Some("Byron"));
        let key = op::<api_keys::View>(&self.client, UserRef::default())
            .await
            .unwrap();
        key.token
    }

    async fn keyed(&self, key: &str) -> Client {
        let header = format!("Bearer {key}");
        self.app
            .mcp_with(self.transport, &[("authorization", &header)])
            .await
    }

    /// A new connection with the API key works on user tools, is refused API key tools and
    /// other users.
    async fn connect_with_the_api_key(&self, key: &str) {
        let keyed = self.keyed(key).await;
        let me = op::<users::View>(&keyed, UserRef::default()).await.unwrap();
        assert_eq!(me.id, self.id);
        let body = op::<api_keys::View>(&keyed, UserRef::default())
            .await
            .unwrap_err();
        assert_eq!(
            (body.status, body.message.as_str()),
            (403, "You do not have access to the requested resource.")
        );
        let other = UserRef {
            user_id: Some("user_00000000000000000000000000000000".into()),
        };
        let body = op::<users::View>(&keyed, other).await.unwrap_err();
        assert_eq!(body.status, 403, "another user's id");
        keyed.cancel().await.unwrap();
    }

    /// Reset invalidates the old key at once.
    async fn reset_the_api_key(&self, key: &str) {
        let new = op::<api_keys::Reset>(&self.client, UserRef::default())
            .await
            .unwrap();
        assert_ne!(new.token, key);
        let stale = self.keyed(key).await;
        let body = op::<users::View>(&stale, UserRef::default())
            .await
            .unwrap_err();
        assert_eq!(body.status, 401);
        stale.cancel().await.unwrap();
    }

    async fn send_code(&self, client: &Client) -> String {
        let input = SendOtp {
            user_email: self.email.clone(),
            otp_type: OtpType::TwoFactorAuth,
        };
        op::<auth::SendOtp>(client, input).await.unwrap();
        self.app.mail(&self.email).await.code()
    }

    async fn enable_2fa(&self) {
        let input = EnableTwoFactor {
            user_id: None,
            code: self.send_code(&self.client).await,
        };
        let done = op::<auth::Enable2fa>(&self.client, input).await.unwrap();
        assert_eq!(done.message, "User 2FA enabled successfully.");
        self.app.mail(&self.email).await; // the "2FA enabled" notice
    }

    fn login(&self, code: Option<String>) -> Login {
        Login {
            email: self.email.clone(),
            password: "long enough".into(),
            code,
        }
    }

    /// A fresh connection's login without a code fails with is_2fa_enabled; with the mailed
    /// code it signs the connection in; logout signs it out.
    async fn log_in_with_the_second_factor_and_out(&self) {
        let fresh = self.app.mcp(self.transport).await;
        let body = op::<auth::Login>(&fresh, self.login(None))
            .await
            .unwrap_err();
        assert_eq!(body.data, Some(json!({"is_2fa_enabled": true})));
        // Past the one-minute cooldown of the code Enable used (a stdio child has its own clock,
        // so the row is moved rather than the app's clock).
        self.app
            .sql("UPDATE otps SET created_at = created_at - 120")
            .await;
        let code = self.send_code(&fresh).await;
        let login = op::<auth::Login>(&fresh, self.login(Some(code)))
            .await
            .unwrap();
        assert!(login.token.is_some());
        let me = op::<users::View>(&fresh, UserRef::default()).await.unwrap();
        assert_eq!(me.email, self.email);
        op::<auth::Logout>(&fresh, NoInput {}).await.unwrap();
        let body = op::<users::View>(&fresh, UserRef::default())
            .await
            .unwrap_err();
        assert_eq!(body.status, 401, "logout ends the binding");
        fresh.cancel().await.unwrap();
    }
}

async fn flow(app: &TestApp, transport: Transport, email: &str) {
    let walk = Walk::register(app, transport, email).await;
    let key = walk.act_as_the_user().await;
    walk.connect_with_the_api_key(&key).await;
    walk.reset_the_api_key(&key).await;
    walk.enable_2fa().await;
    walk.log_in_with_the_second_factor_and_out().await;
    walk.client.cancel().await.unwrap();
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
    let key = format!("Bearer {}", app.api_key(&ann).await);
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
