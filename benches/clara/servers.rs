//! The servers under test, each a child process on its own loopback port: `clara serve` on a
//! fresh data directory (SQLite, or a PostgreSQL database of its own), the bare rmcp server
//! (this binary, `bare-server`), and the Python SDK server (`bench/py_server.py`).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::load::Endpoint;

/// The private API key every benchmarked `clara serve` is started with (admin routes).
pub const PRIVATE_KEY: &str = "bench-private-key-0123456789abcdef0123456789abcdef";
/// One server secret for all of them, so two processes on one database accept each other's
/// tokens.
const SECRET: &str = "bench-secret-key-0123456789abcdef0123456789abcdef";
pub const PASSWORD: &str = "correct horse battery staple";
/// Credits an analysis costs on every benchmarked server (`CLARA_ANALYSIS_COST`).
pub const ANALYSIS_COST: f64 = 20.0;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A command line for a stdio server.
#[derive(Clone, Debug)]
pub struct StdioCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl StdioCommand {
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stderr(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

/// A running server process.
pub struct Proc {
    child: Child,
    pub port: u16,
}

impl Proc {
    pub async fn spawn(mut command: Command, port: u16, ready: &str) -> Result<Self> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = command.spawn().context("spawn server")?;
        let proc = Self { child, port };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = http.get(proc.url(ready)).send().await {
                drop(response);
                return Ok(proc);
            }
            if Instant::now() > deadline {
                bail!("server on port {port} did not answer {ready}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or_default()
    }

    fn status_field(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()));
        status
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            })
            .map_or(f64::NAN, |kib| kib / 1024.0)
    }

    /// Resident set, MiB.
    pub fn rss(&self) -> f64 {
        self.status_field("VmRSS:")
    }

    /// Peak resident set, MiB.
    pub fn peak(&self) -> f64 {
        self.status_field("VmHWM:")
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// `clara serve` on a fresh data directory, with the limits meant for one caller per address
/// raised (every client here is 127.0.0.1) and a private API key for the setup.
pub struct Clara {
    pub proc: Proc,
    pub data: tempfile::TempDir,
    env: Vec<(String, String)>,
}

pub fn clara_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_clara"))
}

impl Clara {
    /// `database`: a PostgreSQL URL, or None for SQLite in the data directory.
    pub async fn start(database: Option<&str>) -> Result<Self> {
        let data = tempfile::tempdir()?;
        let port = free_port();
        let mut env: Vec<(String, String)> = [
            ("CLARA_DATA_DIR", data.path().to_str().unwrap_or_default()),
            ("CLARA_SECRET_KEY", SECRET),
            (
                "CLARA_PUBLIC_API_KEY",
                "clara_pub_bench0123456789abcdef0123456789",
            ),
            ("CLARA_PRIVATE_API_KEY", PRIVATE_KEY),
            ("CLARA_ANALYSIS_COST", &ANALYSIS_COST.to_string()),
            ("CLARA_RATE_LIMIT", "1000000/s"),
            ("CLARA_MCP_MAX_SESSIONS", "5000"),
            ("CLARA_MCP_MAX_SESSIONS_PER_ADDRESS", "5000"),
            ("CLARA_MAX_CONNECTIONS_PER_ADDRESS", "5000"),
            ("RUST_LOG", "error"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(url) = database {
            env.push(("CLARA_DATABASE_URL".into(), url.into()));
        }
        let mut command = Command::new(clara_binary());
        command
            .arg("serve")
            .env("CLARA_BIND", format!("127.0.0.1:{port}"))
            .envs(env.iter().map(|(k, v)| (k, v)));
        let proc = Proc::spawn(command, port, "/api/v1/health").await?;
        Ok(Self { proc, data, env })
    }

    /// `clara stdio` on the same data directory and database, signed in with `api_key`.
    pub fn stdio(&self, api_key: Option<&str>) -> StdioCommand {
        let mut env = self.env.clone();
        if let Some(key) = api_key {
            env.push(("CLARA_API_KEY".into(), key.into()));
        }
        StdioCommand {
            program: clara_binary(),
            args: vec!["stdio".into()],
            env,
        }
    }

    /// This server on every lane, as `account` when given.
    pub fn endpoint(&self, account: Option<&Account>) -> Endpoint {
        Endpoint {
            stdio: Some(self.stdio(account.map(|a| a.api_key.as_str()))),
            mcp: Some(self.proc.url("/mcp")),
            sse: Some(self.proc.url("/sse")),
            authorization: account.map(Account::bearer),
        }
    }

    pub fn api(&self, path: &str) -> String {
        self.proc.url(&format!("/api/v1{path}"))
    }

    pub fn outbox(&self) -> PathBuf {
        self.data.path().join("outbox")
    }
}

/// A signed-up, activated user with an API key.
#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub api_key: String,
}

impl Account {
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.api_key)
    }
}

/// The REST envelope's `data`, or an error naming the status and message.
pub async fn data(response: reqwest::Response) -> Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{status}: {}", body["message"]);
    }
    Ok(body["data"].clone())
}

/// The six-digit code of the newest mail to `email` in `outbox`.
fn mailed_code(outbox: &Path, email: &str) -> Option<String> {
    let mut mails: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(outbox)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            let modified = e.metadata().ok()?.modified().ok()?;
            text.contains(&format!("To: {email}"))
                .then_some((modified, text))
        })
        .collect();
    mails.sort_by_key(|(t, _)| *t);
    let (_, text) = mails.pop()?;
    text.replace('\r', "")
        .lines()
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
}

impl Clara {
    /// Registers a user (admin key); their id. The server mails an activation code.
    pub async fn register(&self, http: &reqwest::Client, email: &str) -> Result<String> {
        let user = data(
            http.post(self.api("/auth/register"))
                .header("authorization", PRIVATE_KEY)
                .json(&json!({"first_name": "Bench", "last_name": "Mark",
                              "email": email, "password": PASSWORD}))
                .send()
                .await?,
        )
        .await
        .context("register")?;
        Ok(user["id"].as_str().context("user id")?.to_string())
    }

    /// Register (admin key), activate with the mailed code, log in, read the API key.
    pub async fn account(&self, http: &reqwest::Client, email: &str) -> Result<Account> {
        let id = self.register(http, email).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let code = loop {
            if let Some(code) = mailed_code(&self.outbox(), email) {
                break code;
            }
            if Instant::now() > deadline {
                bail!("no activation mail to {email}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        data(
            http.post(self.api(&format!("/users/{email}/activate")))
                .header("authorization", PRIVATE_KEY)
                .json(&json!({ "code": code }))
                .send()
                .await?,
        )
        .await
        .context("activate")?;
        let token = login(http, &self.api("/auth/session"), email).await?;
        let key = data(
            http.get(self.api(&format!("/users/{id}/api_key")))
                .bearer_auth(&token)
                .send()
                .await?,
        )
        .await
        .context("api key")?;
        Ok(Account {
            id,
            email: email.into(),
            api_key: key["token"].as_str().context("api key token")?.into(),
        })
    }

    /// Sets a balance (admin).
    pub async fn set_credits(
        &self,
        http: &reqwest::Client,
        user: &str,
        credits: f64,
    ) -> Result<()> {
        data(
            http.put(self.api(&format!("/users/{user}/credits")))
                .header("authorization", PRIVATE_KEY)
                .json(&json!({ "credits": credits }))
                .send()
                .await?,
        )
        .await
        .context("set credits")
        .map(drop)
    }

    /// `count` CREDIT entries of 1 credit: a ledger to page through.
    pub async fn credit_entries(
        &self,
        http: &reqwest::Client,
        user: &str,
        count: usize,
    ) -> Result<()> {
        for _ in 0..count {
            data(self.entry(http, user, "CREDIT", 1.0).await?).await?;
        }
        Ok(())
    }

    /// One admin ledger entry of `credits` (CREDIT or DEBIT).
    pub async fn entry(
        &self,
        http: &reqwest::Client,
        user: &str,
        kind: &str,
        credits: f64,
    ) -> Result<reqwest::Response> {
        Ok(http
            .post(self.api(&format!("/users/{user}/transactions")))
            .header("authorization", PRIVATE_KEY)
            .json(
                &json!({"description": format!("bench {kind}"), "value_in_credits": credits,
                          "value_in_fiat": 0, "type": kind}),
            )
            .send()
            .await?)
    }
}

/// Basic login; the user token.
pub async fn login(http: &reqwest::Client, url: &str, email: &str) -> Result<String> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{email}:{PASSWORD}"));
    let user = data(
        http.post(url)
            .header("authorization", format!("Basic {basic}"))
            .send()
            .await?,
    )
    .await
    .context("login")?;
    Ok(user["token"].as_str().context("token")?.to_string())
}

/// The bare rmcp server (this bench binary in `bare-server` mode).
pub fn bare_stdio() -> StdioCommand {
    StdioCommand {
        program: std::env::current_exe().expect("own path"),
        args: vec!["bare-server".into(), "stdio".into()],
        env: Vec::new(),
    }
}

pub async fn bare(mode: &str) -> Result<Proc> {
    let port = free_port();
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["bare-server", mode, &port.to_string()]);
    let ready = if mode == "sse" { "/messages" } else { "/mcp" };
    Proc::spawn(command, port, ready).await
}

/// The Python interpreter with `mcp` installed: `BENCH_PYTHON`, or a venv under `target/`
/// made on first use (`pip install mcp==2.3.0`). None when neither works.
pub fn python(install: bool) -> Option<PathBuf> {
    let has_mcp = |python: &Path| {
        std::process::Command::new(python)
            .args(["-c", "import mcp.server.mcpserver"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if let Some(python) = std::env::var_os("BENCH_PYTHON").map(PathBuf::from) {
        return has_mcp(&python).then_some(python);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-venv");
    let python = venv.join("bin/python");
    if has_mcp(&python) {
        return Some(python);
    }
    if !install {
        return None;
    }
    eprintln!(
        "installing the Python SDK (mcp==2.3.0) into {}",
        venv.display()
    );
    let made = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success())
        && std::process::Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "mcp==2.3.0"])
            .status()
            .is_ok_and(|s| s.success());
    (made && has_mcp(&python)).then_some(python)
}

pub fn py_script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bench/py_server.py")
        .to_string_lossy()
        .into_owned()
}

pub fn python_stdio(python: &Path) -> StdioCommand {
    StdioCommand {
        program: python.to_path_buf(),
        args: vec![py_script(), "stdio".into()],
        env: Vec::new(),
    }
}

pub async fn python_server(python: &Path, mode: &str) -> Result<Proc> {
    let port = free_port();
    let mut command = Command::new(python);
    command.args([py_script(), mode.to_string(), port.to_string()]);
    // Any answer means it listens (GET /mcp without a session is a 4xx).
    let ready = if mode == "sse" { "/messages/" } else { "/mcp" };
    Proc::spawn(command, port, ready).await
}
