//! DNS-rebinding protection for every MCP HTTP endpoint (`/mcp`, `/sse`, `/messages`): the
//! `Host` must be on the host allow-list and a present `Origin` on the origin allow-list
//! (by default: localhost origins only). One policy for all three endpoints.

use axum::{
    Json,
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{StatusCode, header};
use serde_json::json;
use std::sync::Arc;

/// The allow-lists, resolved once.
#[derive(Debug, Clone)]
pub struct Policy {
    hosts: Arc<Vec<String>>,
    origins: Arc<Vec<String>>,
}

impl Policy {
    pub fn new(hosts: &[String], origins: &[String]) -> Self {
        let lower = |v: &[String]| v.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        Self {
            hosts: Arc::new(lower(hosts)),
            origins: Arc::new(lower(origins)),
        }
    }

    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = strip_port(&host);
        self.hosts
            .iter()
            .any(|allowed| allowed == "*" || *allowed == host || allowed == name)
    }

    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        let Some((scheme, authority)) = origin.split_once("://") else {
            return self.origins.contains(&origin); // e.g. "null", if listed
        };
        let name = strip_port(authority);
        if self.origins.is_empty() {
            return matches!(scheme, "http" | "https")
                && matches!(name, "localhost" | "127.0.0.1" | "::1");
        }
        self.origins.iter().any(|allowed| {
            allowed == "*"
                || *allowed == origin
                || allowed
                    .strip_suffix(":*")
                    .is_some_and(|prefix| prefix == format!("{scheme}://{}", bracket(name)))
        })
    }
}

/// `host:port` → `host`; `[::1]:80` → `::1`.
fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => authority,
    }
}

fn bracket(name: &str) -> String {
    if name.contains(':') {
        format!("[{name}]")
    } else {
        name.to_string()
    }
}

/// Middleware: 403 with a JSON-RPC error body when the Host or Origin is not allowed.
pub async fn check(State(policy): State<Policy>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    if let Some(host) = host
        && !policy.host_allowed(&host)
    {
        return forbidden("Forbidden: Host header is not allowed");
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| policy.origin_allowed(o));
        if !allowed {
            return forbidden("Forbidden: Origin header is not allowed");
        }
    }
    next.run(request).await
}

fn forbidden(message: &str) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32000, "message": message}});
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_policy() -> Policy {
        Policy::new(&["localhost".into(), "127.0.0.1".into(), "::1".into()], &[])
    }

    #[test]
    fn by_default_only_localhost_origins_pass() {
        let p = default_policy();
        assert!(p.origin_allowed("http://localhost:6274"));
        assert!(p.origin_allowed("http://127.0.0.1"));
        assert!(p.origin_allowed("https://[::1]:8443"));
        assert!(!p.origin_allowed("http://evil.example"));
        assert!(!p.origin_allowed("http://localhost.evil.example"));
        assert!(!p.origin_allowed("null"));
    }

    #[test]
    fn configured_origins_match_exactly_or_by_any_port() {
        let p = Policy::new(
            &[],
            &[
                "https://app.example.com".into(),
                "http://dev.local:*".into(),
            ],
        );
        assert!(p.origin_allowed("https://app.example.com"));
        assert!(!p.origin_allowed("http://app.example.com"));
        assert!(p.origin_allowed("http://dev.local:3000"));
        assert!(!p.origin_allowed("http://localhost:3000"));
    }

    #[test]
    fn hosts_match_with_or_without_port() {
        let p = default_policy();
        assert!(p.host_allowed("localhost:8000"));
        assert!(p.host_allowed("[::1]:8000"));
        assert!(p.host_allowed("127.0.0.1"));
        assert!(!p.host_allowed("evil.example:8000"));
        assert!(Policy::new(&["*".into()], &[]).host_allowed("anything"));
    }
}
