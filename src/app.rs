//! The application: configuration, the store and (in later layers) the mail, billing and
//! analysis services, in one cheaply cloned handle; and [`serve`], the testable HTTP entry point.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{config::Settings, secrets, store::Store};

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
    started: Instant,
    /// Cancelled when the server shuts down: long-lived streams (SSE) end with it.
    shutdown: CancellationToken,
}

impl App {
    /// Connects to the database, applies migrations and resolves the secrets.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let store = Store::connect(&settings.database_url()).await?;
        store.migrate().await?;
        let config = resolve_config(settings)?;
        Ok(Self::new(store, config))
    }

    pub fn new(store: Store, config: AppConfig) -> Self {
        Self(Arc::new(Inner {
            store,
            config,
            started: Instant::now(),
            shutdown: CancellationToken::new(),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }
    pub fn config(&self) -> &AppConfig {
        &self.0.config
    }
    pub fn uptime(&self) -> std::time::Duration {
        self.0.started.elapsed()
    }
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.0.shutdown
    }
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
    })
}

/// Serves REST, MCP Streamable HTTP and legacy SSE on `listener` until `shutdown` resolves;
/// then stops accepting, ends long-lived streams, and lets in-flight requests finish.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = crate::rest::router(app.clone()).merge(crate::mcp::http::router(app.clone()));
    let token = app.shutdown_token().clone();
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        token.cancel();
    })
    .await
    .context("serving HTTP")
}
