//! The documented account flow over REST, end to end, with the codes read from real mail.

use serde_json::json;

use crate::support::{TestApp, flows::basic};

#[tokio::test]
async fn the_whole_documented_flow_works_over_rest() {
    let app = TestApp::spawn().await;
    let pk = app.public_key();

    // Register: 201, the documented user object with a token, inactive, names title-cased.
    let reply = app.register("Hello@Crazi.co", "e|YUiO2PIj7E'0&V").await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.message(), "User registered successfully.");
    let user = reply.data().clone();
    let id = user["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("user_") && id.len() == 37, "{id}");
    assert_eq!(user["first_name"], "Ada");
    assert_eq!(user["last_name"], "Lovelace");
    assert_eq!(user["email"], "Hello@Crazi.co");
    assert_eq!(user["credits"], json!(0.0));
    assert_eq!(user["is_active"], false);
    assert_eq!(user["is_2fa_enabled"], false);
    assert_eq!(user["is_dark_mode"], true);
    assert!(user["token"].as_str().unwrap().starts_with("clara_user_"));
    assert!(user["created_at"].as_str().unwrap().ends_with(" GMT"));

    // The welcome mail carries the activation code and link.
    let welcome = app.mail("Hello@Crazi.co").await;
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
    let code = welcome.code();

    // Activate (emails are case-insensitive).
    let reply = app
        .call(
            "POST",
            "/users/hello@crazi.co/activate",
            Some(&pk),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.message(), "User activated successfully.");
    assert_eq!(reply.data()["is_active"], true);
    assert!(
        reply.data().get("token").is_none(),
        "Activate returns no token"
    );

    // Log in with Basic.
    let reply = app.login("hello@crazi.co", "e|YUiO2PIj7E'0&V", None).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.message(), "User logged in successfully.");
    let token = reply.data()["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");

    // View and update the user.
    let reply = app
        .call("GET", &format!("/users/{id}"), Some(&bearer), None)
        .await;
    assert_eq!(
        (reply.status, reply.message()),
        (200, "User fetched successfully.")
    );
    let reply = app
        .call(
            "PATCH",
            &format!("/users/{id}"),
            Some(&bearer),
            Some(json!({"first_name": "vibhanshu", "is_dark_mode": false})),
        )
        .await;
    assert_eq!(
        (reply.status, reply.message()),
        (200, "User updated successfully.")
    );
    assert_eq!(reply.data()["first_name"], "Vibhanshu");
    assert_eq!(reply.data()["is_dark_mode"], false);

    // View and reset the API key; the old key is refused afterwards.
    let reply = app
        .call("GET", &format!("/users/{id}/api_key"), Some(&bearer), None)
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let old_key = reply.data()["token"].as_str().unwrap().to_string();
    assert!(old_key.starts_with("clara_api_"));
    assert!(reply.data()["id"].as_str().unwrap().starts_with("api_key_"));
    let again = app
        .call("GET", &format!("/users/{id}/api_key"), Some(&bearer), None)
        .await;
    assert_eq!(again.data()["token"], old_key.as_str(), "View is stable");
    let with_key = app
        .call(
            "GET",
            &format!("/users/{id}"),
            Some(&format!("Bearer {old_key}")),
            None,
        )
        .await;
    assert_eq!(
        with_key.status, 200,
        "the API key works: {:?}",
        with_key.body
    );
    let reply = app
        .call("POST", &format!("/users/{id}/api_key"), Some(&bearer), None)
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let new_key = reply.data()["token"].as_str().unwrap().to_string();
    assert_ne!(new_key, old_key);
    let refused = app
        .call(
            "GET",
            &format!("/users/{id}"),
            Some(&format!("Bearer {old_key}")),
            None,
        )
        .await;
    assert_eq!(refused.status, 401);
    let accepted = app
        .call(
            "GET",
            &format!("/users/{id}"),
            Some(&format!("Bearer {new_key}")),
            None,
        )
        .await;
    assert_eq!(accepted.status, 200);

    // Enable 2FA with an emailed TWO_FACTOR_AUTH code.
    let code = app.otp("hello@crazi.co", "TWO_FACTOR_AUTH").await;
    let reply = app
        .call(
            "POST",
            &format!("/users/{id}/2fa"),
            Some(&bearer),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        reply.body,
        json!({"data": null, "message": "User 2FA enabled successfully.", "status": "success"})
    );
    assert!(
        app.mail("hello@crazi.co")
            .await
            .subject()
            .contains("enabled")
    );

    // Login without a code: 401 with is_2fa_enabled, no session left behind.
    let sessions = app.count("SELECT COUNT(*) FROM sessions").await;
    let reply = app.login("hello@crazi.co", "e|YUiO2PIj7E'0&V", None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body["data"], json!({"is_2fa_enabled": true}));
    assert_eq!(
        reply.message(),
        "Authorization header or OTP is either missing, invalid or expired."
    );
    let reply = app
        .login("hello@crazi.co", "e|YUiO2PIj7E'0&V", Some("000000"))
        .await;
    assert_eq!(
        (reply.status, &reply.body["data"]),
        (401, &json!({"is_2fa_enabled": true}))
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions").await,
        sessions,
        "no session left behind"
    );

    // Login with the emailed code.
    let code = app.otp("hello@crazi.co", "TWO_FACTOR_AUTH").await;
    let reply = app
        .login("hello@crazi.co", "e|YUiO2PIj7E'0&V", Some(&code))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let other_session = format!("Bearer {}", reply.data()["token"].as_str().unwrap());

    // Change the password with a CHANGE_PASSWORD code: other sessions are refused afterwards.
    let code = app.otp("hello@crazi.co", "CHANGE_PASSWORD").await;
    let reply = app
        .call(
            "PATCH",
            "/users/hello@crazi.co/password",
            Some(&bearer),
            Some(json!({"password": "a new passphrase", "code": code})),
        )
        .await;
    assert_eq!(
        reply.body,
        json!({"data": null, "message": "User password changed successfully.", "status": "success"})
    );
    assert!(
        app.mail("hello@crazi.co")
            .await
            .subject()
            .contains("password")
    );
    assert_eq!(
        app.call("GET", &format!("/users/{id}"), Some(&other_session), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.call("GET", &format!("/users/{id}"), Some(&bearer), None)
            .await
            .status,
        200,
        "own session kept"
    );
    assert_eq!(
        app.login("hello@crazi.co", "e|YUiO2PIj7E'0&V", Some("123456"))
            .await
            .status,
        401,
        "old password"
    );

    // Disable 2FA: 204, empty body.
    let code = app.otp("hello@crazi.co", "TWO_FACTOR_AUTH").await;
    let reply = app
        .call(
            "DELETE",
            &format!("/users/{id}/2fa"),
            Some(&bearer),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(reply.status, 204, "{:?}", reply.body);
    assert_eq!(reply.body, serde_json::Value::Null);
    assert!(
        app.mail("hello@crazi.co")
            .await
            .subject()
            .contains("disabled")
    );
    let reply = app.login("hello@crazi.co", "a new passphrase", None).await;
    assert_eq!(
        reply.status, 200,
        "no code needed any more: {:?}",
        reply.body
    );

    // Log out: 204, and the token is refused afterwards.
    let reply = app
        .call("DELETE", "/auth/session", Some(&bearer), None)
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(
        app.call("GET", &format!("/users/{id}"), Some(&bearer), None)
            .await
            .status,
        401
    );
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
