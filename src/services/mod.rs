//! The domain: one plain async function per Clara operation, `(app, actor, typed input) ->
//! Result<typed output>`, with documented input and output structs (their `///` docs become the
//! tool schemas). Callable from anywhere: a request adapter, a webhook, a worker, a test.
//! Imports no adapter (`rest`, `mcp`), no `catalog`, no `http`/`axum`/`rmcp`; SQL lives in
//! `store`.

pub mod admin;
pub mod agent;
pub mod analysis;
pub mod api_keys;
pub mod auth;
pub mod billing;
pub mod credits;
pub mod misc;
pub mod otp;
pub mod passwords;
pub mod sessions;
pub mod signup;
pub mod tasks;
pub mod totp;
pub mod transactions;
pub mod two_factor;
pub mod users;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    app::App,
    error::{Error, Result},
    model::User,
};

/// The input of an operation that takes no parameters.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}

/// The answer of operations whose REST `data` is null.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Done {
    /// What happened, e.g. `OTP sent successfully.`
    pub message: String,
}

impl Done {
    pub fn new(message: &str) -> Self {
        Self {
            message: message.to_string(),
        }
    }
}

/// A page of one user's records, newest first (Transaction View All, Task View All).
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPage {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
    /// How many, 1 to 100 (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<i64>,
    /// How many of the newest to skip (default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = i64::MAX))]
    pub offset: Option<i64>,
}

impl UserPage {
    /// The active user whose page this is (the caller's own, or any for the private key), and
    /// the checked `limit` and `offset`.
    pub async fn resolve(&self, app: &App, actor: &auth::Actor) -> Result<(User, i64, i64)> {
        let (limit, offset) = page_bounds(self.limit, self.offset)?;
        let user = actor.target_user(app, self.user_id.as_deref()).await?;
        auth::require_active(&user)?;
        Ok((user, limit, offset))
    }
}

/// `limit` and `offset` checked: 1–100 (default 20) and ≥ 0 (default 0).
pub fn page_bounds(limit: Option<i64>, offset: Option<i64>) -> Result<(i64, i64)> {
    let limit = limit.unwrap_or(20);
    let offset = offset.unwrap_or(0);
    if !(1..=100).contains(&limit) {
        return Err(Error::invalid("limit must be 1 to 100"));
    }
    if offset < 0 {
        return Err(Error::invalid("offset must be 0 or more"));
    }
    Ok((limit, offset))
}
