//! Sessions: Login (Basic credentials, plus the second factor when 2FA is on) and Logout.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    auth::{self, Actor},
    two_factor,
    users::PublicUser,
};
use crate::{
    app::App,
    error::{Error, Result},
    store::{credentials, users},
};

/// Email and password (REST: from the Basic header), plus the second factor when 2FA is on.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The account's email.
    pub email: String,
    /// The account's password.
    pub password: String,
    /// Only when 2FA is on: the emailed `TWO_FACTOR_AUTH` code, an authenticator-app code, or
    /// a recovery code.
    #[serde(default)]
    pub code: Option<String>,
}

/// Checks the password (against a dummy hash for an unknown email, so both cost the same) and
/// the second factor, then starts a session. No session is made when either is wrong.
pub async fn login(app: &App, _actor: &Actor, input: Login) -> Result<PublicUser> {
    let found = {
        let mut conn = app.store().conn().await?;
        users::by_email(&mut conn, input.email.trim()).await?
    };
    let hash = found.as_ref().map(|u| u.password_hash.as_str());
    let matches = app.hasher().verify(&input.password, hash).await?;
    let user = match found {
        Some(user) if matches => user,
        _ => return Err(Error::Unauthorized { two_factor: false }),
    };
    if user.two_factor {
        let code = input.code.as_deref().unwrap_or("");
        if code.is_empty() || !two_factor::verify_any(app, &user, code).await? {
            return Err(Error::Unauthorized { two_factor: true });
        }
    }
    let mut conn = app.store().conn().await?;
    let token = auth::start_session(app, &mut conn, user.id.as_str()).await?;
    Ok(PublicUser::new(&user, Some(token)))
}

/// Revokes the session of the presented user token (other sessions stay).
pub async fn logout(app: &App, actor: &Actor) -> Result<()> {
    let session = actor.session_id().ok_or(Error::Forbidden)?;
    let mut conn = app.store().conn().await?;
    credentials::delete_session(&mut conn, session).await
}
