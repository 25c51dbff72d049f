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
        .env("HOME", cwd.path())
        .env("XDG_DATA_HOME", cwd.path().join("xdg"))
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
    // The platform data directory, never the working directory.
    let data = cwd.path().join("xdg").join("clara");
    assert!(!cwd.path().join("data").exists());
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
        "CLARA_TOOLSETS",
        "CLARA_ANALYSIS_COST",
        "CLARA_LLM_BASE_URL",
    ] {
        assert!(help.contains(env), "--help lacks {env}:\n{help}");
    }
    // Each subcommand lists only its own options.
    assert!(
        !help.contains("CLARA_API_KEY") && !help.contains("CLARA_USER_ID"),
        "{help}"
    );
    let stdio = std::process::Command::new(env!("CARGO_BIN_EXE_clara"))
        .args(["stdio", "--help"])
        .output()
        .unwrap();
    let stdio = String::from_utf8(stdio.stdout).unwrap();
    assert!(
        stdio.contains("CLARA_API_KEY") && stdio.contains("CLARA_USER_ID"),
        "{stdio}"
    );
    for http in [
        "CLARA_BIND",
        "CLARA_ALLOWED_ORIGINS",
        "CLARA_HEADER_TIMEOUT_SECS",
    ] {
        assert!(!stdio.contains(http), "stdio --help lists {http}");
    }
    assert!(stdio.contains("CLARA_DATA_DIR"), "{stdio}");
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

#[tokio::test]
async fn processes_starting_together_on_a_new_data_directory_all_come_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    // A new SQLite file in the new directory, or a new PostgreSQL database.
    let (url, pg) = crate::support::fresh_database(&data).await;
    let database = pg.as_ref().map(|_| url.clone());
    let spawn = |args: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_clara"));
        command
            .args(args)
            .env("CLARA_DATA_DIR", &data)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(url) = &database {
            command.env("CLARA_DATABASE_URL", url);
        }
        command.spawn().unwrap()
    };
    // Four `migrate` and two `stdio` (stdin closed: they start, then end) at once.
    let children: Vec<_> = [["migrate"]; 4]
        .iter()
        .chain([["stdio"]; 2].iter())
        .map(|args| spawn(args))
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let secret = std::fs::read_to_string(data.join("secret.key")).unwrap();
    assert_eq!(secret.trim().len(), 64, "one whole secret");
    if let Some((admin, name)) = pg {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
        sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(drop))
            .await
            .unwrap();
    }
}

#[test]
fn json_logs_are_one_object_per_line_without_colour() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clara"))
        .arg("migrate")
        .env("CLARA_DATA_DIR", dir.path())
        .env("CLARA_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8(out.stderr).unwrap();
    assert!(!log.contains('\u{1b}'), "ANSI codes in {log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "migrations applied"),
        "{log}"
    );
    let using = lines
        .iter()
        .find(|l| l["fields"]["message"] == "using")
        .expect("the data directory is logged");
    assert_eq!(
        using["fields"]["data_dir"],
        dir.path().display().to_string()
    );
}
