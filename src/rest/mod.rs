//! The REST adapter: `/api/v1` routes generated from the catalog, plus the documented error
//! answers for unknown routes, wrong methods, bad bodies and panics; open CORS; request tracing.

mod envelope;
mod handler;

use std::{collections::BTreeMap, time::Duration};

use axum::{
    Json, Router,
    response::{IntoResponse, Response},
    routing::{MethodFilter, MethodRouter, get},
};
use http::Method;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{Any, CorsLayer},
    trace::TraceLayer,
};

pub use envelope::respond;

use crate::{app::App, catalog, error::Error};

/// The REST prefix.
pub const PREFIX: &str = "/api/v1";

/// Largest JSON body the API reads (analysis uploads, which are multipart, have their own).
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;

pub fn router(app: App) -> Router {
    let mut routes: BTreeMap<&'static str, MethodRouter<App>> = BTreeMap::new();
    for op in catalog::all() {
        let method = method_filter(&op.method);
        let route = routes.remove(op.path).unwrap_or_default();
        routes.insert(op.path, route.merge(handler::operation(op, method)));
    }
    let mut api = Router::new().route("/openapi.json", get(openapi));
    for (path, route) in routes {
        api = api.route(path, route);
    }
    let api = api
        .fallback(|| async { Error::RouteNotFound })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .with_state(app);

    Router::new()
        .nest(PREFIX, api)
        .fallback(|| async { Error::RouteNotFound })
        .layer(CatchPanicLayer::custom(|_| {
            Error::internal(anyhow::anyhow!("handler panicked")).into_response()
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

fn method_filter(method: &Method) -> MethodFilter {
    match *method {
        Method::GET => MethodFilter::GET,
        Method::POST => MethodFilter::POST,
        Method::PATCH => MethodFilter::PATCH,
        Method::PUT => MethodFilter::PUT,
        Method::DELETE => MethodFilter::DELETE,
        _ => unreachable!("the catalog uses GET, POST, PATCH, PUT and DELETE only"),
    }
}

async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}
