//! The Clara JSON envelope: `{"data": …, "message": "…", "status": "success"|"error"}`, keys in
//! alphabetical order as the original (Flask `jsonify`) sends them; 204 answers have no body.

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::Value;

use super::rejection::Rejection;

/// Field order is the wire order: alphabetical.
#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    pub data: Option<Value>,
    pub message: &'a str,
    pub status: &'a str,
}

/// A success (or degraded, for status ≥ 400) answer carrying `data`.
pub fn respond(status: StatusCode, message: &str, data: Value) -> Response {
    if status == StatusCode::NO_CONTENT {
        return status.into_response();
    }
    let word = if status.is_success() {
        "success"
    } else {
        "error"
    };
    (
        status,
        Json(Envelope {
            data: Some(data),
            message,
            status: word,
        }),
    )
        .into_response()
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.log();
        let status = self.status();
        let message = self.to_string();
        let mut response = (
            status,
            Json(Envelope {
                data: self.data(),
                message: &message,
                status: "error",
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}
