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
    catalog::{Accepts, Body, OpInfo},
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
            let basic = match &credential {
                Some(Credential::Basic { email, password })
                    if op.accepts.contains(Accepts::BASIC) =>
                {
                    Some((email.clone(), password.clone()))
                }
                _ => None,
            };
            let caller = Caller::rest(credential, Some(addr.ip()));
            let mut args = input(op, &path, query.as_deref(), &headers, body).await;
            // Login reads email and password from the Basic header, not the body.
            if let (Some((email, password)), Ok(Value::Object(map))) = (basic, &mut args) {
                map.insert("email".into(), Value::String(email));
                map.insert("password".into(), Value::String(password));
            }
            // Credentials are checked before the body's errors are reported, as the original does.
            match (op.invoke)(app, caller, args).await {
                Ok(outcome) if op.rest_data_null => {
                    respond(outcome.status, outcome.message, Value::Null)
                }
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
        // Like the original, undeclared query parameters (cache busters…) are ignored.
        let declared = op.input_schema.get("properties").and_then(Value::as_object);
        for (key, value) in pairs {
            if declared.is_some_and(|props| props.contains_key(&key)) {
                args.insert(key, Value::String(value));
            }
        }
    }
    for (key, value) in path.iter() {
        args.insert(key.to_string(), Value::String(value.to_string()));
    }
    Ok(Value::Object(args))
}

async fn json_body(kind: Body, headers: &HeaderMap, body: HttpBody) -> Result<Map<String, Value>> {
    let bytes = to_bytes(body, JSON_BODY_LIMIT).await.map_err(|err| {
        if std::error::Error::source(&err)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
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
        return Err(Error::invalid(
            "the body must be JSON (Content-Type: application/json)",
        ));
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
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        headers
    }

    async fn parse(
        kind: Body,
        headers: HeaderMap,
        body: &'static str,
    ) -> Result<Map<String, Value>> {
        json_body(kind, &headers, HttpBody::from(body)).await
    }

    #[tokio::test]
    async fn a_required_body_that_is_missing_or_empty_is_the_documented_400() {
        for body in ["", "  ", "{}"] {
            let err = parse(Body::Json, json_headers(), body).await.unwrap_err();
            assert!(matches!(err, Error::EmptyBody), "{body:?}: {err:?}");
            assert_eq!(err.to_string(), "Request body is empty.");
        }
        assert!(
            parse(Body::OptionalJson, json_headers(), "")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn malformed_non_object_and_non_json_bodies_are_invalid_input() {
        for body in ["{oops", "[1,2]", "\"text\"", "42"] {
            let err = parse(Body::Json, json_headers(), body).await.unwrap_err();
            assert!(matches!(err, Error::InvalidInput(_)), "{body:?}: {err:?}");
            assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        }
        let err = parse(Body::Json, HeaderMap::new(), "{\"a\":1}")
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput(_)),
            "no content type: {err:?}"
        );
        let mut form = HeaderMap::new();
        form.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        assert!(parse(Body::Json, form, "a=1").await.is_err());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_413() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(JSON_BODY_LIMIT));
        let err = json_body(Body::Json, &json_headers(), HttpBody::from(big))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::PayloadTooLarge), "{err:?}");
        assert_eq!(err.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn json_objects_parse_with_any_json_media_type() {
        let map = parse(Body::Json, json_headers(), "{\"code\":\"123456\"}")
            .await
            .unwrap();
        assert_eq!(map["code"], "123456");
        let mut problem = HeaderMap::new();
        problem.insert(
            header::CONTENT_TYPE,
            "application/merge-patch+json".parse().unwrap(),
        );
        assert!(parse(Body::Json, problem, "{\"a\":1}").await.is_ok());
    }
}
