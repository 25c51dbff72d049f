//! Misc: Health and Version.

use std::time::Duration;

use http::{Method, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::NoInput;
use crate::{
    app::App,
    catalog::{Accepts, Body, Hints, Operation},
    error::Result,
    services::auth::Ctx,
};

/// The service name Health reports.
pub const SERVICE: &str = "clara";

/// Whether the service can serve requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// The database answers.
    Healthy,
    /// The database does not answer; the REST status is 503.
    Unhealthy,
}

/// The health of the service.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// Always `clara`.
    pub service: String,
    /// `healthy`, or `unhealthy` when the database does not answer.
    pub status: HealthStatus,
}

/// The server's version.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Version {
    /// The crate version of this server, e.g. `0.1.0`.
    pub version: String,
}

/// How long Health waits for the database before calling it unhealthy.
const DB_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn health(app: &App) -> Health {
    let status = match tokio::time::timeout(DB_TIMEOUT, app.store().ping()).await {
        Ok(Ok(())) => HealthStatus::Healthy,
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "health check: database error");
            HealthStatus::Unhealthy
        }
        Err(_) => {
            tracing::warn!("health check: database timed out");
            HealthStatus::Unhealthy
        }
    };
    Health {
        service: SERVICE.to_string(),
        status,
    }
}

pub fn version() -> Version {
    Version {
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

pub struct MiscHealth;
impl Operation for MiscHealth {
    const NAME: &'static str = "misc_health";
    const TITLE: &'static str = "Health";
    const DESCRIPTION: &'static str =
        "Check that the Clara service and its database are up. Needs no credentials.";
    const METHOD: Method = Method::GET;
    const PATH: &'static str = "/health";
    const ACCEPTS: Accepts = Accepts::NONE;
    const HINTS: Hints = Hints::READ_ONLY;
    const BODY: Body = Body::None;
    const STATUS: StatusCode = StatusCode::OK;
    const MESSAGE: &'static str = "Health check successful.";
    type In = NoInput;
    type Out = Health;

    async fn call(app: &App, _ctx: &Ctx, _input: NoInput) -> Result<Health> {
        Ok(health(app).await)
    }

    fn outcome(out: &Health) -> (StatusCode, &'static str) {
        match out.status {
            HealthStatus::Healthy => (Self::STATUS, Self::MESSAGE),
            HealthStatus::Unhealthy => (StatusCode::SERVICE_UNAVAILABLE, "Health check failed."),
        }
    }
}

pub struct MiscVersion;
impl Operation for MiscVersion {
    const NAME: &'static str = "misc_version";
    const TITLE: &'static str = "Version";
    const DESCRIPTION: &'static str = "The version of this Clara server. Needs no credentials.";
    const METHOD: Method = Method::GET;
    const PATH: &'static str = "/version";
    const ACCEPTS: Accepts = Accepts::NONE;
    const HINTS: Hints = Hints::READ_ONLY;
    const BODY: Body = Body::None;
    const STATUS: StatusCode = StatusCode::OK;
    const MESSAGE: &'static str = "Version check successful.";
    type In = NoInput;
    type Out = Version;

    async fn call(_app: &App, _ctx: &Ctx, _input: NoInput) -> Result<Version> {
        Ok(version())
    }
}
