//! The security requirements of the accounts issue, one test each.

use std::{sync::atomic::Ordering, time::Duration};

use serde_json::json;
use totp_rs::{Algorithm, Secret, Totp};

use crate::support::{TestApp, mcp};

fn totp_for(secret_base32: &str) -> Totp {
    let secret = Secret::try_from_base32(secret_base32).unwrap();
    totp_rs::Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_secret(secret.as_bytes().to_vec())
        .build_noncompliant()
}

#[tokio::test]
async fn a_database_dump_holds_no_usable_token_or_code() {
    let app = TestApp::spawn().await;
    let user = app.user("ann@example.com").await;
    let api_key = app.api_key(&user).await;
    let code = app.otp("ann@example.com", "CHANGE_PASSWORD").await;
    tokio::time::sleep(Duration::from_millis(300)).await; // let the worker mark the mail sent
    let dump = app.dump().await;
    assert!(!dump.contains(&user.token), "session token in the dump");
    assert!(!dump.contains(&api_key), "API key token in the dump");
    assert!(
        !dump.contains(&api_key["clara_api_".len()..]),
        "API key token body in the dump"
    );
    assert!(
        !dump.contains(&code),
        "OTP code in the dump (outbox bodies are emptied once sent)"
    );
    assert!(!dump.contains(&user.password));
}

#[tokio::test]
async fn eight_concurrent_submissions_of_one_code_succeed_exactly_once() {
    let app = TestApp::spawn().await;
    app.user("ann@example.com").await;
    let code = app.otp("ann@example.com", "CHANGE_PASSWORD").await;
    let pk = app.public_key();
    let attempts = (0..8).map(|i| {
        let body = json!({"password": format!("new password {i}"), "code": code});
        app.call(
            "PATCH",
            "/users/ann@example.com/password",
            Some(&pk),
            Some(body),
        )
    });
    let replies = futures::future::join_all(attempts).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        7,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn five_wrong_attempts_kill_a_code() {
    let app = TestApp::spawn().await;
    let reply = app.register("ann@example.com", "long enough").await;
    assert_eq!(reply.status, 201);
    let code = app.mail("ann@example.com").await.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let reply = app
            .call(
                "POST",
                "/users/ann@example.com/activate",
                Some(&app.public_key()),
                Some(json!({"code": wrong})),
            )
            .await;
        assert_eq!(reply.status, 401);
    }
    let reply = app
        .call(
            "POST",
            "/users/ann@example.com/activate",
            Some(&app.public_key()),
            Some(json!({"code": code})),
        )
        .await;
    assert_eq!(
        reply.status, 401,
        "the right code no longer works after 5 wrong ones"
    );
}

#[tokio::test]
async fn a_new_code_replaces_the_old_and_codes_expire() {
    let app = TestApp::spawn().await;
    app.register("ann@example.com", "long enough").await;
    let first = app.mail("ann@example.com").await.code();
    app.app.clock().advance(120); // past the cooldown
    let second = app.otp("ann@example.com", "ACTIVATION").await;
    if first != second {
        let reply = app
            .call(
                "POST",
                "/users/ann@example.com/activate",
                Some(&app.public_key()),
                Some(json!({"code": first})),
            )
            .await;
        assert_eq!(reply.status, 401, "the replaced code is dead");
    }
    app.app.clock().advance(601);
    let reply = app
        .call(
            "POST",
            "/users/ann@example.com/activate",
            Some(&app.public_key()),
            Some(json!({"code": second})),
        )
        .await;
    assert_eq!(reply.status, 401, "an expired code is refused");
}

#[tokio::test]
async fn a_second_code_inside_a_minute_is_429_with_retry_after() {
    let app = TestApp::spawn().await;
    app.user("ann@example.com").await;
    app.otp("ann@example.com", "TWO_FACTOR_AUTH").await;
    let reply = app
        .call(
            "POST",
            "/users/ann@example.com/otp/TWO_FACTOR_AUTH",
            Some(&app.public_key()),
            None,
        )
        .await;
    assert_eq!(reply.status, 429);
    assert_eq!(
        reply.body,
        json!({"data": null, "message": "You have exceeded the rate limit.", "status": "error"})
    );
    let retry: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Other types have their own cooldown.
    assert_eq!(
        app.call(
            "POST",
            "/users/ann@example.com/otp/CHANGE_PASSWORD",
            Some(&app.public_key()),
            None
        )
        .await
        .status,
        201
    );
}

#[tokio::test]
async fn sessions_expire_after_seven_days() {
    let app = TestApp::spawn().await;
    let user = app.user("ann@example.com").await;
    let ttl = app
        .count("SELECT MAX(expires_at - created_at) FROM sessions")
        .await;
    assert_eq!(ttl, 7 * 24 * 3600);
    let path = format!("/users/{}", user.id);
    app.app.clock().advance(7 * 24 * 3600 - 5);
    let reply = app.call("GET", &path, Some(&user.bearer()), None).await;
    assert_eq!(reply.status, 200, "still valid just before seven days");
    app.app.clock().advance(5);
    assert_eq!(
        app.call(
            "GET",
            &format!("/users/{}", user.id),
            Some(&user.bearer()),
            None
        )
        .await
        .status,
        401
    );
}

#[tokio::test]
async fn logout_revokes_only_the_presented_token() {
    let app = TestApp::spawn().await;
    let user = app.user("ann@example.com").await;
    let second = app.login("ann@example.com", &user.password, None).await;
    let second = format!("Bearer {}", second.data()["token"].as_str().unwrap());
    assert_eq!(
        app.call("DELETE", "/auth/session", Some(&second), None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.call("DELETE", "/auth/session", Some(&second), None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.call(
            "GET",
            &format!("/users/{}", user.id),
            Some(&user.bearer()),
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn changing_the_password_voids_pending_codes() {
    let app = TestApp::spawn().await;
    let user = app.user("ann@example.com").await;
    let two_fa = app.otp("ann@example.com", "TWO_FACTOR_AUTH").await;
    let code = app.otp("ann@example.com", "CHANGE_PASSWORD").await;
    let reply = app
        .call(
            "PATCH",
            "/users/ann@example.com/password",
            Some(&app.public_key()),
            Some(json!({"password": "brand new one", "code": code})),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        app.call(
            "GET",
            &format!("/users/{}", user.id),
            Some(&user.bearer()),
            None
        )
        .await
        .status,
        401,
        "with the public key every session ends"
    );
    let fresh = app.login("ann@example.com", "brand new one", None).await;
    let bearer = format!("Bearer {}", fresh.data()["token"].as_str().unwrap());
    let reply = app
        .call(
            "POST",
            &format!("/users/{}/2fa", user.id),
            Some(&bearer),
            Some(json!({"code": two_fa})),
        )
        .await;
    assert_eq!(
        reply.status, 401,
        "the pending 2FA code died with the password change"
    );
    let reply = app
        .call(
            "PATCH",
            "/users/ann@example.com/password",
            Some(&app.public_key()),
            Some(json!({"password": "short", "code": "123456"})),
        )
        .await;
    assert_eq!(reply.status, 400);
}

#[tokio::test]
async fn totp_enrollment_login_replay_and_recovery_codes() {
    let app = TestApp::spawn().await;
    let user = app.user("ann@example.com").await;
    let enroll = app
        .call(
            "POST",
            &format!("/users/{}/2fa/totp", user.id),
            Some(&user.bearer()),
            None,
        )
        .await;
    assert_eq!(enroll.status, 201, "{:?}", enroll.body);
    let uri = enroll.data()["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Clara:"), "{uri}");
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(enroll.data()["qr_png_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
    let totp = totp_for(enroll.data()["secret"].as_str().unwrap());
    let now = clara::clock::Clock::system().now() as u64;

    // A wrong code does not confirm; the current one does and returns 10 recovery codes.
    let reply = app
        .call(
            "POST",
            &format!("/users/{}/2fa/totp/confirm", user.id),
            Some(&user.bearer()),
            Some(json!({"code": "000000"})),
        )
        .await;
    assert_eq!(reply.status, 401);
    let code_now = totp.generate(now).to_string();
    let reply = app
        .call(
            "POST",
            &format!("/users/{}/2fa/totp/confirm", user.id),
            Some(&user.bearer()),
            Some(json!({"code": code_now})),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let recovery: Vec<String> =
        serde_json::from_value(reply.data()["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);
    let view = app
        .call(
            "GET",
            &format!("/users/{}", user.id),
            Some(&user.bearer()),
            None,
        )
        .await;
    assert_eq!(view.data()["is_2fa_enabled"], true);

    // The step used to confirm cannot be replayed; the next step logs in once.
    let reply = app
        .login("ann@example.com", &user.password, Some(&code_now))
        .await;
    assert_eq!(reply.status, 401, "replay of the confirming step");
    let next = totp.generate(now + 30).to_string();
    assert_eq!(
        app.login("ann@example.com", &user.password, Some(&next))
            .await
            .status,
        200
    );
    assert_eq!(
        app.login("ann@example.com", &user.password, Some(&next))
            .await
            .status,
        401,
        "a step is usable once"
    );

    // A recovery code works once.
    assert_eq!(
        app.login("ann@example.com", &user.password, Some(&recovery[0]))
            .await
            .status,
        200
    );
    assert_eq!(
        app.login("ann@example.com", &user.password, Some(&recovery[0]))
            .await
            .status,
        401
    );
    assert_eq!(
        app.login(
            "ann@example.com",
            &user.password,
            Some(&recovery[1].to_uppercase())
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn an_unknown_email_costs_a_password_verification_like_a_wrong_password() {
    let app = TestApp::spawn().await;
    app.user("ann@example.com").await;
    let stats = app.app.hasher().stats();
    let before = stats.verifications.load(Ordering::SeqCst);
    assert_eq!(
        app.login("nobody@example.com", "some password", None)
            .await
            .status,
        401
    );
    assert_eq!(
        stats.verifications.load(Ordering::SeqCst),
        before + 1,
        "unknown email ran argon2"
    );
    assert_eq!(
        app.login("ann@example.com", "wrong password", None)
            .await
            .status,
        401
    );
    assert_eq!(stats.verifications.load(Ordering::SeqCst), before + 2);
}

#[tokio::test]
async fn health_answers_during_a_login_storm_and_hashing_stays_bounded() {
    let app = TestApp::spawn().await;
    let user = app.user("ann@example.com").await;
    let done = std::sync::atomic::AtomicUsize::new(0);
    // 24 logins from six addresses (one address may have only a few checks queued at once).
    let storm = futures::future::join_all((0..24).map(|n| {
        let client = reqwest::Client::builder()
            .local_address(
                format!("127.0.1.{}", n % 6 + 1)
                    .parse::<std::net::IpAddr>()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let request = client.post(app.api("/auth/session")).header(
            "authorization",
            crate::support::flows::basic("ann@example.com", &user.password),
        );
        let done = &done;
        let app = &app;
        async move {
            let reply = app.send(request).await;
            done.fetch_add(1, Ordering::SeqCst);
            reply.status
        }
    }));
    let health = async {
        tokio::time::sleep(Duration::from_millis(20)).await; // let the storm queue up first
        let reply = app.get("/health").await;
        (reply.status, done.load(Ordering::SeqCst))
    };
    let (statuses, (health, finished_before_health)) = tokio::join!(storm, health);
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(health, 200);
    assert!(
        finished_before_health < 24,
        "health answered while logins were still hashing"
    );
    let max = app.app.hasher().stats().max_running.load(Ordering::SeqCst);
    assert!(
        max <= clara::hasher::Hasher::limit(),
        "{max} hashes ran at once"
    );
}

#[tokio::test]
async fn the_rate_limit_is_429_with_retry_after_on_rest_and_mcp() {
    let app = TestApp::spawn_with(|s| s.rate_limit = "10/s".parse().unwrap()).await;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(
            app.call("GET", "/version", Some("Bearer clara_api_someone"), None)
                .await
                .status,
        );
    }
    assert!(statuses[..10].iter().all(|s| *s == 200), "{statuses:?}");
    let reply = app
        .call("GET", "/version", Some("Bearer clara_api_someone"), None)
        .await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.message(), "You have exceeded the rate limit.");
    assert!(reply.headers.contains_key("retry-after"));
    // Another credential has its own budget.
    assert_eq!(
        app.call("GET", "/version", Some("Bearer clara_api_else"), None)
            .await
            .status,
        200
    );

    let client = app
        .mcp_with(
            mcp::Transport::Http,
            &[("authorization", "Bearer clara_api_mcp")],
        )
        .await;
    // Calls replenish at 10/s; a burst of 30 calls is over the limit however fast they run.
    let calls = (0..30).map(|_| mcp::call(&client, "misc_version", json!({})));
    let results = futures::future::join_all(calls).await;
    let limited = results
        .iter()
        .find(|r| r.is_error == Some(true))
        .expect("a call was limited");
    let body = mcp::err(limited);
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(body["status"], 429);
}
