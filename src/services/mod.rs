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
