//! Who may call what: resolves the caller's credential to a [`Principal`] (checked once per call
//! by the catalog runner), and the ownership and "active" rules of the reference.
//! Tokens are opaque; the database keeps only their MAC, so a check is one indexed lookup.

use crate::{
    app::App,
    caller::{Caller, Credential, Surface},
    catalog::Accepts,
    crypto::{self, ct_eq, now},
    error::{Error, Result},
    store::{credentials, users, users::UserRow},
};

pub const USER_TOKEN_PREFIX: &str = "clara_user_";
pub const API_KEY_PREFIX: &str = "clara_api_";
/// Sessions expire after 7 days.
pub const SESSION_TTL_SECS: i64 = 7 * 24 * 3600;

/// How a user proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    /// A user token; the session it belongs to.
    Session(String),
    ApiKey,
}

/// The resolved caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// No credential needed (Health, Google sign-in) or pre-login calls over MCP.
    Anonymous,
    /// The public API key.
    Public,
    /// The admin private API key.
    Private,
    /// Basic credentials, for Login, which checks them itself (REST puts the email and
    /// password into Login's input).
    Basic,
    User {
        user: Box<UserRow>,
        via: Via,
    },
}

/// The call context every operation receives.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub caller: Caller,
    pub principal: Principal,
}

pub fn token_mac(app: &App, token: &str) -> String {
    crypto::mac(&app.config().secret_key, "token", token)
}

/// Resolves the caller against what the operation accepts: 401 for a missing or invalid
/// credential, 403 for a valid one of a kind the operation does not take. Over MCP the
/// pre-login operations (those taking the public key or Basic) need no credential at all.
pub async fn authenticate(app: &App, caller: &Caller, accepts: Accepts) -> Result<Principal> {
    if accepts.is_public() {
        return Ok(Principal::Anonymous);
    }
    let pre_login = accepts.contains(Accepts::PUBLIC_KEY) || accepts.contains(Accepts::BASIC);
    let resolved = match caller.effective_credential() {
        None => Err(Error::MissingCredential {
            needs: needs(accepts),
        }),
        Some(credential) => resolve(app, credential).await,
    };
    let principal = match resolved {
        Ok(principal) if allowed(&principal, accepts) => principal,
        _ if caller.surface == Surface::Mcp && pre_login => return Ok(Principal::Public),
        // Login takes Basic credentials only; anything else is a bad credential for it.
        Ok(_) if accepts == Accepts::BASIC => {
            return Err(Error::Unauthorized { two_factor: false });
        }
        Ok(_) => return Err(Error::Forbidden),
        Err(err) => return Err(err),
    };
    if let (Some(wanted), Principal::User { user, .. }) = (&caller.user_id, &principal)
        && !wanted.is_empty()
        && *wanted != user.id
    {
        return Err(Error::Forbidden);
    }
    Ok(principal)
}

/// "a user token or an API key token", for error details.
fn needs(accepts: Accepts) -> String {
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

fn allowed(principal: &Principal, accepts: Accepts) -> bool {
    let mode = match principal {
        Principal::Anonymous => return true,
        Principal::Public => Accepts::PUBLIC_KEY,
        Principal::Private => Accepts::PRIVATE_KEY,
        Principal::Basic => Accepts::BASIC,
        Principal::User {
            via: Via::Session(_),
            ..
        } => Accepts::USER_TOKEN,
        Principal::User {
            via: Via::ApiKey, ..
        } => Accepts::API_KEY,
    };
    accepts.contains(mode)
}

async fn resolve(app: &App, credential: Credential) -> Result<Principal> {
    let config = app.config();
    let unauthorized = Error::Unauthorized { two_factor: false };
    let value = match credential {
        Credential::Basic { .. } => return Ok(Principal::Basic),
        Credential::Bearer(value) | Credential::Raw(value) => value,
    };
    if value.starts_with(USER_TOKEN_PREFIX) {
        let mut conn = app.store().conn().await?;
        let found = credentials::session_user(&mut conn, &token_mac(app, &value), now()).await?;
        let (session, user) = found.ok_or(unauthorized)?;
        return Ok(Principal::User {
            user: Box::new(user),
            via: Via::Session(session),
        });
    }
    if value.starts_with(API_KEY_PREFIX) {
        let mut conn = app.store().conn().await?;
        let user = credentials::api_key_user(&mut conn, &token_mac(app, &value)).await?;
        let user = user.ok_or(unauthorized)?;
        return Ok(Principal::User {
            user: Box::new(user),
            via: Via::ApiKey,
        });
    }
    if ct_eq(&value, &config.public_api_key) {
        return Ok(Principal::Public);
    }
    if let Some(private) = &config.private_api_key
        && ct_eq(&value, private)
    {
        return Ok(Principal::Private);
    }
    Err(unauthorized)
}

impl Ctx {
    /// The user a `{user_id}` path addresses: the caller's own (also when `user_id` is absent),
    /// any user for the private key (404 when unknown), else 403.
    pub async fn target_user(&self, app: &App, user_id: Option<&str>) -> Result<UserRow> {
        match (&self.principal, user_id) {
            (Principal::User { user, .. }, None) => Ok((**user).clone()),
            (Principal::User { user, .. }, Some(id)) if id == user.id => Ok((**user).clone()),
            (Principal::Private, Some(id)) => {
                let mut conn = app.store().conn().await?;
                users::by_id(&mut conn, id)
                    .await?
                    .ok_or(Error::NotFound("User"))
            }
            (Principal::Private, None) => {
                Err(Error::invalid("user_id is required with the private key"))
            }
            (Principal::User { .. }, Some(_)) => Err(Error::Forbidden),
            _ => Err(Error::Unauthorized { two_factor: false }),
        }
    }

    /// The user a `{user_email}` path addresses: a user token must own it; the public and
    /// private keys may address any email (404 when unknown).
    pub async fn target_email(&self, app: &App, email: &str) -> Result<UserRow> {
        match &self.principal {
            Principal::User { user, .. } if user.email.to_lowercase() == email.to_lowercase() => {
                Ok((**user).clone())
            }
            Principal::User { .. } => Err(Error::Forbidden),
            _ => {
                let mut conn = app.store().conn().await?;
                users::by_email(&mut conn, email)
                    .await?
                    .ok_or(Error::NotFound("User"))
            }
        }
    }

    /// The session of the presented user token, if that is how the caller signed in.
    pub fn session_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::User {
                via: Via::Session(id),
                ..
            } => Some(id),
            _ => None,
        }
    }
}

/// The reference's "active" rule: activated, and both names set.
pub fn require_active(user: &UserRow) -> Result<()> {
    let named = |n: &Option<String>| n.as_deref().is_some_and(|s| !s.trim().is_empty());
    if user.is_active == 1 && named(&user.first_name) && named(&user.last_name) {
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
    let at = now();
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

/// After the transaction that created the session commits: bind the MCP connection.
pub fn bind_connection(caller: &Caller, token: &str) {
    if let Some(binding) = &caller.binding {
        binding.bind(Credential::Bearer(token.to_string()));
    }
}
