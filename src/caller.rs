//! Who is calling: the credential presented (REST `Authorization` header, MCP HTTP headers, the
//! MCP connection's sign-in, or `CLARA_API_KEY` for stdio), an optional `User-Id` and the client
//! address. Adapters build it; the domain resolves it to an [`crate::services::auth::Actor`].
//! A leaf: depends on nothing in the crate.

use std::net::IpAddr;

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

impl Credential {
    /// What kind of credential this is, for error details (never the value).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "Basic email:password credentials",
            Self::Bearer(t) if t.starts_with("clara_user_") => "a user token",
            Self::Bearer(t) if t.starts_with("clara_api_") => "an API key token",
            Self::Bearer(_) => "a bearer token that is neither a user token nor an API key token",
            Self::Raw(_) => "a raw key (the public or private API key)",
        }
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
    /// The credential this call acts with: the one sent with the request, else (MCP) the one
    /// the connection was signed in with.
    pub credential: Option<Credential>,
    /// The `User-Id` header (MCP) or `CLARA_USER_ID` (stdio).
    pub user_id: Option<String>,
    /// The client's address, when known (HTTP); the rate-limit key without a credential.
    pub client_ip: Option<IpAddr>,
}

impl Caller {
    pub fn rest(credential: Option<Credential>, client_ip: Option<IpAddr>) -> Self {
        Self {
            surface: Surface::Rest,
            credential,
            user_id: None,
            client_ip,
        }
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
