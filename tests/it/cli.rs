//! The binary as an operator runs it: embedded defaults, signals, the schemas command.

use std::{process::Stdio, time::Duration};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn serve_with_no_configuration_creates_data_serves_and_stops_on_sigterm() {
    crate::support::init_tracing();
    let cwd = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clara"))
        .arg("serve")
        .current_dir(cwd.path())
        .env_clear()
        .env("CLARA_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/api/v1/health");
    let mut healthy = false;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(&url).await {
            healthy = r.status() == 200;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy, "serve answers health on its defaults");
    let data = cwd.path().join("data");
    assert!(data.join("clara.db").exists());
    assert!(data.join("secret.key").exists());
    assert!(data.join("public_api.key").exists());

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "graceful exit: {status:?}");
    let mut stderr = String::new();
    use tokio::io::AsyncReadExt;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(
        stderr.contains("generated the public API key"),
        "printed at first start: {stderr}"
    );
    assert!(
        !stderr.contains(&std::fs::read_to_string(data.join("secret.key")).unwrap()),
        "the secret is never printed"
    );
}

#[test]
fn every_setting_is_documented_by_help_with_its_env_var() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clara"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for env in [
        "CLARA_DATA_DIR",
        "CLARA_DATABASE_URL",
        "CLARA_BIND",
        "CLARA_SECRET_KEY",
        "CLARA_PUBLIC_API_KEY",
        "CLARA_PRIVATE_API_KEY",
        "CLARA_ALLOWED_ORIGINS",
        "CLARA_SMTP_URL",
        "CLARA_MAIL_FROM",
        "CLARA_CLIENT_URL",
        "CLARA_RATE_LIMIT",
        "CLARA_GOOGLE_CLIENT_ID",
        "CLARA_GOOGLE_JWKS_URL",
        "CLARA_API_KEY",
        "CLARA_USER_ID",
    ] {
        assert!(help.contains(env), "--help lacks {env}:\n{help}");
    }
}

#[test]
fn migrate_applies_and_exits_and_schemas_check_passes() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clara"))
        .arg("migrate")
        .env("CLARA_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("clara.db").exists());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clara"))
        .args(["schemas", "--check", "--dir"])
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
