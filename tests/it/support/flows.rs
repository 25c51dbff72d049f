//! Account flows the tests share: register, read the activation mail, activate, log in.

use base64::Engine as _;
use serde_json::{Value, json};

use super::{RestReply, TestApp};

/// A registered, activated user with a live session.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

impl TestUser {
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }
}

/// The code an authenticator app shows now for a base32 secret.
pub fn totp_now(secret_base32: &str) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).unwrap();
    totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_secret(secret.as_bytes().to_vec())
        .build_noncompliant()
        .generate_current()
        .to_string()
}

pub fn basic(email: &str, password: &str) -> String {
    let raw = format!("{email}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

impl TestApp {
    pub fn public_key(&self) -> String {
        self.app.config().public_api_key.clone()
    }

    /// Sends `method path` with an `Authorization` value and an optional JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> RestReply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, self.api(path));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    pub async fn register(&self, email: &str, password: &str) -> RestReply {
        let body = json!({"first_name": "ada", "last_name": "lovelace", "email": email, "password": password});
        self.call(
            "POST",
            "/auth/register",
            Some(&self.public_key()),
            Some(body),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str, code: Option<&str>) -> RestReply {
        let body = code.map(|c| json!({"code": c}));
        self.call("POST", "/auth/session", Some(&basic(email, password)), body)
            .await
    }

    /// Asks for an OTP and returns the code from the mail.
    pub async fn otp(&self, email: &str, otp_type: &str) -> String {
        let reply = self
            .call(
                "POST",
                &format!("/users/{email}/otp/{otp_type}"),
                Some(&self.public_key()),
                None,
            )
            .await;
        assert_eq!(reply.status, 201, "send OTP: {:?}", reply.body);
        self.mail(email).await.code()
    }

    /// Register, activate with the mailed code, and keep the registration's session.
    pub async fn user(&self, email: &str) -> TestUser {
        let password = "correct horse battery".to_string();
        let reply = self.register(email, &password).await;
        assert_eq!(reply.status, 201, "register: {:?}", reply.body);
        let id = reply.data()["id"].as_str().unwrap().to_string();
        let token = reply.data()["token"].as_str().unwrap().to_string();
        let code = self.mail(email).await.code();
        let reply = self
            .call(
                "POST",
                &format!("/users/{email}/activate"),
                Some(&self.public_key()),
                Some(json!({"code": code})),
            )
            .await;
        assert_eq!(reply.status, 200, "activate: {:?}", reply.body);
        TestUser {
            id,
            email: email.to_string(),
            password,
            token,
        }
    }

    /// The user's API key token (API Key View with their user token).
    pub async fn api_key(&self, user: &TestUser) -> String {
        let path = format!("/users/{}/api_key", user.id);
        let reply = self.call("GET", &path, Some(&user.bearer()), None).await;
        assert_eq!(reply.status, 200, "api key: {:?}", reply.body);
        reply.data()["token"].as_str().unwrap().to_string()
    }

    /// Runs SQL against the test database (for fixtures such as expiring a session).
    pub async fn sql(&self, sql: &str) -> u64 {
        let mut conn = self.app.store().conn().await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&mut *conn)
            .await
            .unwrap()
            .rows_affected()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let mut conn = self.app.store().conn().await.unwrap();
        let row: (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        row.0
    }

    /// Every text cell of every table, concatenated: what a database dump would show.
    pub async fn dump(&self) -> String {
        let mut out = String::new();
        for (table, columns) in [
            (
                "users",
                "id, email, password_hash, COALESCE(totp_secret, ''), COALESCE(totp_pending_secret, '')",
            ),
            ("sessions", "id, token_mac, user_id, ''"),
            ("api_keys", "id, salt, token_mac, user_id"),
            ("otps", "id, code_mac, otp_type, user_id"),
            ("recovery_codes", "code_mac, user_id, '', ''"),
            ("outbox", "id, recipient, text_body, html_body"),
        ] {
            let sql = format!("SELECT {columns} FROM {table}");
            let mut conn = self.app.store().conn().await.unwrap();
            let rows: Vec<(String, String, String, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap_or_default();
            for (a, b, c, d) in rows {
                out.push_str(&format!("{a}|{b}|{c}|{d}\n"));
            }
        }
        out
    }
}
