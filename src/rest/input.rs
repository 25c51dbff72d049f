//! An operation's arguments from an HTTP request: the body (JSON, or multipart streamed within
//! the upload limit), then the query string (only keys the input declares), then the path
//! parameters (later sources win, so a body cannot override the path's `user_id`). Query and
//! path values are read with the type the input's schema gives them (integer, number, boolean,
//! else string), so `?limit=20` is the integer 20 and `?limit=x` the documented 400.

use axum::body::{Body as HttpBody, to_bytes};
use base64::Engine as _;
use http::{HeaderMap, header};
use serde_json::{Map, Value, json};

use super::rejection::Rejection;
use crate::{catalog::Body, error::Error};

/// Everything the request carries, before it is typed.
pub struct Parts<'a> {
    pub path: Vec<(&'a str, &'a str)>,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
}

/// Size limits for bodies.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub json: usize,
    pub upload: usize,
}

/// The arguments as one JSON object, ready to deserialise into the operation's input.
pub async fn read(
    kind: Body,
    schema: &Map<String, Value>,
    parts: Parts<'_>,
    body: HttpBody,
    limits: Limits,
) -> Result<Map<String, Value>, Rejection> {
    let mut args = match kind {
        Body::None => Map::new(),
        Body::Json | Body::OptionalJson => {
            json_body(kind, parts.headers, body, limits.json).await?
        }
        Body::Multipart => multipart_body(parts.headers, body, limits.upload).await?,
    };
    let declared = schema.get("properties").and_then(Value::as_object);
    if let Some(query) = parts.query.filter(|q| !q.is_empty()) {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(Error::invalid)?;
        // Like the original, undeclared query parameters (cache busters…) are ignored.
        for (key, value) in pairs {
            if let Some(property) = declared.and_then(|props| props.get(&key)) {
                let typed = typed(&key, property, &value)?;
                args.insert(key, typed);
            }
        }
    }
    for (key, value) in parts.path {
        let property = declared.and_then(|props| props.get(key));
        let typed = match property {
            Some(property) => typed(key, property, value)?,
            None => Value::String(value.to_string()),
        };
        args.insert(key.to_string(), typed);
    }
    Ok(args)
}

/// `raw` read as the JSON type its schema declares.
fn typed(key: &str, property: &Value, raw: &str) -> Result<Value, Error> {
    let kind = match property.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        _ => "string",
    };
    let bad = |what: &str| Error::invalid(format!("{key} must be {what}, not {raw:?}"));
    Ok(match kind {
        "integer" => match (raw.parse::<i64>(), raw.parse::<u64>()) {
            (Ok(n), _) => json!(n),
            (_, Ok(n)) => json!(n),
            _ => return Err(bad("an integer")),
        },
        "number" => match raw.parse::<f64>() {
            Ok(n) if n.is_finite() => json!(n),
            _ => return Err(bad("a number")),
        },
        "boolean" => match raw {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(bad("true or false")),
        },
        _ => Value::String(raw.to_string()),
    })
}

async fn json_body(
    kind: Body,
    headers: &HeaderMap,
    body: HttpBody,
    limit: usize,
) -> Result<Map<String, Value>, Rejection> {
    let bytes = to_bytes(body, limit).await.map_err(|err| {
        if std::error::Error::source(&err)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
        {
            Rejection::PayloadTooLarge
        } else {
            Error::invalid(format!("reading the body: {err}")).into()
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return match kind {
            Body::Json => Err(Error::EmptyBody.into()),
            _ => Ok(Map::new()),
        };
    }
    if !is_json(headers) {
        return Err(
            Error::invalid("the body must be JSON (Content-Type: application/json)").into(),
        );
    }
    match serde_json::from_slice::<Value>(&bytes).map_err(Error::invalid)? {
        Value::Object(map) if map.is_empty() && kind == Body::Json => Err(Error::EmptyBody.into()),
        Value::Object(map) => Ok(map),
        _ => Err(Error::invalid("the body must be a JSON object").into()),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    mime(headers).is_some_and(|mime| {
        mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
    })
}

fn mime(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

/// A `multipart/form-data` body, read part by part and never more than `limit` bytes in all:
/// text fields become string fields; file parts become `attachments: [{name, content_base64}]`,
/// named by their field name (the Clara convention) or else their file name.
async fn multipart_body(
    headers: &HeaderMap,
    body: HttpBody,
    limit: usize,
) -> Result<Map<String, Value>, Rejection> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| Error::invalid("the body must be multipart/form-data with a boundary"))?;
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(limit as u64));
    let mut form =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let mut args = Map::new();
    let mut attachments = Vec::new();
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let field_name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field.bytes().await.map_err(multipart_error)?;
        match file_name {
            Some(file_name) => {
                let name = if field_name.contains('.') {
                    field_name
                } else {
                    file_name
                };
                let content = base64::engine::general_purpose::STANDARD.encode(&bytes);
                attachments.push(json!({ "name": name, "content_base64": content }));
            }
            None => {
                let text = String::from_utf8(bytes.to_vec()).map_err(|_| {
                    Error::invalid(format!("the field {field_name} is not UTF-8 text"))
                })?;
                args.insert(field_name, Value::String(text));
            }
        }
    }
    if !attachments.is_empty() {
        args.insert("attachments".into(), Value::Array(attachments));
    }
    Ok(args)
}

fn multipart_error(err: multer::Error) -> Rejection {
    match err {
        multer::Error::StreamSizeExceeded { .. } | multer::Error::FieldSizeExceeded { .. } => {
            Rejection::PayloadTooLarge
        }
        other => Error::invalid(format!("reading the multipart body: {other}")).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        json: 1024,
        upload: 4096,
    };

    fn headers(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
        headers
    }

    async fn parse(
        kind: Body,
        headers: HeaderMap,
        body: &str,
    ) -> Result<Map<String, Value>, Rejection> {
        json_body(
            kind,
            &headers,
            HttpBody::from(body.to_string()),
            LIMITS.json,
        )
        .await
    }

    fn json_headers() -> HeaderMap {
        headers("application/json; charset=utf-8")
    }

    fn is_invalid(rejection: &Rejection) -> bool {
        matches!(rejection, Rejection::Domain(Error::InvalidInput(_)))
    }

    #[tokio::test]
    async fn a_required_body_that_is_missing_or_empty_is_the_documented_400() {
        for body in ["", "  ", "{}"] {
            let err = parse(Body::Json, json_headers(), body).await.unwrap_err();
            assert!(
                matches!(err, Rejection::Domain(Error::EmptyBody)),
                "{body:?}: {err:?}"
            );
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
            assert!(is_invalid(&err), "{body:?}: {err:?}");
            assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        }
        let err = parse(Body::Json, HeaderMap::new(), "{\"a\":1}")
            .await
            .unwrap_err();
        assert!(is_invalid(&err), "no content type: {err:?}");
        let form = headers("application/x-www-form-urlencoded");
        assert!(parse(Body::Json, form, "a=1").await.is_err());
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_413() {
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(LIMITS.json));
        let err = parse(Body::Json, json_headers(), &big).await.unwrap_err();
        assert!(matches!(err, Rejection::PayloadTooLarge), "{err:?}");
        assert_eq!(err.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn json_objects_parse_with_any_json_media_type() {
        let map = parse(Body::Json, json_headers(), "{\"code\":\"123456\"}")
            .await
            .unwrap();
        assert_eq!(map["code"], "123456");
        let merge = headers("application/merge-patch+json");
        assert!(parse(Body::Json, merge, "{\"a\":1}").await.is_ok());
    }

    fn schema() -> Map<String, Value> {
        json!({"properties": {
            "limit": {"type": "integer", "minimum": 1},
            "dark": {"type": "boolean"},
            "ratio": {"type": "number"},
            "user_id": {"type": "string"},
        }})
        .as_object()
        .unwrap()
        .clone()
    }

    async fn from_query(query: &str) -> Result<Map<String, Value>, Rejection> {
        let headers = HeaderMap::new();
        let parts = Parts {
            path: vec![("user_id", "42")],
            query: Some(query),
            headers: &headers,
        };
        read(Body::None, &schema(), parts, HttpBody::empty(), LIMITS).await
    }

    #[tokio::test]
    async fn query_and_path_values_take_the_type_of_the_input() {
        let args = from_query("limit=20&dark=true&ratio=0.5&cache=1")
            .await
            .unwrap();
        assert_eq!(
            Value::Object(args),
            json!({"limit": 20, "dark": true, "ratio": 0.5, "user_id": "42"}),
            "typed values, undeclared keys dropped, a string path value stays a string"
        );
        for bad in ["limit=x", "limit=1.5", "dark=yes", "ratio=nan"] {
            let err = from_query(bad).await.unwrap_err();
            assert!(is_invalid(&err), "{bad}: {err:?}");
        }
    }

    fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (HeaderMap, Vec<u8>) {
        let mut body = Vec::new();
        for (name, file, content) in parts {
            body.extend_from_slice(b"--XyZ\r\n");
            let disposition = match file {
                Some(file) => format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                ),
                None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
            };
            body.extend_from_slice(disposition.as_bytes());
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XyZ--\r\n");
        (headers("multipart/form-data; boundary=XyZ"), body)
    }

    #[tokio::test]
    async fn multipart_text_fields_and_files_become_the_mcp_shape() {
        let (headers, body) = multipart(&[
            ("text", None, b"Is the moon made of cheese?"),
            ("moon.png", Some("moon.png"), b"\x89PNG\r\n"),
            ("file", Some("notes.txt"), b"hello"),
        ]);
        let args = multipart_body(&headers, HttpBody::from(body), LIMITS.upload)
            .await
            .unwrap();
        assert_eq!(
            Value::Object(args),
            json!({
                "text": "Is the moon made of cheese?",
                "attachments": [
                    {"name": "moon.png", "content_base64": "iVBORw0K"},
                    {"name": "notes.txt", "content_base64": "aGVsbG8="},
                ],
            })
        );
    }

    #[tokio::test]
    async fn a_multipart_body_over_the_upload_limit_is_413_and_bad_ones_are_400() {
        let big = vec![b'x'; LIMITS.upload + 1];
        let (headers, body) = multipart(&[("a.bin", Some("a.bin"), &big)]);
        let err = multipart_body(&headers, HttpBody::from(body), LIMITS.upload)
            .await
            .unwrap_err();
        assert!(matches!(err, Rejection::PayloadTooLarge), "{err:?}");
        let no_boundary = self::headers("multipart/form-data");
        let err = multipart_body(&no_boundary, HttpBody::from("x"), LIMITS.upload)
            .await
            .unwrap_err();
        assert!(is_invalid(&err), "{err:?}");
        let (headers, _) = multipart(&[]);
        let err = multipart_body(&headers, HttpBody::from("--XyZ\r\nbroken"), LIMITS.upload)
            .await
            .unwrap_err();
        assert!(is_invalid(&err), "{err:?}");
    }
}
