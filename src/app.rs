//! The application handle: configuration, the store, the mailer, the rate limiter, the password
//! hasher, the Google verifier and the clock (and room for billing and the analysis engine), in
//! one cheaply cloned value. It imports no adapter and no domain module: `server` composes the
//! routers and workers on top of it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{
    analysis::Engine,
    billing::{Billing, stripe::StripeApi},
    clock::Clock,
    config::Settings,
    google::GoogleVerifier,
    hasher::Hasher,
    mail::Mailer,
    model::Credits,
    ratelimit::Limiter,
    secrets,
    store::Store,
};

/// Settings resolved at start (secrets loaded or generated).
pub struct AppConfig {
    /// Key for token MACs. Never logged.
    pub secret_key: Vec<u8>,
    pub public_api_key: String,
    pub private_api_key: Option<String>,
    /// Origin allow-list for the MCP HTTP endpoints (empty: localhost only).
    pub allowed_origins: Vec<String>,
    /// Host allow-list for the MCP HTTP endpoints.
    pub allowed_hosts: Vec<String>,
    /// Front-end base URL for links in mails.
    pub client_url: String,
    /// Largest multipart body the REST API reads (all files together).
    pub upload_limit: usize,
    /// Granted at registration.
    pub signup_credits: Credits,
    /// Live MCP sessions (Streamable HTTP and SSE, each), in total and per client address.
    pub max_mcp_sessions: usize,
    pub max_mcp_sessions_per_address: usize,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Open HTTP connections one client address may hold.
    pub max_connections_per_address: usize,
    /// How long a client may take to send its request headers, and its request body.
    pub header_timeout: std::time::Duration,
    pub body_timeout: std::time::Duration,
    /// Charged per analysis.
    pub analysis_cost: Credits,
    /// Analyses this process runs at once.
    pub agent_workers: usize,
    /// How long one analysis may run.
    pub agent_timeout: std::time::Duration,
    /// How long a worker's claim on a task lasts without renewal, in seconds.
    pub agent_lease_secs: i64,
    /// The MCP toolsets this server serves (`None`: all), and whether only read-only tools.
    pub toolsets: Option<Vec<String>>,
    pub read_only: bool,
}

impl std::fmt::Debug for AppConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppConfig")
            .field("allowed_origins", &self.allowed_origins)
            .field("allowed_hosts", &self.allowed_hosts)
            .finish_non_exhaustive()
    }
}

/// The shared application handle. Clone it freely.
#[derive(Debug, Clone)]
pub struct App(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    config: AppConfig,
    mailer: Mailer,
    limiter: Limiter,
    hasher: Hasher,
    google: GoogleVerifier,
    billing: Billing,
    clock: Clock,
    /// The analysis engine the workers run.
    engine: Arc<dyn Engine>,
    /// Wakes this process's analysis workers when a task is created here.
    new_task: tokio::sync::Notify,
    /// MiB of large request bodies (uploads) that may be in flight at once, all clients
    /// together: what bounds the memory uploads can take.
    upload_budget: Arc<tokio::sync::Semaphore>,
    /// Cancelled when the server shuts down: long-lived streams (SSE) end with it.
    shutdown: CancellationToken,
}

impl App {
    /// Connects to the database, applies migrations and resolves the secrets.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::build_with_engine(settings, engine(settings)?).await
    }

    /// [`App::build`] with a given analysis engine.
    pub async fn build_with_engine(
        settings: &Settings,
        engine: Arc<dyn Engine>,
    ) -> anyhow::Result<Self> {
        let clock = Clock::system();
        // One TLS provider for every rustls user (SMTP, Google JWKS, PostgreSQL); a no-op when
        // one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        secrets::private_dir(&settings.data_dir)?;
        if secrets::is_open_to_others(&settings.data_dir) {
            tracing::warn!(dir = %settings.data_dir.display(), "the data directory is readable by other users: chmod 700 it (it holds the secret key, the database and queued mail)");
        }
        let database_url = settings.database_url();
        tracing::info!(
            data_dir = %settings.data_dir.display(),
            database = %crate::config::redact_url(&database_url),
            "using"
        );
        let store = Store::connect(&database_url).await?;
        store.migrate().await?;
        let config = resolve_config(settings)?;
        let mailer = Mailer::new(
            settings.smtp_url.as_deref().filter(|u| !u.is_empty()),
            &settings.mail_from,
            settings.data_dir.join("outbox"),
        )?;
        let limiter = Limiter::new(settings.rate_limit, config.secret_key.clone());
        let google = GoogleVerifier::new(
            settings
                .google_client_id
                .clone()
                .filter(|id| !id.is_empty()),
            settings.google_jwks_url.clone(),
        );
        let stripe = match settings
            .stripe_secret_key
            .as_deref()
            .filter(|k| !k.is_empty())
        {
            Some(key) => Some(StripeApi::new(key, settings.stripe_api_base.as_deref())?),
            None => None,
        };
        let webhook_secret = settings
            .stripe_webhook_secret
            .clone()
            .filter(|s| !s.is_empty());
        let billing = Billing::new(settings.credit_rates.clone(), stripe, webhook_secret);
        Ok(Self(Arc::new(Inner {
            store,
            config,
            mailer,
            limiter,
            hasher: Hasher::default(),
            google,
            billing,
            clock,
            engine,
            new_task: tokio::sync::Notify::new(),
            upload_budget: Arc::new(tokio::sync::Semaphore::new(
                (settings.max_upload_bytes / (1024 * 1024) * 4).max(64),
            )),
            shutdown: CancellationToken::new(),
        })))
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }
    pub fn config(&self) -> &AppConfig {
        &self.0.config
    }
    pub fn mailer(&self) -> &Mailer {
        &self.0.mailer
    }
    pub fn limiter(&self) -> &Limiter {
        &self.0.limiter
    }
    pub fn hasher(&self) -> &Hasher {
        &self.0.hasher
    }
    pub fn google(&self) -> &GoogleVerifier {
        &self.0.google
    }
    pub fn billing(&self) -> &Billing {
        &self.0.billing
    }
    pub fn clock(&self) -> &Clock {
        &self.0.clock
    }
    /// Now, in Unix seconds, by the app's clock.
    pub fn now(&self) -> i64 {
        self.0.clock.now()
    }
    pub fn engine(&self) -> &dyn Engine {
        self.0.engine.as_ref()
    }
    /// Notified when a task is created in this process.
    pub fn new_task(&self) -> &tokio::sync::Notify {
        &self.0.new_task
    }
    /// See `Inner::upload_budget`.
    pub fn upload_budget(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.0.upload_budget
    }
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.0.shutdown
    }
}

/// The analysis engine these settings choose: the LLM engine when a model server is set,
/// else the offline engine.
fn engine(settings: &Settings) -> anyhow::Result<std::sync::Arc<dyn crate::analysis::Engine>> {
    use crate::analysis::{llm, offline::Offline};
    let set = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let Some(base_url) = set(&settings.llm_base_url) else {
        return Ok(std::sync::Arc::new(Offline));
    };
    let model = set(&settings.llm_model)
        .ok_or_else(|| anyhow::anyhow!("CLARA_LLM_MODEL is required with CLARA_LLM_BASE_URL"))?;
    Ok(std::sync::Arc::new(llm::LlmEngine::new(llm::LlmConfig {
        base_url,
        api_key: set(&settings.llm_api_key),
        model,
        search_url: set(&settings.search_url),
        vision: settings.llm_vision,
        transcribe_model: set(&settings.llm_transcribe_model),
        timeout: std::time::Duration::from_secs(settings.llm_timeout_secs.max(1)),
        token_budget: settings.llm_token_budget,
        searches_per_claim: settings.searches_per_claim.clamp(1, 10),
        results_per_search: 3,
    })))
}

fn resolve_config(settings: &Settings) -> anyhow::Result<AppConfig> {
    let dir = &settings.data_dir;
    let secret_key = match &settings.secret_key {
        Some(key) => key.clone(),
        None => secrets::load_or_create(dir, "secret.key", || secrets::random_hex(32))?.0,
    };
    anyhow::ensure!(
        secret_key.len() >= 32,
        "CLARA_SECRET_KEY must be at least 32 characters"
    );
    let public_api_key = match &settings.public_api_key {
        Some(key) => key.clone(),
        None => {
            let (key, created) = secrets::load_or_create(dir, "public_api.key", || {
                format!("clara_pub_{}", secrets::random_hex(16))
            })?;
            if created {
                // Printed once, to stderr (stdout belongs to JSON-RPC under `clara stdio`).
                eprintln!(
                    "clara: generated the public API key (kept in {}): {key}",
                    dir.join("public_api.key").display()
                );
            }
            key
        }
    };
    let mut allowed_hosts = settings.allowed_hosts.clone();
    if allowed_hosts.is_empty() {
        allowed_hosts = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        let bind = settings.bind.ip();
        if !bind.is_unspecified() {
            allowed_hosts.push(bind.to_string());
        }
    }
    Ok(AppConfig {
        secret_key: secret_key.into_bytes(),
        public_api_key,
        private_api_key: settings.private_api_key.clone().filter(|k| !k.is_empty()),
        allowed_origins: settings.allowed_origins.clone(),
        allowed_hosts,
        client_url: settings.client_url.trim_end_matches('/').to_string(),
        upload_limit: settings.max_upload_bytes,
        signup_credits: Credits::whole(i64::from(settings.signup_credits)),
        max_mcp_sessions: settings.max_mcp_sessions,
        max_mcp_sessions_per_address: settings.max_mcp_sessions_per_address,
        max_connections_per_address: settings.max_connections_per_address,
        trusted_proxies: settings.trusted_proxies.clone(),
        header_timeout: std::time::Duration::from_secs(settings.header_timeout_secs.max(1)),
        body_timeout: std::time::Duration::from_secs(settings.body_timeout_secs.max(1)),
        analysis_cost: Credits::whole(i64::from(settings.analysis_cost)),
        agent_workers: settings
            .agent_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        agent_timeout: std::time::Duration::from_secs(settings.agent_timeout_secs.max(1)),
        agent_lease_secs: settings.agent_lease_secs.clamp(3, 3600) as i64,
        toolsets: crate::config::parse_toolsets(&settings.toolsets)
            .map_err(|e| anyhow::anyhow!("CLARA_TOOLSETS: {e}"))?,
        read_only: settings.read_only,
    })
}
