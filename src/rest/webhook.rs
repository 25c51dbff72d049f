//! `POST /api/v1/stripe/settle`: Stripe's webhook. Not a catalog operation (Stripe is not a
//! Clara caller, and the signature covers the raw bytes), so it reads the raw body and the
//! `Stripe-Signature` header and hands both to `services::billing::settle`.

use axum::{
    body::{Body, to_bytes},
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::{rejection::Rejection, respond};
use crate::{app::App, defaults::JSON_BODY_LIMIT, services::billing};

pub async fn settle(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let Ok(bytes) = to_bytes(body, JSON_BODY_LIMIT).await else {
        return Rejection::PayloadTooLarge.into_response();
    };
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    match billing::settle(&app, signature, &bytes).await {
        Ok(settled) => {
            tracing::info!(?settled, "Stripe event");
            respond(StatusCode::OK, "Event received.", Value::Null)
        }
        Err(err) => Rejection::from(err).into_response(),
    }
}
