//! Misc operations: Health and Version.

use http::StatusCode;

use super::{Contract, Hints, Operation};
use crate::{
    app::App,
    error::Result,
    services::{
        NoInput,
        auth::Actor,
        misc::{self, HealthStatus},
    },
};

pub struct Health;
impl Operation for Health {
    const CONTRACT: Contract = Contract {
        name: "misc_health",
        title: "Health",
        description: "Check that the Clara service and its database are up. Needs no \
            credentials.",
        hints: Hints::READ_ONLY,
        message: "Health check successful.",
        ..Contract::get("/health")
    };
    type In = NoInput;
    type Out = misc::Health;
    async fn call(app: &App, _actor: &Actor, _input: NoInput) -> Result<misc::Health> {
        Ok(misc::health(app).await)
    }
    fn outcome(out: &misc::Health) -> (StatusCode, &'static str) {
        match out.status {
            HealthStatus::Healthy => (Self::CONTRACT.status, Self::CONTRACT.message),
            HealthStatus::Unhealthy => (StatusCode::SERVICE_UNAVAILABLE, "Health check failed."),
        }
    }
}

pub struct Version;
impl Operation for Version {
    const CONTRACT: Contract = Contract {
        name: "misc_version",
        title: "Version",
        description: "The version of this Clara server. Needs no credentials.",
        hints: Hints::READ_ONLY,
        message: "Version check successful.",
        ..Contract::get("/version")
    };
    type In = NoInput;
    type Out = misc::Version;
    async fn call(_app: &App, _actor: &Actor, _input: NoInput) -> Result<misc::Version> {
        Ok(misc::version())
    }
}
