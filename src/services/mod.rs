//! The domain: one typed async function per Clara operation, with documented input and output
//! structs, and the catalog entry that describes it. No axum, no rmcp, no SQL here.

pub mod accounts;
pub mod auth;
pub mod google;
pub mod misc;
pub mod otp;
pub mod passwords;
pub mod totp;
pub mod two_factor;
pub mod users;

use schemars::JsonSchema;
use serde::Deserialize;

/// The input of an operation that takes no parameters.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoInput {}
