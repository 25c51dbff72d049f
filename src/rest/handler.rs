//! One generic handler for every catalog operation: read the input (see `input`), run the
//! operation, answer with the envelope.

use std::net::SocketAddr;

use axum::{
    body::Body as HttpBody,
    extract::{ConnectInfo, RawPathParams, RawQuery, State},
    response::{IntoResponse, Response},
    routing::{MethodFilter, MethodRouter, on},
};
use http::{HeaderMap, header};
use serde_json::Value;

use super::{
    input::{self, Limits, Parts},
    rejection::Rejection,
    respond,
};
use crate::{
    app::App,
    caller::{Caller, Credential},
    catalog::{Accepts, OpInfo, RestData},
    defaults::JSON_BODY_LIMIT,
};

/// The route for `op`: one method on its path.
pub fn operation(op: &'static OpInfo, method: MethodFilter) -> MethodRouter<App> {
    on(
        method,
        move |State(app): State<App>,
              ConnectInfo(addr): ConnectInfo<SocketAddr>,
              path: RawPathParams,
              RawQuery(query): RawQuery,
              headers: HeaderMap,
              body: HttpBody| async move {
            let credential = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(Credential::parse);
            let caller = Caller::rest(credential, Some(addr.ip()));
            let parts = Parts {
                path: path.iter().collect(),
                query: query.as_deref(),
                headers: &headers,
            };
            let limits = Limits {
                json: JSON_BODY_LIMIT,
                upload: app.config().upload_limit,
            };
            let args = input::read(op.body, &op.input_schema, parts, body, limits).await;
            answer(op, app, caller, args).await
        },
    )
}

async fn answer(
    op: &OpInfo,
    app: App,
    caller: Caller,
    args: Result<serde_json::Map<String, Value>, Rejection>,
) -> Response {
    let mut args = match args {
        Ok(args) => args,
        // Credentials are checked before the body's errors are reported, as the original does.
        Err(rejection) => {
            return match (op.authorize)(app, caller).await {
                Ok(()) => rejection.into_response(),
                Err(err) => Rejection::from(err).into_response(),
            };
        }
    };
    // Login reads email and password from the Basic header, not the body.
    if let Some(Credential::Basic { email, password }) = &caller.credential
        && op.accepts.contains(Accepts::BASIC)
    {
        args.insert("email".into(), Value::String(email.clone()));
        args.insert("password".into(), Value::String(password.clone()));
    }
    match (op.invoke)(app, caller, Value::Object(args)).await {
        Ok(outcome) => {
            let data = match op.rest_data {
                RestData::Output => outcome.data,
                RestData::Null => Value::Null,
                RestData::Items => match outcome.data {
                    Value::Object(mut output) => output.remove("items").unwrap_or_default(),
                    _ => Value::Null,
                },
            };
            respond(outcome.status, outcome.message, data)
        }
        Err(err) => Rejection::from(err).into_response(),
    }
}
