//! The documented account flow over REST, end to end, with the codes read from real mail.

use clara::{
    catalog::{api_keys, auth, users},
    services::{
        NoInput,
        otp::SendOtp,
        passwords::ChangePassword,
        sessions::Login,
        signup,
        two_factor::DisableTwoFactor,
        users::{PublicUser, UpdateUser, UserRef},
    },
};
use serde_json::json;

use crate::support::{TestApp, flows::basic};

const EMAIL: &str = "Hello@Crazi.co";
const PASSWORD: &str = "e|YUiO2PIj7E'0&V";

/// One user walking the documented flow over REST, one step per method.
struct Walk {
    app: TestApp,
    id: String,
    /// `Bearer <token>` of the session the steps act with.
    bearer: String,
    password: String,
}

impl Walk {
    fn me(&self) -> UserRef {
        UserRef {
            user_id: Some(self.id.clone()),
        }
    }

    async fn login(&self, code: Option<&str>) -> Result<PublicUser, clara::error::ErrorBody> {
        let input = Login {
            email: EMAIL.to_lowercase(),
            password: self.password.clone(),
            code: code.map(str::to_string),
        };
        self.app.rest::<auth::Login>(None, input).await
    }

    /// Register: 201, the documented user object with a token, inactive, names title-cased;
    /// the welcome mail carries the activation link.
    async fn register() -> Self {
        let app = TestApp::spawn().await;
        let input = signup::Register {
            first_name: "ada".into(),
            last_name: "lovelace".into(),
            email: EMAIL.into(),
            password: PASSWORD.into(),
        };
        let reply = app
            .rest_reply::<auth::Register>(Some(&app.public_key()), input)
            .await;
        assert_eq!(
            (reply.status, reply.message()),
            (201, "User registered successfully.")
        );
        let user: PublicUser = serde_json::from_value(reply.data().clone()).unwrap();
        assert!(
            user.id.starts_with("user_") && user.id.len() == 37,
            "{}",
            user.id
        );
        assert_eq!(
            (user.first_name.as_deref(), user.last_name.as_deref()),
            (Some("Ada"), Some("Lovelace"))
        );
        assert_eq!(user.email, EMAIL);
        assert_eq!(reply.data()["credits"], json!(0.0));
        assert!(!user.is_active && !user.is_2fa_enabled && user.is_dark_mode);
        assert!(user.token.as_deref().unwrap().starts_with("clara_user_"));
        assert!(user.created_at.ends_with(" GMT"));
        let welcome = app.mail(EMAIL).await;
        assert!(
            welcome.subject().contains("Welcome"),
            "{}",
            welcome.subject()
        );
        assert!(
            welcome.raw.contains("/auth/email/activate?email="),
            "{}",
            welcome.raw
        );
        Self {
            bearer: format!("Bearer {}", user.token.unwrap()),
            id: user.id,
            password: PASSWORD.into(),
            app,
        }
        .activate(&welcome.code())
        .await
    }

    /// Activate with the mailed code (emails are case-insensitive); no token in the answer.
    async fn activate(self, code: &str) -> Self {
        let input = signup::Activate {
            user_email: EMAIL.to_lowercase(),
            code: code.into(),
        };
        let user = self
            .app
            .rest::<auth::Activate>(Some(&self.app.public_key()), input)
            .await
            .unwrap();
        assert!(user.is_active);
        assert!(user.token.is_none(), "Activate returns no token");
        self
    }

    /// Log in with Basic; later steps act with this session.
    async fn log_in(mut self) -> Self {
        let user = self.login(None).await.expect("login");
        self.bearer = format!("Bearer {}", user.token.unwrap());
        self
    }

    async fn view_and_update_the_user(&self) {
        let user = self
            .app
            .rest::<users::View>(Some(&self.bearer), self.me())
            .await
            .unwrap();
        assert_eq!(user.id, self.id);
        let input = UpdateUser {
            user_id: Some(self.id.clone()),
            first_name: Some("vibhanshu".into()),
            is_dark_mode: Some(false),
            ..UpdateUser::default()
        };
        let user = self
            .app
            .rest::<users::Update>(Some(&self.bearer), input)
            .await
            .unwrap();
        assert_eq!(user.first_name.as_deref(), Some("Vibhanshu"));
        assert!(!user.is_dark_mode);
    }

    /// View the API key (stable, usable as Bearer), reset it: the old one is refused at once.
    async fn view_and_reset_the_api_key(&self) {
        let app = &self.app;
        let key = app
            .rest::<api_keys::View>(Some(&self.bearer), self.me())
            .await
            .unwrap();
        assert!(key.token.starts_with("clara_api_") && key.id.starts_with("api_key_"));
        let again = app
            .rest::<api_keys::View>(Some(&self.bearer), self.me())
            .await
            .unwrap();
        assert_eq!(again.token, key.token, "View is stable");
        let old = format!("Bearer {}", key.token);
        assert!(
            app.rest::<users::View>(Some(&old), self.me()).await.is_ok(),
            "the key works"
        );
        let new = app
            .rest::<api_keys::Reset>(Some(&self.bearer), self.me())
            .await
            .unwrap();
        assert_ne!(new.token, key.token);
        let refused = app
            .rest::<users::View>(Some(&old), self.me())
            .await
            .unwrap_err();
        assert_eq!(refused.status, 401);
        let new = format!("Bearer {}", new.token);
        assert!(app.rest::<users::View>(Some(&new), self.me()).await.is_ok());
    }

    async fn code(&self, otp_type: &str) -> String {
        self.app.otp(EMAIL, otp_type).await
    }

    /// Enable 2FA with an emailed TWO_FACTOR_AUTH code: `data` is null; a notice is mailed.
    async fn enable_2fa(&self) {
        let body = json!({"code": self.code("TWO_FACTOR_AUTH").await});
        let reply = self
            .app
            .call(
                "POST",
                &format!("/users/{}/2fa", self.id),
                Some(&self.bearer),
                Some(body),
            )
            .await;
        assert_eq!(
            reply.body,
            json!({"data": null, "message": "User 2FA enabled successfully.", "status": "success"})
        );
        assert!(self.app.mail(EMAIL).await.subject().contains("enabled"));
    }

    /// Login without a code, or with a wrong one: 401 with is_2fa_enabled, and no session is
    /// made; with the mailed code it works.
    async fn log_in_with_the_second_factor(&self) -> String {
        let sessions = self.app.count("SELECT COUNT(*) FROM sessions").await;
        for code in [None, Some("000000")] {
            let err = self.login(code).await.unwrap_err();
            assert_eq!(
                (err.status, err.data),
                (401, Some(json!({"is_2fa_enabled": true})))
            );
            assert_eq!(
                err.message,
                "Authorization header or OTP is either missing, invalid or expired."
            );
        }
        let after = self.app.count("SELECT COUNT(*) FROM sessions").await;
        assert_eq!(after, sessions, "no session left behind");
        let code = self.code("TWO_FACTOR_AUTH").await;
        let user = self
            .login(Some(&code))
            .await
            .expect("login with the mailed code");
        format!("Bearer {}", user.token.unwrap())
    }

    /// Change the password with a CHANGE_PASSWORD code: other sessions are refused afterwards,
    /// the caller's own stays, the old password is refused; a notice is mailed.
    async fn change_the_password(mut self, other_session: &str) -> Self {
        let input = ChangePassword {
            user_email: EMAIL.to_lowercase(),
            password: "a new passphrase".into(),
            code: self.code("CHANGE_PASSWORD").await,
        };
        let reply = self
            .app
            .rest_reply::<auth::ChangePassword>(Some(&self.bearer), input)
            .await;
        assert_eq!(
            reply.body,
            json!({"data": null, "message": "User password changed successfully.", "status": "success"})
        );
        assert!(self.app.mail(EMAIL).await.subject().contains("password"));
        let app = &self.app;
        assert_eq!(
            app.rest::<users::View>(Some(other_session), self.me())
                .await
                .unwrap_err()
                .status,
            401
        );
        assert!(
            app.rest::<users::View>(Some(&self.bearer), self.me())
                .await
                .is_ok(),
            "own session kept"
        );
        assert_eq!(
            self.login(Some("123456")).await.unwrap_err().status,
            401,
            "old password"
        );
        self.password = "a new passphrase".into();
        self
    }

    /// Disable 2FA: 204 with an empty body; a notice is mailed; login needs no code any more.
    async fn disable_2fa(&self) {
        let input = DisableTwoFactor {
            user_id: Some(self.id.clone()),
            code: self.code("TWO_FACTOR_AUTH").await,
        };
        let reply = self
            .app
            .rest_reply::<auth::Disable2fa>(Some(&self.bearer), input)
            .await;
        assert_eq!((reply.status, &reply.body), (204, &serde_json::Value::Null));
        assert!(self.app.mail(EMAIL).await.subject().contains("disabled"));
        assert!(self.login(None).await.is_ok(), "no code needed any more");
    }

    /// Log out: 204, and the token is refused afterwards.
    async fn log_out(&self) {
        let done = self
            .app
            .rest::<auth::Logout>(Some(&self.bearer), NoInput {})
            .await
            .unwrap();
        assert_eq!(done.message, "User logged out successfully.");
        let err = self
            .app
            .rest::<users::View>(Some(&self.bearer), self.me())
            .await
            .unwrap_err();
        assert_eq!(err.status, 401);
    }
}

#[tokio::test]
async fn the_whole_documented_flow_works_over_rest() {
    let walk = Walk::register().await.log_in().await;
    walk.view_and_update_the_user().await;
    walk.view_and_reset_the_api_key().await;
    walk.enable_2fa().await;
    let other_session = walk.log_in_with_the_second_factor().await;
    let walk = walk.change_the_password(&other_session).await;
    walk.disable_2fa().await;
    walk.log_out().await;
}

#[tokio::test]
async fn send_otp_answers_201_with_null_data() {
    let walk = Walk::register().await;
    let input = SendOtp {
        user_email: EMAIL.into(),
        otp_type: clara::services::otp::OtpType::ChangePassword,
    };
    let done = walk
        .app
        .rest::<auth::SendOtp>(Some(&walk.app.public_key()), input)
        .await
        .unwrap();
    assert_eq!(done.message, "OTP sent successfully.");
}

#[tokio::test]
async fn register_refuses_a_taken_email_short_passwords_and_bad_bodies() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.register("taken@example.com", "long enough")
            .await
            .status,
        201
    );
    let reply = app.register("TAKEN@example.com", "long enough").await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        "User with the given identifier already exists."
    );
    let reply = app.register("short@example.com", "1234567").await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.message(),
        "One or more required parameters are either not given or have invalid schema."
    );
    let reply = app.register("not-an-email", "long enough").await;
    assert_eq!(reply.status, 400);
    let reply = app
        .call("POST", "/auth/register", Some(&app.public_key()), None)
        .await;
    assert_eq!(
        (reply.status, reply.message()),
        (400, "Request body is empty.")
    );
    let reply = app
        .send(
            app.http
                .post(app.api("/auth/register"))
                .header("authorization", app.public_key())
                .header("content-type", "application/json")
                .body("{\"first_name\": "),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.body["data"], serde_json::Value::Null);
    let reply = app
        .call(
            "POST",
            "/auth/register",
            Some(&app.public_key()),
            Some(
                json!({"first_name": "a", "last_name": "b", "email": 5, "password": "long enough"}),
            ),
        )
        .await;
    assert_eq!(reply.status, 400, "wrong type");
    let big = "x".repeat(2 * 1024 * 1024);
    let reply = app
        .call("POST", "/auth/register", Some(&app.public_key()), Some(json!({"first_name": big, "last_name": "b", "email": "big@example.com", "password": "long enough"})))
        .await;
    assert_eq!(reply.status, 413);
    // Without the public key: 401; nothing was written by any of these.
    let reply = app
        .call("POST", "/auth/register", None, Some(json!({"first_name": "a", "last_name": "b", "email": "nokey@example.com", "password": "long enough"})))
        .await;
    assert_eq!(reply.status, 401);
    let reply = app.call("POST", "/auth/register", None, None).await;
    assert_eq!(reply.status, 401, "credentials are checked before the body");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test]
async fn login_refuses_wrong_passwords_unknown_emails_and_other_schemes() {
    let app = TestApp::spawn().await;
    let user = app.user("ann@example.com").await;
    assert_eq!(
        app.login("ann@example.com", "wrong password", None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.login("nobody@example.com", "whatever1", None)
            .await
            .status,
        401
    );
    let reply = app
        .call("POST", "/auth/session", Some(&user.bearer()), None)
        .await;
    assert_eq!(reply.status, 401, "a token is not a login credential");
    let reply = app.call("POST", "/auth/session", None, None).await;
    assert_eq!(reply.status, 401);
    let reply = app.login("ANN@EXAMPLE.COM", &user.password, None).await;
    assert_eq!(reply.status, 200, "emails match case-insensitively");
    let _ = basic("a", "b");
}

#[tokio::test]
async fn user_update_refuses_forbidden_and_unknown_keys() {
    let app = TestApp::spawn().await;
    let user = app.user("upd@example.com").await;
    let path = format!("/users/{}", user.id);
    for key in [
        "id",
        "email",
        "password",
        "credits",
        "is_2fa_enabled",
        "is_active",
        "created_at",
        "updated_at",
        "stripe_customer_id",
        "nickname",
    ] {
        let reply = app
            .call(
                "PATCH",
                &path,
                Some(&user.bearer()),
                Some(json!({ key: "x" })),
            )
            .await;
        assert_eq!(reply.status, 400, "{key}");
        assert_eq!(
            reply.message(),
            "One or more required parameters are either not given or have invalid schema."
        );
    }
    let reply = app
        .call(
            "PATCH",
            &path,
            Some(&user.bearer()),
            Some(json!({"first_name": "   "})),
        )
        .await;
    assert_eq!(reply.status, 400);
    let reply = app.call("PATCH", &path, Some(&user.bearer()), None).await;
    assert_eq!(
        (reply.status, reply.message()),
        (400, "Request body is empty.")
    );
    let reply = app.call("GET", &path, Some(&user.bearer()), None).await;
    assert_eq!(reply.data()["email"], "upd@example.com");
    assert_eq!(reply.data()["first_name"], "Ada");
}

#[tokio::test]
async fn tokens_may_only_touch_their_own_user_and_keys_only_their_routes() {
    let app = TestApp::spawn().await;
    let ann = app.user("ann@example.com").await;
    let bob = app.user("bob@example.com").await;
    let forbidden = "You do not have access to the requested resource.";
    let reply = app
        .call(
            "GET",
            &format!("/users/{}", bob.id),
            Some(&ann.bearer()),
            None,
        )
        .await;
    assert_eq!((reply.status, reply.message()), (403, forbidden));
    let reply = app
        .call(
            "PATCH",
            &format!("/users/{}", bob.id),
            Some(&ann.bearer()),
            Some(json!({"first_name": "x"})),
        )
        .await;
    assert_eq!(reply.status, 403);
    let reply = app
        .call(
            "PATCH",
            "/users/bob@example.com/password",
            Some(&ann.bearer()),
            Some(json!({"password": "whatever12", "code": "123456"})),
        )
        .await;
    assert_eq!(reply.status, 403);

    // An API key token works on User View but not on API Key View or Logout.
    let key = app
        .call(
            "GET",
            &format!("/users/{}/api_key", ann.id),
            Some(&ann.bearer()),
            None,
        )
        .await;
    let key = format!("Bearer {}", key.data()["token"].as_str().unwrap());
    assert_eq!(
        app.call("GET", &format!("/users/{}", ann.id), Some(&key), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call(
            "GET",
            &format!("/users/{}/api_key", ann.id),
            Some(&key),
            None
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.call("DELETE", "/auth/session", Some(&key), None)
            .await
            .status,
        403
    );
    // The public key is not a user credential; garbage is 401.
    assert_eq!(
        app.call(
            "GET",
            &format!("/users/{}", ann.id),
            Some(&app.public_key()),
            None
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.call(
            "GET",
            &format!("/users/{}", ann.id),
            Some("Bearer clara_user_nope"),
            None
        )
        .await
        .status,
        401
    );
    assert_eq!(
        app.call("GET", &format!("/users/{}", ann.id), Some("garbage"), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.call("GET", &format!("/users/{}", ann.id), None, None)
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn the_private_key_addresses_any_user_when_configured() {
    let app =
        TestApp::spawn_with(|s| s.private_api_key = Some("clara_private_test_key".into())).await;
    let ann = app.user("ann@example.com").await;
    let reply = app
        .call(
            "GET",
            &format!("/users/{}", ann.id),
            Some("clara_private_test_key"),
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.data()["email"], "ann@example.com");
    let reply = app
        .call(
            "GET",
            "/users/user_00000000000000000000000000000000",
            Some("clara_private_test_key"),
            None,
        )
        .await;
    assert_eq!(
        (reply.status, reply.message()),
        (404, "User with the given identifier does not exist.")
    );
    assert_eq!(
        app.call(
            "DELETE",
            "/auth/session",
            Some("clara_private_test_key"),
            None
        )
        .await
        .status,
        403
    );
}

#[tokio::test]
async fn the_active_rule_guards_2fa_routes() {
    let app = TestApp::spawn().await;
    let reply = app.register("new@example.com", "long enough").await;
    let id = reply.data()["id"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {}", reply.data()["token"].as_str().unwrap());
    let reply = app
        .call(
            "POST",
            &format!("/users/{id}/2fa"),
            Some(&bearer),
            Some(json!({"code": "123456"})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.message()),
        (
            401,
            "Please activate your account to access the requested resource."
        )
    );
    // User View works for inactive users.
    assert_eq!(
        app.call("GET", &format!("/users/{id}"), Some(&bearer), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn send_otp_knows_its_types_and_emails() {
    let app = TestApp::spawn().await;
    app.user("ann@example.com").await;
    let pk = app.public_key();
    let reply = app
        .call(
            "POST",
            "/users/ann@example.com/otp/SOMETHING",
            Some(&pk),
            None,
        )
        .await;
    assert_eq!(reply.status, 400);
    let reply = app
        .call(
            "POST",
            "/users/nobody@example.com/otp/ACTIVATION",
            Some(&pk),
            None,
        )
        .await;
    assert_eq!(
        (reply.status, reply.message()),
        (404, "User with the given identifier does not exist.")
    );
    let reply = app
        .call("POST", "/users/ann@example.com/otp/ACTIVATION", None, None)
        .await;
    assert_eq!(reply.status, 401);
    let reply = app
        .call(
            "POST",
            "/users/ann@example.com/otp/CHANGE_PASSWORD",
            Some(&pk),
            None,
        )
        .await;
    assert_eq!(
        reply.body,
        json!({"data": null, "message": "OTP sent successfully.", "status": "success"})
    );
}
