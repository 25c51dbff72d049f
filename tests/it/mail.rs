//! Mail goes through the durable outbox: an SMTP outage delays mail but neither fails the
//! request nor loses the mail; without SMTP, mail lands as .eml files.

use std::time::Duration;

use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn an_smtp_outage_delays_mail_without_failing_the_request() {
    let mut app = TestApp::spawn().await;
    app.user("ann@example.com").await;
    app.smtp.stop();
    let reply = app
        .call(
            "POST",
            "/users/ann@example.com/otp/CHANGE_PASSWORD",
            Some(&app.public_key()),
            None,
        )
        .await;
    assert_eq!(reply.status, 201, "the request succeeds with SMTP down");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        app.smtp.count_to("ann@example.com"),
        1,
        "only the welcome mail so far"
    );
    let failures = app
        .count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND attempts > 0")
        .await;
    assert_eq!(failures, 1, "the worker tried, failed, and kept the mail");
    app.smtp.restart().await;
    let mail = app.mail("ann@example.com").await;
    let code = mail.code();
    let reply = app
        .call(
            "PATCH",
            "/users/ann@example.com/password",
            Some(&app.public_key()),
            Some(json!({"password": "after the outage", "code": code})),
        )
        .await;
    assert_eq!(
        reply.status, 200,
        "the delayed code works: {:?}",
        reply.body
    );
}

#[tokio::test]
async fn queued_mail_survives_a_restart() {
    let mut app = TestApp::spawn().await;
    app.smtp.stop();
    assert_eq!(
        app.register("ann@example.com", "long enough").await.status,
        201
    );
    app.stop().await;
    app.smtp.restart().await;
    // A second server over the same database and data directory picks the mail up.
    let mut settings =
        crate::support::settings(app.data_dir.path().to_path_buf(), &app.database_url);
    settings.smtp_url = Some(format!("smtp://{}", app.smtp.addr));
    let second = clara::app::App::build(&settings).await.unwrap();
    clara::server::start_background(&second);
    let mail = app.mail("ann@example.com").await;
    assert!(mail.subject().contains("Welcome"));
    second.shutdown_token().cancel();
}

#[tokio::test]
async fn without_smtp_every_mail_is_an_eml_file_in_the_outbox_directory() {
    let app = TestApp::spawn_with(|s| s.smtp_url = None).await;
    assert_eq!(
        app.register("ann@example.com", "long enough").await.status,
        201
    );
    let dir = app.data_dir.path().join("outbox");
    let mut found = None;
    for _ in 0..100 {
        if let Ok(mut entries) = std::fs::read_dir(&dir)
            && let Some(Ok(entry)) = entries.next()
        {
            found = Some(entry.path());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let path = found.expect("an .eml file in $CLARA_DATA_DIR/outbox");
    assert_eq!(path.extension().unwrap(), "eml");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains("To: ann@example.com"), "{text}");
    assert!(
        text.contains("Content-Type: multipart/alternative"),
        "text and HTML parts: {text}"
    );
}
