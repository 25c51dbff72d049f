//! The test harness: `TestApp::spawn()` runs the real server on `127.0.0.1:0` over a fresh
//! database (a temp SQLite file, or a new PostgreSQL database when `CLARA_TEST_DATABASE_URL`
//! is set), with typed REST and MCP clients (stdio child process, Streamable HTTP, legacy SSE).

pub mod flows;
pub mod google;
pub mod llm;
pub mod mcp;
pub mod media;
pub mod smtp;
pub mod sse;
pub mod stripe;
pub mod typed;

use std::{net::SocketAddr, path::PathBuf};

use clara::{app::App, config::Settings};
use serde_json::Value;
use tokio::sync::oneshot;

pub struct TestApp {
    pub addr: SocketAddr,
    pub smtp: smtp::SmtpSink,
    /// The JWKS the app fetches Google's keys from.
    pub google: google::GoogleStandIn,
    /// The Stripe API the app's billing talks to.
    pub stripe: stripe::StripeStandIn,
    pub app: App,
    pub data_dir: tempfile::TempDir,
    pub database_url: String,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pg_cleanup: Option<(String, String)>,
}

/// A REST answer: status, headers and the parsed body (Null for an empty body).
#[derive(Debug)]
pub struct RestReply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl RestReply {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }
}

pub fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        clara::telemetry::init(clara::config::LogFormat::Text);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Spawns with settings adjusted by `configure` (before the app is built).
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_engine(
            std::sync::Arc::new(clara::analysis::offline::Offline),
            configure,
        )
        .await
    }

    /// [`TestApp::spawn_with`] with a given analysis engine.
    pub async fn spawn_engine(
        engine: std::sync::Arc<dyn clara::analysis::Engine>,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        init_tracing();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let (database_url, pg_cleanup) = fresh_database(data_dir.path()).await;
        let smtp = smtp::SmtpSink::start().await;
        let google = google::GoogleStandIn::start().await;
        let stripe = stripe::StripeStandIn::start().await;
        let mut settings = settings(data_dir.path().to_path_buf(), &database_url);
        settings.stripe_secret_key = Some(stripe::SECRET_KEY.into());
        settings.stripe_webhook_secret = Some(stripe::WEBHOOK_SECRET.into());
        settings.stripe_api_base = Some(stripe.url());
        settings.credit_rates = stripe::RATES.parse().unwrap();
        settings.smtp_url = Some(format!("smtp://{}", smtp.addr));
        settings.google_client_id = Some(google::CLIENT_ID.into());
        settings.google_jwks_url = google.jwks_url();
        configure(&mut settings);
        let app = App::build_with_engine(&settings, engine)
            .await
            .expect("app builds");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(clara::server::serve(app.clone(), listener, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            smtp,
            google,
            stripe,
            app,
            data_dir,
            database_url,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            server: Some(server),
            pg_cleanup,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn api(&self, path: &str) -> String {
        self.url(&format!("/api/v1{path}"))
    }

    /// Sends a REST request and parses the envelope.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> RestReply {
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body read");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!("non-JSON body ({e}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        RestReply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> RestReply {
        self.send(self.http.get(self.api(path))).await
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// The environment a `clara` child process needs to share this app's database.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CLARA_DATA_DIR", self.data_dir.path().display().to_string()),
            ("CLARA_DATABASE_URL", self.database_url.clone()),
            ("CLARA_SMTP_URL", format!("smtp://{}", self.smtp.addr)),
            ("CLARA_RATE_LIMIT", "100000/s".into()),
            ("CLARA_GOOGLE_CLIENT_ID", google::CLIENT_ID.into()),
            ("CLARA_GOOGLE_JWKS_URL", self.google.jwks_url()),
            ("CLARA_STRIPE_SECRET_KEY", stripe::SECRET_KEY.into()),
            ("CLARA_STRIPE_WEBHOOK_SECRET", stripe::WEBHOOK_SECRET.into()),
            ("CLARA_STRIPE_API_BASE", self.stripe.url()),
            ("CLARA_CREDIT_RATES", stripe::RATES.into()),
            ("RUST_LOG", "warn".into()),
        ]
    }

    /// Waits (up to 20 s) until the task has ended, and returns it.
    pub async fn task_ended(
        &self,
        bearer: &str,
        user_id: &str,
        task_id: &str,
    ) -> clara::services::tasks::PublicTask {
        use clara::{catalog::agent, services::tasks::TaskRef};
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let input = TaskRef {
                user_id: Some(user_id.into()),
                task_id: task_id.into(),
            };
            let task = self.rest::<agent::View>(Some(bearer), input).await.unwrap();
            if task.status.is_final() {
                return task;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "task {task_id} still {:?} after 20 s",
                task.status
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The next unread mail to `address` (waits up to 15 s for the outbox worker).
    pub async fn mail(&self, address: &str) -> smtp::Received {
        self.smtp
            .take(address, std::time::Duration::from_secs(15))
            .await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some((admin_url, name)) = self.pg_cleanup.take() {
            // Drop the per-test database from a plain thread: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        use sqlx::Connection;
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                            let _ =
                                sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(sql)).await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

pub fn settings(data_dir: PathBuf, database_url: &str) -> Settings {
    Settings {
        data_dir,
        database_url: Some(database_url.to_string()),
        bind: "127.0.0.1:0".parse().unwrap(),
        secret_key: None,
        public_api_key: None,
        private_api_key: None,
        allowed_origins: vec![],
        allowed_hosts: vec![],
        smtp_url: None,
        mail_from: "Clara <noreply@localhost>".into(),
        client_url: "http://localhost:3000".into(),
        // High, so tests that make many calls are not limited; the rate-limit test sets its own.
        rate_limit: "100000/s".parse().unwrap(),
        google_client_id: None,
        google_jwks_url: String::new(),
        max_upload_bytes: clara::defaults::UPLOAD_LIMIT,
        stripe_secret_key: None,
        stripe_webhook_secret: None,
        stripe_api_base: None,
        credit_rates: clara::billing::rates::DEFAULT.parse().unwrap(),
        signup_credits: 0,
        max_mcp_sessions: 1000,
        max_mcp_sessions_per_address: 32,
        max_connections_per_address: 512,
        header_timeout_secs: 10,
        trusted_proxies: vec![],
        body_timeout_secs: 30,
        analysis_cost: 20,
        agent_workers: Some(2),
        agent_timeout_secs: 600,
        agent_lease_secs: 30,
        llm_base_url: None,
        llm_api_key: None,
        llm_model: None,
        search_url: None,
        llm_vision: false,
        llm_transcribe_model: None,
        llm_timeout_secs: 60,
        llm_token_budget: 60_000,
        searches_per_claim: 3,
        toolsets: "all".into(),
        read_only: false,
        api_key: None,
        user_id: None,
    }
}

/// A fresh database: a SQLite file in `dir`, or `CREATE DATABASE t_<uuid>` on the PostgreSQL
/// server that `CLARA_TEST_DATABASE_URL` points at.
pub async fn fresh_database(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match std::env::var("CLARA_TEST_DATABASE_URL") {
        Ok(admin_url) if !admin_url.is_empty() => {
            use sqlx::Connection;
            let name = format!("t_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .expect("connect to CLARA_TEST_DATABASE_URL");
            sqlx::Executor::execute(
                &mut conn,
                sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")),
            )
            .await
            .expect("create test database");
            let url = replace_database(&admin_url, &name);
            (url, Some((admin_url, name)))
        }
        _ => (format!("sqlite://{}", dir.join("clara.db").display()), None),
    }
}

/// `postgres://u@h:p/db?x` → `postgres://u@h:p/<name>?x`
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}
