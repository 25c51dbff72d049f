//! A Stripe API stand-in on loopback that the real async-stripe client talks to. It answers
//! with Stripe's own example objects (`tests/it/fixtures/stripe_objects.json`, taken unchanged
//! from Stripe's `openapi/fixtures3.json`, MIT) with the fields a request sets overridden:
//! customers (honouring `Idempotency-Key`, as Stripe does), Checkout Sessions (kept, so tests
//! can complete and list them), Billing Portal sessions. Events are built and signed here too.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    routing::post,
};
use serde_json::{Value, json};

pub const SECRET_KEY: &str = "sk_test_clara";
pub const WEBHOOK_SECRET: &str = "whsec_clara_test";
pub const PRICE: &str = "price_test_cent";
/// Bands for tests: $5–$100 at 100 credits a dollar, $101–$1000 at 120.
pub const RATES: &str = "5-100:100:price_test_cent,101-1000:120:price_test_bulk";

const OBJECTS: &str = include_str!("../fixtures/stripe_objects.json");

#[derive(Default)]
struct State_ {
    /// Idempotency key → customer id.
    customers_by_key: HashMap<String, String>,
    customers: Vec<Value>,
    /// Sessions, in creation order.
    sessions: Vec<Value>,
    portals: usize,
    next: usize,
}

#[derive(Clone)]
struct Shared {
    objects: Arc<Value>,
    state: Arc<Mutex<State_>>,
}

pub struct StripeStandIn {
    pub addr: SocketAddr,
    shared: Shared,
    _server: tokio::task::JoinHandle<()>,
}

/// `a[b][c]=v` form pairs.
fn form(body: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str(body).unwrap_or_default()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn metadata(pairs: &[(String, String)]) -> Value {
    pairs
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_string(), Value::String(v.clone())))
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {SECRET_KEY}"))
}

fn unauthorized() -> (StatusCode, Json<Value>) {
    let body =
        json!({"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}});
    (StatusCode::UNAUTHORIZED, Json(body))
}

async fn customers(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return unauthorized();
    }
    let pairs = form(&body);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut state = shared.state.lock().unwrap();
    if let Some(id) = key
        .as_ref()
        .and_then(|k| state.customers_by_key.get(k))
        .cloned()
    {
        let existing = state
            .customers
            .iter()
            .find(|c| c["id"] == id.as_str())
            .cloned();
        return (StatusCode::OK, Json(existing.unwrap()));
    }
    state.next += 1;
    let mut customer = shared.objects["customer"].clone();
    let id = format!("cus_test_{}", state.next);
    customer["id"] = json!(id);
    customer["email"] = json!(get(&pairs, "email"));
    customer["metadata"] = metadata(&pairs);
    if let Some(key) = key {
        state.customers_by_key.insert(key, id);
    }
    state.customers.push(customer.clone());
    (StatusCode::OK, Json(customer))
}

async fn checkout_sessions(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return unauthorized();
    }
    let pairs = form(&body);
    let mut state = shared.state.lock().unwrap();
    state.next += 1;
    let id = format!("cs_test_{}", state.next);
    let mut session = shared.objects["checkout.session"].clone();
    let quantity: i64 = get(&pairs, "line_items[0][quantity]")
        .unwrap_or("0")
        .parse()
        .unwrap();
    session["id"] = json!(id);
    session["url"] = json!(format!("https://checkout.stripe.com/c/pay/{id}"));
    session["customer"] = json!(get(&pairs, "customer"));
    session["metadata"] = metadata(&pairs);
    session["mode"] = json!("payment");
    session["status"] = json!("open");
    session["payment_status"] = json!("unpaid");
    session["payment_intent"] = Value::Null;
    session["amount_total"] = json!(quantity); // the price is one cent a unit
    session["success_url"] = json!(get(&pairs, "success_url"));
    session["cancel_url"] = json!(get(&pairs, "cancel_url"));
    session["created"] = json!(clara::clock::Clock::system().now());
    session["line_items_request"] = json!({
        "price": get(&pairs, "line_items[0][price]"),
        "quantity": quantity,
    });
    state.sessions.push(session.clone());
    (StatusCode::OK, Json(session))
}

async fn list_sessions(
    State(shared): State<Shared>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return unauthorized();
    }
    let pairs = form(query.as_deref().unwrap_or(""));
    let since: i64 = get(&pairs, "created[gte]")
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let limit: usize = get(&pairs, "limit").unwrap_or("10").parse().unwrap_or(10);
    let status = get(&pairs, "status");
    let after = get(&pairs, "starting_after");
    let state = shared.state.lock().unwrap();
    // Stripe lists newest first.
    let matching: Vec<&Value> = state
        .sessions
        .iter()
        .rev()
        .filter(|s| s["created"].as_i64().unwrap_or(0) >= since)
        .filter(|s| status.is_none_or(|st| s["status"] == st))
        .collect();
    let start = match after {
        Some(id) => matching
            .iter()
            .position(|s| s["id"] == id)
            .map_or(matching.len(), |i| i + 1),
        None => 0,
    };
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(limit)
        .map(|s| (*s).clone())
        .collect();
    let has_more = start + page.len() < matching.len();
    let body = json!({"object": "list", "data": page, "has_more": has_more, "url": "/v1/checkout/sessions"});
    (StatusCode::OK, Json(body))
}

async fn portal_sessions(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return unauthorized();
    }
    let pairs = form(&body);
    let mut state = shared.state.lock().unwrap();
    state.portals += 1;
    let mut portal = shared.objects["billing_portal.session"].clone();
    portal["id"] = json!(format!("bps_test_{}", state.portals));
    portal["customer"] = json!(get(&pairs, "customer"));
    portal["return_url"] = json!(get(&pairs, "return_url"));
    portal["url"] = json!(format!(
        "https://billing.stripe.com/p/session/test_{}",
        state.portals
    ));
    (StatusCode::OK, Json(portal))
}

impl StripeStandIn {
    pub async fn start() -> Self {
        let shared = Shared {
            objects: Arc::new(serde_json::from_str(OBJECTS).unwrap()),
            state: Arc::default(),
        };
        let app = Router::new()
            .route("/v1/customers", post(customers))
            .route(
                "/v1/checkout/sessions",
                post(checkout_sessions).get(list_sessions),
            )
            .route("/v1/billing_portal/sessions", post(portal_sessions))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            _server: server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many Checkout Sessions were created.
    pub fn sessions(&self) -> usize {
        self.shared.state.lock().unwrap().sessions.len()
    }

    /// How many customers were created.
    pub fn customers(&self) -> usize {
        self.shared.state.lock().unwrap().customers.len()
    }

    /// The Checkout Session with this id (or the latest when `None`).
    pub fn session(&self, id: Option<&str>) -> Value {
        let state = self.shared.state.lock().unwrap();
        match id {
            Some(id) => state
                .sessions
                .iter()
                .find(|s| s["id"] == id)
                .cloned()
                .unwrap(),
            None => state.sessions.last().cloned().expect("a checkout session"),
        }
    }

    /// The customer pays: the session becomes complete, paid or (a delayed method) unpaid.
    pub fn complete(&self, id: &str, paid: bool) -> Value {
        let mut state = self.shared.state.lock().unwrap();
        let session = state.sessions.iter_mut().find(|s| s["id"] == id).unwrap();
        session["status"] = json!("complete");
        session["payment_status"] = json!(if paid { "paid" } else { "unpaid" });
        session["payment_intent"] = json!(format!("pi_{id}"));
        session.clone()
    }

    /// A delayed payment settles: the session becomes paid.
    pub fn settle(&self, id: &str) -> Value {
        self.complete(id, true)
    }
}

/// A Stripe event around `object`, as JSON bytes.
pub fn event(id: &str, kind: &str, object: &Value) -> Vec<u8> {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2026-09-30.endive",
        "created": clara::clock::Clock::system().now(),
        "livemode": false,
        "pending_webhooks": 1,
        "type": kind,
        "data": {"object": object},
    })
    .to_string()
    .into_bytes()
}

/// The `Stripe-Signature` header for `body` at `timestamp`.
pub fn signature(body: &[u8], timestamp: i64) -> String {
    clara::billing::signature::header(WEBHOOK_SECRET, timestamp, body)
}
