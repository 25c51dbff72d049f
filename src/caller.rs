//! Who is calling: the credential presented (REST `Authorization` header, MCP HTTP headers, or
//! `CLARA_API_KEY` for stdio), an optional `User-Id`, the client address, and for MCP the
//! connection the call arrived on. Adapters build it; the domain resolves it to an identity.

use std::{
    net::IpAddr,
    sync::{Arc, Mutex},
};

/// A credential exactly as presented, not yet checked.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// `Basic base64(email:password)`: Login only.
    Basic { email: String, password: String },
    /// `Bearer <token>`: a user token or an API key token.
    Bearer(String),
    /// A raw value with no scheme word: the public or the private API key.
    Raw(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Basic { .. } => "Basic(<redacted>)",
            Self::Bearer(_) => "Bearer(<redacted>)",
            Self::Raw(_) => "Raw(<redacted>)",
        })
    }
}

impl Credential {
    /// Parses an `Authorization` header value. `None` for an empty value; a `Basic` value
    /// that does not decode to `email:password` is kept as a raw value (and will not match).
    pub fn parse(header: &str) -> Option<Self> {
        let header = header.trim();
        if header.is_empty() {
            return None;
        }
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            return Some(Self::Bearer(rest.to_string()));
        }
        if scheme.eq_ignore_ascii_case("basic")
            && let Some((email, password)) = decode_basic(rest)
        {
            return Some(Self::Basic { email, password });
        }
        Some(Self::Raw(header.to_string()))
    }
}

fn decode_basic(encoded: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (email, password) = text.split_once(':')?;
    Some((email.to_string(), password.to_string()))
}

/// The sign-in state of one MCP connection (a stdio process, or one HTTP/SSE session):
/// `auth_login`, `auth_register` and `auth_google` store the user token here, so later tool
/// calls on the same connection act as that user without passing the token around.
#[derive(Debug, Clone, Default)]
pub struct Binding(Arc<Mutex<Option<Credential>>>);

impl Binding {
    pub fn new(initial: Option<Credential>) -> Self {
        Self(Arc::new(Mutex::new(initial)))
    }

    pub fn bind(&self, credential: Credential) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(credential);
    }
    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    pub fn get(&self) -> Option<Credential> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Which surface a call came through (for logs and rate-limit keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Rest,
    Mcp,
}

/// Everything the domain needs to know about who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    pub surface: Surface,
    /// The credential sent with this request, if any.
    pub credential: Option<Credential>,
    /// The `User-Id` header (MCP) or `CLARA_USER_ID` (stdio).
    pub user_id: Option<String>,
    /// The client's address, when known (HTTP); the rate-limit key without a credential.
    pub client_ip: Option<IpAddr>,
    /// The MCP connection's sign-in state; `None` on REST.
    pub binding: Option<Binding>,
}

impl Caller {
    pub fn rest(credential: Option<Credential>, client_ip: Option<IpAddr>) -> Self {
        Self {
            surface: Surface::Rest,
            credential,
            user_id: None,
            client_ip,
            binding: None,
        }
    }

    /// The credential this call acts with: the one sent with the request, else the one the
    /// MCP connection was bound to by a sign-in.
    pub fn effective_credential(&self) -> Option<Credential> {
        self.credential
            .clone()
            .or_else(|| self.binding.as_ref().and_then(Binding::get))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_values_parse_into_the_five_shapes() {
        assert_eq!(
            Credential::parse("Bearer abc"),
            Some(Credential::Bearer("abc".into()))
        );
        assert_eq!(
            Credential::parse("bearer  abc "),
            Some(Credential::Bearer("abc".into()))
        );
        // "hello@crazi.co:pw" in base64
        assert_eq!(
            Credential::parse("Basic aGVsbG9AY3JhemkuY286cHc="),
            Some(Credential::Basic {
                email: "hello@crazi.co".into(),
                password: "pw".into()
            })
        );
        assert_eq!(
            Credential::parse("clara_pub_x"),
            Some(Credential::Raw("clara_pub_x".into()))
        );
        assert_eq!(
            Credential::parse("Basic !!!"),
            Some(Credential::Raw("Basic !!!".into()))
        );
        assert_eq!(Credential::parse("   "), None);
    }

    #[test]
    fn credentials_never_print_their_secret() {
        let text = format!("{:?}", Credential::Bearer("clara_user_secret".into()));
        assert!(!text.contains("secret"), "{text}");
    }
}
