//! One generic handler for every catalog operation: build the operation's input from the path
//! parameters, the query string and the JSON body; run it; answer with the envelope.

use std::net::SocketAddr;

use axum::{
    body::{Body as HttpBody, to_bytes},
    extract::{ConnectInfo, RawPathParams, RawQuery, State},
    response::IntoResponse,
    routing::{MethodFilter, MethodRouter, on},
};
use http::{HeaderMap, header};
use serde_json::{Map, Value};

use super::{JSON_BODY_LIMIT, respond};
use crate::{
    app::App,
    caller::{Caller, Credential},
    catalog::{Body, OpInfo},
    error::{Error, Result},
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
            let result = async {
                let args = input(op, &path, query.as_deref(), &headers, body).await?;
                (op.invoke)(app, caller, args).await
            };
            match result.await {
                Ok(outcome) => respond(outcome.status, outcome.message, outcome.data),
                Err(err) => err.into_response(),
            }
        },
    )
}

/// The operation's arguments: JSON body fields, then query parameters, then path parameters
/// (later sources win, so a body cannot override the path's `user_id`).
async fn input(
    op: &OpInfo,
    path: &RawPathParams,
    query: Option<&str>,
    headers: &HeaderMap,
    body: HttpBody,
) -> Result<Value> {
    let mut args = match op.body {
        Body::None => Map::new(),
        Body::Json | Body::OptionalJson => json_body(op.body, headers, body).await?,
    };
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(Error::invalid)?;
        for (key, value) in pairs {
            args.insert(key, Value::String(value));
        }
    }
    for (key, value) in path.iter() {
        args.insert(key.to_string(), Value::String(value.to_string()));
    }
    Ok(Value::Object(args))
}

async fn json_body(kind: Body, headers: &HeaderMap, body: HttpBody) -> Result<Map<String, Value>> {
    let bytes = to_bytes(body, JSON_BODY_LIMIT).await.map_err(|err| {
        if std::error::Error::source(&err).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
        {
            Error::PayloadTooLarge
        } else {
            Error::invalid(format!("reading the body: {err}"))
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return match kind {
            Body::Json => Err(Error::EmptyBody),
            _ => Ok(Map::new()),
        };
    }
    if !is_json(headers) {
        return Err(Error::invalid("the body must be JSON (Content-Type: application/json)"));
    }
    match serde_json::from_slice::<Value>(&bytes).map_err(Error::invalid)? {
        Value::Object(map) if map.is_empty() && kind == Body::Json => Err(Error::EmptyBody),
        Value::Object(map) => Ok(map),
        _ => Err(Error::invalid("the body must be a JSON object")),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}
