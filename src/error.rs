//! The one domain error: the documented business failures (adapter-only failures such as an
//! unknown route live in the adapter). Each variant knows its documented Clara message, its
//! HTTP status and a stable machine code; the REST adapter renders it as the envelope, the MCP adapter
//! as an `isError` tool result. Internal errors are logged once and answered opaquely.

use http::StatusCode;
use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A JSON body was required and none (or an empty one) was sent.
    #[error("Request body is empty.")]
    EmptyBody,
    /// Missing or malformed fields, wrong types, unknown keys, bad enum values. The detail is
    /// for logs and MCP callers; the documented message stays the same.
    #[error("One or more required parameters are either not given or have invalid schema.")]
    InvalidInput(String),
    /// An attached file that cannot be analysed; `data` names it and says why.
    #[error("One or more required parameters are either not given or have invalid schema.")]
    BadAttachment { file: String, reason: String },
    /// Bad, missing or expired credential or OTP. `two_factor` marks the 2FA login case.
    #[error("Authorization header or OTP is either missing, invalid or expired.")]
    Unauthorized { two_factor: bool },
    /// No credential at all; `needs` names the accepted ones (in the MCP error's detail).
    #[error("Authorization header or OTP is either missing, invalid or expired.")]
    MissingCredential { needs: String },
    #[error("Please activate your account to access the requested resource.")]
    Inactive,
    #[error("You do not have access to the requested resource.")]
    Forbidden,
    #[error("You do not have enough credits to perform this action.")]
    InsufficientCredits,
    /// `{0} with the given identifier does not exist.`
    #[error("{0} with the given identifier does not exist.")]
    NotFound(&'static str),
    /// `{0} with the given identifier already exists.`
    #[error("{0} with the given identifier already exists.")]
    AlreadyExists(&'static str),
    #[error("No credits rate found for the given amount.")]
    NoRate,
    /// A Stripe webhook whose signature is missing, wrong or stale.
    #[error("The Stripe signature is missing, invalid or expired.")]
    BadSignature,
    /// An optional integration (billing) that this server was not configured for.
    #[error("{0} is not configured on this server.")]
    NotConfigured(&'static str),
    #[error("You have exceeded the rate limit.")]
    RateLimited { retry_after_secs: u64 },
    /// A dependency (database, mail, Stripe) is not answering; details only in the log.
    #[error("Service unavailable.")]
    Unavailable(#[source] anyhow::Error),
    #[error("Something went wrong.")]
    Internal(#[source] anyhow::Error),
}

/// The machine-readable form of an error: what MCP tool errors carry as structured content.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ErrorBody {
    /// Stable machine code, e.g. `unauthorized`, `not_found`, `invalid_input`.
    pub code: String,
    /// The documented Clara message.
    pub message: String,
    /// HTTP status the REST API answers with for the same failure.
    pub status: u16,
    /// Extra data where the API documents some (`{"is_2fa_enabled": true}`), else absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    /// What exactly was wrong with the input, for invalid-input errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Error {
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    pub fn invalid(detail: impl std::fmt::Display) -> Self {
        Self::InvalidInput(detail.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::EmptyBody
            | Self::InvalidInput(_)
            | Self::BadAttachment { .. }
            | Self::AlreadyExists(_)
            | Self::BadSignature => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } | Self::MissingCredential { .. } | Self::Inactive => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden | Self::InsufficientCredits => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::NoRate => StatusCode::NOT_FOUND,
            Self::NotConfigured(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyBody => "empty_body",
            Self::InvalidInput(_) => "invalid_input",
            Self::BadAttachment { .. } => "invalid_attachment",
            Self::Unauthorized { .. } | Self::MissingCredential { .. } => "unauthorized",
            Self::Inactive => "inactive",
            Self::Forbidden => "forbidden",
            Self::InsufficientCredits => "insufficient_credits",
            Self::NotFound(_) => "not_found",
            Self::NoRate => "no_rate",
            Self::BadSignature => "bad_signature",
            Self::NotConfigured(_) => "not_configured",
            Self::AlreadyExists(_) => "already_exists",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// The `data` member of the error envelope: `null` except for the 2FA login case and a
    /// refused attachment.
    pub fn data(&self) -> Option<serde_json::Value> {
        match self {
            Self::BadAttachment { file, reason } => {
                Some(serde_json::json!({ "file": file, "reason": reason }))
            }
            Self::Unauthorized { two_factor: true } => {
                Some(serde_json::json!({ "is_2fa_enabled": true }))
            }
            _ => None,
        }
    }

    /// Logs what must not reach the caller. Called once, by whichever adapter answers.
    pub fn log(&self) {
        match self {
            Self::Internal(err) => tracing::error!(error = ?err, "internal error"),
            Self::Unavailable(err) => tracing::warn!(error = ?err, "dependency unavailable"),
            Self::InvalidInput(detail) => tracing::debug!(%detail, "invalid input"),
            _ => {}
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_string(),
            message: self.to_string(),
            status: self.status().as_u16(),
            data: self.data(),
            detail: match self {
                Self::InvalidInput(detail) => Some(detail.clone()),
                Self::BadAttachment { file, reason } => Some(format!("{file} {reason}")),
                Self::RateLimited { retry_after_secs } => {
                    Some(format!("retry after {retry_after_secs} s"))
                }
                Self::MissingCredential { needs } => Some(format!(
                    "this needs {needs}: send it as the Authorization header (HTTP), set \
                     CLARA_API_KEY (stdio), or sign in with auth_login on this connection"
                )),
                _ => None,
            },
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(err.into())
            }
            other => Self::Internal(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_the_documented_ones() {
        assert_eq!(
            Error::NotFound("User").to_string(),
            "User with the given identifier does not exist."
        );
        assert_eq!(
            Error::AlreadyExists("User").to_string(),
            "User with the given identifier already exists."
        );
        assert_eq!(
            Error::internal(anyhow::anyhow!("db on fire")).to_string(),
            "Something went wrong."
        );
        assert_eq!(
            Error::Unauthorized { two_factor: true }.data(),
            Some(serde_json::json!({"is_2fa_enabled": true}))
        );
        assert_eq!(Error::Unauthorized { two_factor: false }.data(), None);
    }
}
