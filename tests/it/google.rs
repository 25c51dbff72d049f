//! Google sign-in against a loopback JWKS signed by a test RSA key.

use serde_json::json;

use crate::support::{TestApp, google};

async fn sign_in(app: &TestApp, id_token: &str) -> crate::support::RestReply {
    app.call(
        "POST",
        "/auth/google",
        None,
        Some(json!({"id_token": id_token})),
    )
    .await
}

#[tokio::test]
async fn a_new_google_user_is_created_active_with_the_full_name_as_first_name() {
    let app = TestApp::spawn().await;
    let token = google::sign(
        &google::claims("g-123", "grace@example.com", "grace hopper"),
        google::KID,
    );
    let reply = sign_in(&app, &token).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    assert_eq!(reply.message(), "User registered successfully.");
    assert_eq!(reply.data()["first_name"], "Grace Hopper");
    assert_eq!(reply.data()["last_name"], serde_json::Value::Null);
    assert_eq!(reply.data()["is_active"], true);
    let bearer = format!("Bearer {}", reply.data()["token"].as_str().unwrap());
    let id = reply.data()["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.call("GET", &format!("/users/{id}"), Some(&bearer), None)
            .await
            .status,
        200
    );

    // The same Google account signs in again: same user, "logged in".
    let reply = sign_in(&app, &token).await;
    assert_eq!(
        (reply.status, reply.message()),
        (201, "User logged in successfully.")
    );
    assert_eq!(reply.data()["id"], id.as_str());
    // Without a last name the "active" rule still holds the 2FA routes back.
    let reply = app
        .call(
            "POST",
            &format!("/users/{id}/2fa"),
            Some(&bearer),
            Some(json!({"code": "123456"})),
        )
        .await;
    assert_eq!(reply.status, 401);
}

#[tokio::test]
async fn an_existing_email_is_linked_and_activated() {
    let app = TestApp::spawn().await;
    let reply = app.register("Linus@Example.com", "long enough").await;
    let id = reply.data()["id"].as_str().unwrap().to_string();
    let token = google::sign(
        &google::claims("g-linus", "linus@example.com", "Linus"),
        google::KID,
    );
    let reply = sign_in(&app, &token).await;
    assert_eq!(
        (reply.status, reply.message()),
        (201, "User logged in successfully.")
    );
    assert_eq!(reply.data()["id"], id.as_str());
    assert_eq!(reply.data()["is_active"], true);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test]
async fn bad_id_tokens_are_401() {
    let app = TestApp::spawn().await;
    let good = google::claims("g-1", "x@example.com", "X");
    let mut cases = Vec::new();
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("someone-else.apps.googleusercontent.com");
    cases.push(("wrong audience", google::sign(&wrong_aud, google::KID)));
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("https://evil.example");
    cases.push(("wrong issuer", google::sign(&wrong_iss, google::KID)));
    let mut expired = good.clone();
    expired["exp"] = json!(clara::clock::Clock::system().now() - 3600);
    cases.push(("expired", google::sign(&expired, google::KID)));
    cases.push(("unknown kid", google::sign(&good, "no-such-key")));
    cases.push(("alg none", google::unsigned(&good)));
    let mut unverified = good.clone();
    unverified["email_verified"] = json!(false);
    cases.push(("unverified email", google::sign(&unverified, google::KID)));
    cases.push(("garbage", "not.a.jwt".to_string()));
    let mut tampered = google::sign(&good, google::KID);
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    cases.push(("bad signature", tampered));
    for (name, token) in cases {
        let reply = sign_in(&app, &token).await;
        assert_eq!(reply.status, 401, "{name}: {:?}", reply.body);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    let reply = app.call("POST", "/auth/google", None, None).await;
    assert_eq!(
        (reply.status, reply.message()),
        (400, "Request body is empty.")
    );
}

#[tokio::test]
async fn google_sign_in_is_401_when_not_configured() {
    let app = TestApp::spawn_with(|s| s.google_client_id = None).await;
    let token = google::sign(&google::claims("g-1", "x@example.com", "X"), google::KID);
    assert_eq!(sign_in(&app, &token).await.status, 401);
}

#[tokio::test]
async fn the_jwks_is_cached_per_cache_control_and_forged_kids_cause_no_fetch_storm() {
    let app = TestApp::spawn().await;
    for i in 0..3 {
        let claims = google::claims(&format!("g-{i}"), &format!("u{i}@example.com"), "U");
        assert_eq!(
            sign_in(&app, &google::sign(&claims, google::KID))
                .await
                .status,
            201
        );
    }
    assert_eq!(
        app.google.fetches(),
        1,
        "max-age=3600: one fetch serves every sign-in"
    );
    let claims = google::claims("g-x", "x@example.com", "X");
    for _ in 0..5 {
        let reply = sign_in(&app, &google::sign(&claims, "forged-kid")).await;
        assert_eq!(reply.status, 401);
    }
    assert_eq!(
        app.google.fetches(),
        1,
        "unknown kids refetch at most once a minute"
    );
}
