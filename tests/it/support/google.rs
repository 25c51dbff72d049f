//! A stand-in for Google's JWKS endpoint on loopback, and ID tokens signed by its test key
//! (`tests/it/fixtures/google_test_rsa.pem`, made with `openssl genrsa 2048` for these tests).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use jsonwebtoken::{
    Algorithm, EncodingKey, Header, encode,
    jwk::{Jwk, JwkSet},
};
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "clara-test.apps.googleusercontent.com";
pub const KID: &str = "test-key-1";
const PEM: &[u8] = include_bytes!("../fixtures/google_test_rsa.pem");

pub struct GoogleStandIn {
    pub addr: SocketAddr,
    fetches: Arc<AtomicUsize>,
    _server: tokio::task::JoinHandle<()>,
}

impl GoogleStandIn {
    pub async fn start() -> Self {
        let key = EncodingKey::from_rsa_pem(PEM).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some(KID.into());
        let set = JwkSet { keys: vec![jwk] };
        let fetches = Arc::new(AtomicUsize::new(0));
        let counter = fetches.clone();
        let app = axum::Router::new().route(
            "/certs",
            axum::routing::get(move || {
                let set = set.clone();
                counter.fetch_add(1, Ordering::SeqCst);
                async move { ([("cache-control", "public, max-age=3600")], axum::Json(set)) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            fetches,
            _server: server,
        }
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    pub fn jwks_url(&self) -> String {
        format!("http://{}/certs", self.addr)
    }
}

/// Standard claims for `email`, valid for an hour; tests override fields to break them.
pub fn claims(sub: &str, email: &str, name: &str) -> Value {
    let now = clara::clock::Clock::system().now();
    json!({
        "iss": "https://accounts.google.com",
        "aud": CLIENT_ID,
        "sub": sub,
        "email": email,
        "email_verified": true,
        "name": name,
        "iat": now,
        "exp": now + 3600,
    })
}

pub fn sign(claims: &Value, kid: &str) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    encode(&header, claims, &EncodingKey::from_rsa_pem(PEM).unwrap()).unwrap()
}

/// An unsigned token (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    use base64::Engine as _;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": KID, "typ": "JWT"})),
        b64(claims)
    )
}
