//! Misc: Health and Version.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::app::App;

/// The service name Health reports.
pub const SERVICE: &str = "clara";

/// Whether the service can serve requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// The database answers.
    Healthy,
    /// The database does not answer.
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
