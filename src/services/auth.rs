//! Who may call what: which credentials an operation accepts ([`Accepts`]), the caller's
//! credential resolved to an [`Actor`] (once per call, by the catalog runner), and the ownership
//! and "active" rules of the reference. Tokens are opaque; the database keeps only their MAC, so
//! a check is one indexed lookup.

use std::net::IpAddr;

use crate::{
    app::App,
    caller::{Caller, Credential, Surface},
    crypto::{self, ct_eq},
    error::{Error, Result},
    model::User,
    store::{credentials, users},
};

pub const USER_TOKEN_PREFIX: &str = "clara_user_";
pub const API_KEY_PREFIX: &str = "clara_api_";
/// Sessions expire after 7 days.
pub const SESSION_TTL_SECS: i64 = 7 * 24 * 3600;

/// Which credentials an operation accepts (the reference's auth table), as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts(u8);

impl Accepts {
    pub const NONE: Self = Self(0);
    pub const BASIC: Self = Self(1);
    pub const USER_TOKEN: Self = Self(2);
    pub const API_KEY: Self = Self(4);
    pub const PUBLIC_KEY: Self = Self(8);
    pub const PRIVATE_KEY: Self = Self(16);

    pub const fn or(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
    pub const fn is_public(self) -> bool {
        self.0 == 0
    }
    /// Human names of the accepted modes, for docs and the OpenAPI `security` list.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Self::BASIC, "basic"),
            (Self::USER_TOKEN, "user_token"),
            (Self::API_KEY, "api_key_token"),
            (Self::PUBLIC_KEY, "public_api_key"),
            (Self::PRIVATE_KEY, "private_api_key"),
        ]
        .into_iter()
        .filter(|(mode, _)| self.contains(*mode))
        .map(|(_, name)| name)
        .collect()
    }
}

/// How a user proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    /// A user token; the session it belongs to.
    Session(String),
    ApiKey,
}

/// Who is acting, resolved: what every domain function is given.
#[derive(Debug, Clone)]
pub enum Actor {
    /// No credential needed (Health, Google sign-in) or pre-login calls over MCP.
    Anonymous,
    /// The public API key (or, over MCP, a pre-login call), from this client address.
    Public {
        from: Option<IpAddr>,
    },
    /// The admin private API key.
    Private,
    /// Basic credentials, for Login, which checks them itself (REST puts the email and
    /// password into Login's input), from this client address.
    Basic {
        from: Option<IpAddr>,
    },
    User {
        user: Box<User>,
        via: Via,
    },
}

pub fn token_mac(app: &App, token: &str) -> String {
    crypto::mac(&app.config().secret_key, "token", token)
}

/// Resolves the caller against what the operation accepts: 401 for a missing or invalid
/// credential, 403 for a valid one of a kind the operation does not take. Over MCP the
/// pre-login operations (those taking the public key or Basic) need no credential at all.
pub async fn authenticate(app: &App, caller: &Caller, accepts: Accepts) -> Result<Actor> {
    if accepts.is_public() {
        return Ok(Actor::Anonymous);
    }
    let pre_login = accepts.contains(Accepts::PUBLIC_KEY) || accepts.contains(Accepts::BASIC);
    let resolved = match &caller.credential {
        None => Err(Error::MissingCredential {
            needs: needs(accepts),
        }),
        Some(credential) => resolve(app, credential, caller.client_ip).await,
    };
    let actor = match resolved {
        Ok(actor) if allowed(&actor, accepts) => actor,
        _ if caller.surface == Surface::Mcp && pre_login => {
            return Ok(Actor::Public {
                from: caller.client_ip,
            });
        }
        // Login takes Basic credentials only; anything else is a bad credential for it.
        Ok(_) if accepts == Accepts::BASIC => {
            return Err(Error::Unauthorized { two_factor: false });
        }
        Ok(_) => return Err(Error::Forbidden),
        Err(err) => return Err(err),
    };
    if let (Some(wanted), Actor::User { user, .. }) = (&caller.user_id, &actor)
        && !wanted.is_empty()
        && user.id != *wanted.as_str()
    {
        return Err(Error::Forbidden);
    }
    Ok(actor)
}

/// "a user token or an API key token", for error details.
pub fn needs(accepts: Accepts) -> String {
    let names: Vec<&str> = accepts
        .names()
        .into_iter()
        .filter(|n| *n != "private_api_key")
        .map(|n| match n {
            "basic" => "Basic email:password",
            "user_token" => "a user token (Bearer clara_user_…)",
            "api_key_token" => "an API key token (Bearer clara_api_…)",
            _ => "the public API key",
        })
        .collect();
    names.join(" or ")
}

fn allowed(actor: &Actor, accepts: Accepts) -> bool {
    let mode = match actor {
        Actor::Anonymous => return true,
        Actor::Public { .. } => Accepts::PUBLIC_KEY,
        Actor::Private => Accepts::PRIVATE_KEY,
        Actor::Basic { .. } => Accepts::BASIC,
        Actor::User {
            via: Via::Session(_),
            ..
        } => Accepts::USER_TOKEN,
        Actor::User {
            via: Via::ApiKey, ..
        } => Accepts::API_KEY,
    };
    accepts.contains(mode)
}

async fn resolve(app: &App, credential: &Credential, from: Option<IpAddr>) -> Result<Actor> {
    let config = app.config();
    let unauthorized = Error::Unauthorized { two_factor: false };
    let value = match credential {
        Credential::Basic { .. } => return Ok(Actor::Basic { from }),
        Credential::Bearer(value) | Credential::Raw(value) => value,
    };
    if value.starts_with(USER_TOKEN_PREFIX) {
        let mut conn = app.store().conn().await?;
        let found = credentials::session_user(&mut conn, &token_mac(app, value), app.now()).await?;
        let (session, user) = found.ok_or(unauthorized)?;
        return Ok(Actor::User {
            user: Box::new(user),
            via: Via::Session(session),
        });
    }
    if value.starts_with(API_KEY_PREFIX) {
        let mut conn = app.store().conn().await?;
        let user = credentials::api_key_user(&mut conn, &token_mac(app, value)).await?;
        let user = user.ok_or(unauthorized)?;
        return Ok(Actor::User {
            user: Box::new(user),
            via: Via::ApiKey,
        });
    }
    if ct_eq(value, &config.public_api_key) {
        return Ok(Actor::Public { from });
    }
    if let Some(private) = &config.private_api_key
        && ct_eq(value, private)
    {
        return Ok(Actor::Private);
    }
    Err(unauthorized)
}

impl Actor {
    /// The client address of a pre-login caller (what login budgets are keyed by).
    pub fn address(&self) -> Option<IpAddr> {
        match self {
            Self::Public { from } | Self::Basic { from } => *from,
            _ => None,
        }
    }

    /// The user a `{user_id}` path addresses: the caller's own (also when `user_id` is absent),
    /// any user for the private key (404 when unknown), else 403.
    pub async fn target_user(&self, app: &App, user_id: Option<&str>) -> Result<User> {
        match (self, user_id) {
            (Self::User { user, .. }, None) => Ok((**user).clone()),
            (Self::User { user, .. }, Some(id)) if user.id == *id => Ok((**user).clone()),
            (Self::Private, Some(id)) => {
                let mut conn = app.store().conn().await?;
                users::by_id(&mut conn, id)
                    .await?
                    .ok_or(Error::NotFound("User"))
            }
            (Self::Private, None) => {
                Err(Error::invalid("user_id is required with the private key"))
            }
            (Self::User { .. }, Some(_)) => Err(Error::Forbidden),
            _ => Err(Error::Unauthorized { two_factor: false }),
        }
    }

    /// The user a `{user_email}` path addresses: a user token must own it; the public and
    /// private keys may address any email (404 when unknown).
    pub async fn target_email(&self, app: &App, email: &str) -> Result<User> {
        match self {
            Self::User { user, .. } if user.email.matches(email) => Ok((**user).clone()),
            Self::User { .. } => Err(Error::Forbidden),
            _ => {
                let mut conn = app.store().conn().await?;
                users::by_email(&mut conn, email.trim())
                    .await?
                    .ok_or(Error::NotFound("User"))
            }
        }
    }

    /// The session of the presented user token, if that is how the caller signed in.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Self::User {
                via: Via::Session(id),
                ..
            } => Some(id),
            _ => None,
        }
    }
}

/// The reference's "active" rule: activated, and both names set.
pub fn require_active(user: &User) -> Result<()> {
    if user.is_usable() {
        Ok(())
    } else {
        Err(Error::Inactive)
    }
}

/// Creates a session for `user_id` and returns its token.
pub async fn start_session(
    app: &App,
    conn: &mut sqlx::AnyConnection,
    user_id: &str,
) -> Result<String> {
    let token = crypto::random_token(USER_TOKEN_PREFIX);
    let at = app.now();
    let id = crypto::new_id("session");
    credentials::create_session(
        conn,
        &id,
        user_id,
        &token_mac(app, &token),
        at + SESSION_TTL_SECS,
        at,
    )
    .await?;
    Ok(token)
}
