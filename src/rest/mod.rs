//! The REST adapter: `/api/v1` routes generated from the catalog, hand-written routes beside
//! them ([`extra_routes`]: the OpenAPI document and the Stripe webhook), and the
//! documented error answers for unknown routes, wrong methods, bad bodies and panics; open CORS;
//! request tracing.

mod envelope;
mod handler;
mod input;
mod rejection;
mod webhook;

use std::{collections::BTreeMap, time::Duration};

use axum::{
    Json, Router,
    response::{IntoResponse, Response},
    routing::{MethodFilter, MethodRouter, get, post},
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{Any, CorsLayer},
    trace::TraceLayer,
};

pub use envelope::respond;
pub use rejection::Rejection;

use crate::{
    app::App,
    catalog::{self, Verb},
    defaults::API_PREFIX,
    error::Error,
};

/// The REST API: every catalog operation, plus `extra` (routes outside the catalog, mounted
/// under the same prefix with the same error answers).
pub fn router(app: App, extra: Router<App>) -> Router {
    let mut routes: BTreeMap<&'static str, MethodRouter<App>> = BTreeMap::new();
    for op in catalog::all() {
        let method = method_filter(op.method);
        let route = routes.remove(op.path).unwrap_or_default();
        routes.insert(op.path, route.merge(handler::operation(op, method)));
    }
    let mut api = extra;
    for (path, route) in routes {
        api = api.route(path, route);
    }
    let api = api
        .fallback(|| async { Rejection::RouteNotFound })
        .method_not_allowed_fallback(|| async { Rejection::MethodNotAllowed })
        .with_state(app);

    Router::new()
        .nest(API_PREFIX, api)
        .fallback(|| async { Rejection::RouteNotFound })
        .layer(CatchPanicLayer::custom(|_| {
            Rejection::from(Error::internal(anyhow::anyhow!("handler panicked"))).into_response()
        }))
        .layer(
            CorsLayer::new()
                .allow_origin(Any)
                .allow_methods(Any)
                .allow_headers(Any)
                .max_age(Duration::from_secs(3600)),
        )
        .layer(TraceLayer::new_for_http())
}

/// Refuses a request with two `Authorization` or two `Host` headers (400 in the envelope): which
/// one counts would otherwise depend on who reads it. Applied to every route, MCP included.
pub async fn refuse_duplicate_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    for name in [http::header::AUTHORIZATION, http::header::HOST] {
        if request.headers().get_all(&name).iter().count() > 1 {
            let detail = format!("more than one {name} header");
            return Rejection::from(Error::invalid(detail)).into_response();
        }
    }
    next.run(request).await
}

/// Bodies up to this size are read without asking the upload budget.
const SMALL_BODY: usize = 4 * 1024 * 1024;

/// Large bodies (uploads: multipart analyses, MCP messages carrying attachments) share one
/// budget of memory across all clients: a request whose `Content-Length` is over 4 MiB takes
/// its size from it for as long as it runs, and is refused with 503 (and `Retry-After`) when
/// the budget is spent, so a flood of large uploads cannot exhaust memory. A body without a
/// `Content-Length` may not grow past 4 MiB.
pub async fn budget_large_bodies(
    axum::extract::State(app): axum::extract::State<App>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let length = request
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(length) if length > SMALL_BODY as u64 => {
            let mib = length.div_ceil(1024 * 1024).min(u64::from(u32::MAX)) as u32;
            let Ok(permit) = app.upload_budget().clone().try_acquire_many_owned(mib) else {
                let busy = Error::Unavailable(anyhow::anyhow!("upload budget spent"));
                let mut response = Rejection::from(busy).into_response();
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, http::HeaderValue::from(5));
                return response;
            };
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Some(_) => next.run(request).await,
        None => {
            let (parts, body) = request.into_parts();
            let limited = http_body_util::Limited::new(body, SMALL_BODY);
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::new(limited),
            ))
            .await
        }
    }
}

/// Behind a trusted reverse proxy, the client is the address the proxy reports: the
/// right-most `X-Forwarded-For` entry that is not itself a trusted proxy replaces the peer
/// address every limit and log uses. From anyone else the header is ignored.
pub async fn trust_proxies(
    axum::extract::State(trusted): axum::extract::State<std::sync::Arc<Vec<std::net::IpAddr>>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::extract::ConnectInfo;
    use std::net::{IpAddr, SocketAddr};
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if peer.is_some_and(|p| trusted.contains(&p.ip())) {
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter_map(|ip| ip.parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        if let Some(client) = forwarded.into_iter().rev().find(|ip| !trusted.contains(ip)) {
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(client, 0)));
        }
    }
    next.run(request).await
}

/// Routes that are not catalog operations (they need the raw request, or are documents).
pub fn extra_routes() -> Router<App> {
    Router::new()
        .route("/openapi.json", get(openapi))
        .route("/stripe/settle", post(webhook::settle))
}

fn method_filter(verb: Verb) -> MethodFilter {
    match verb {
        Verb::Get => MethodFilter::GET,
        Verb::Post => MethodFilter::POST,
        Verb::Patch => MethodFilter::PATCH,
        Verb::Put => MethodFilter::PUT,
        Verb::Delete => MethodFilter::DELETE,
    }
}

async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}
