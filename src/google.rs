//! Google sign-in: verifies an `id_token` (RS256 only) against the JWKS at
//! `CLARA_GOOGLE_JWKS_URL`, with the keys cached for as long as `Cache-Control: max-age` says;
//! `aud` must be `CLARA_GOOGLE_CLIENT_ID`, `iss` Google's, `exp` in the future, the email verified.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, jwk::JwkSet};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::{Error, Result};

const ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];
/// Used when the JWKS answer has no usable max-age.
const DEFAULT_CACHE: Duration = Duration::from_secs(300);
/// An unknown `kid` refetches the keys at most this often, so forged tokens cannot make every
/// request a fetch.
const MIN_REFETCH: Duration = Duration::from_secs(60);

/// The claims Clara uses.
#[derive(Debug, Clone, Deserialize)]
pub struct GoogleIdentity {
    /// Google's stable account id.
    pub sub: String,
    pub email: String,
    #[serde(default)]
    pub email_verified: bool,
    /// The full name.
    pub name: Option<String>,
}

#[derive(Debug)]
pub struct GoogleVerifier {
    client_id: Option<String>,
    jwks_url: String,
    /// Built on first use: building one loads the system's root certificates (~20 ms), which
    /// `clara stdio` should not pay at every launch.
    http: std::sync::OnceLock<reqwest::Client>,
    /// The key set, when it expires, and when it was fetched.
    cache: Mutex<Option<(JwkSet, Instant, Instant)>>,
}

impl GoogleVerifier {
    pub fn new(client_id: Option<String>, jwks_url: String) -> Self {
        Self {
            client_id,
            jwks_url,
            http: std::sync::OnceLock::new(),
            cache: Mutex::new(None),
        }
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default()
        })
    }

    /// The verified identity, or 401 for any invalid token (and when sign-in is not configured).
    pub async fn verify(&self, id_token: &str) -> Result<GoogleIdentity> {
        let unauthorized = Error::Unauthorized { two_factor: false };
        let Some(client_id) = &self.client_id else {
            tracing::debug!("Google sign-in is not configured (CLARA_GOOGLE_CLIENT_ID)");
            return Err(unauthorized);
        };
        let header =
            decode_header(id_token).map_err(|_| Error::Unauthorized { two_factor: false })?;
        if header.alg != Algorithm::RS256 {
            return Err(unauthorized);
        }
        let kid = header
            .kid
            .ok_or(Error::Unauthorized { two_factor: false })?;
        let key = self
            .key(&kid)
            .await?
            .ok_or(Error::Unauthorized { two_factor: false })?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[client_id]);
        validation.set_issuer(&ISSUERS);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        let identity = decode::<GoogleIdentity>(id_token, &key, &validation)
            .map_err(|err| {
                tracing::debug!(error = %err, "Google id_token rejected");
                Error::Unauthorized { two_factor: false }
            })?
            .claims;
        if !identity.email_verified {
            return Err(unauthorized);
        }
        Ok(identity)
    }

    /// The key with this id, refreshing the cached set when it expired, or when it lacks the
    /// key and was fetched over a minute ago (Google rotates keys).
    async fn key(&self, kid: &str) -> Result<Option<DecodingKey>> {
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        let refetch = match cache.as_ref() {
            None => true,
            Some((set, until, fetched)) => {
                now >= *until
                    || (set.find(kid).is_none() && now.duration_since(*fetched) >= MIN_REFETCH)
            }
        };
        if refetch {
            let (set, until) = self.fetch().await?;
            *cache = Some((set, until, now));
        }
        let Some((set, ..)) = cache.as_ref() else {
            return Ok(None);
        };
        match set.find(kid) {
            Some(jwk) => Ok(DecodingKey::from_jwk(jwk).ok()),
            None => Ok(None),
        }
    }

    async fn fetch(&self) -> Result<(JwkSet, Instant)> {
        let response = self
            .http()
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| Error::Unavailable(anyhow::anyhow!("fetching the Google JWKS: {e}")))?;
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_CACHE);
        let set: JwkSet = response
            .json()
            .await
            .map_err(|e| Error::Unavailable(anyhow::anyhow!("parsing the Google JWKS: {e}")))?;
        Ok((set, Instant::now() + max_age))
    }
}

/// `public, max-age=19930, must-revalidate, no-transform` → 19930 s.
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .filter_map(|d| d.trim().strip_prefix("max-age="))
        .find_map(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=19930, must-revalidate"),
            Some(Duration::from_secs(19930))
        );
        assert_eq!(max_age("no-cache"), None);
    }
}
