//! What the REST adapter answers when a request fails: a domain error, or one only HTTP can
//! produce (unknown route, wrong method, body too large). Rendered as the Clara envelope.

use http::StatusCode;

use crate::error::Error;

#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error(transparent)]
    Domain(#[from] Error),
    #[error("The requested route does not exist.")]
    RouteNotFound,
    #[error("The requested method is not allowed for this route.")]
    MethodNotAllowed,
    /// The request body is larger than the server accepts.
    #[error("Request body is too large.")]
    PayloadTooLarge,
}

impl Rejection {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Domain(err) => err.status(),
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The envelope's `data`: `null` except where the domain documents some.
    pub fn data(&self) -> Option<serde_json::Value> {
        match self {
            Self::Domain(err) => err.data(),
            _ => None,
        }
    }

    /// Seconds for `Retry-After`, on a rate-limit answer.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Domain(Error::RateLimited { retry_after_secs }) => Some(*retry_after_secs),
            _ => None,
        }
    }

    pub fn log(&self) {
        if let Self::Domain(err) = self {
            err.log();
        }
    }
}
