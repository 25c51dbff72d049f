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
    mail::templates,
    model::User,
    store::{credentials, outbox, users},
};

// (REST reads the email and password from the Basic header.)
/// Email and password, plus the second factor when 2FA is on.
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
pub async fn login(app: &App, actor: &Actor, input: Login) -> Result<PublicUser> {
    // Failed logins spend budgets per address and per account and address: an attacker is
    // slowed, the owner elsewhere is not locked out.
    let budgets = app.limiter().login_keys(&input.email, actor.address());
    // The address's attempt is counted before the password is hashed, so a spray of
    // concurrent guesses cannot all pass the check before any is recorded (an attempt that
    // does not fail is given back); the account's budget counts failures.
    let (address, account) = budgets.split_at(budgets.len().min(1));
    let _slot = app.limiter().check_slot(actor.address())?;
    app.limiter().refuse_if_spent(account, app.now())?;
    app.limiter().reserve(address, app.now())?;
    let result = check_and_start(app, &input).await;
    // The 401 that asks a 2FA user for their code (none was sent) is a step, not a failure.
    let asked_for_code = input.code.as_deref().is_none_or(str::is_empty);
    match &result {
        Err(Error::Unauthorized { two_factor: true }) if asked_for_code => {
            app.limiter().release(address)
        }
        Err(Error::Unauthorized { .. }) => app.limiter().spend(account, app.now()),
        _ => app.limiter().release(address),
    }
    result
}

async fn check_and_start(app: &App, input: &Login) -> Result<PublicUser> {
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
        second_factor(app, &user, input.code.as_deref().unwrap_or("")).await?;
    }
    let mut conn = app.store().conn().await?;
    let token = auth::start_session(app, &mut conn, user.id.as_str()).await?;
    Ok(PublicUser::new(&user, Some(token)))
}

/// Wrong second factors in a row before 2FA logins lock.
pub const SECOND_FACTOR_TRIES: i64 = 5;
/// How long they stay locked.
pub const SECOND_FACTOR_LOCK_SECS: i64 = 15 * 60;

/// The second factor of a login whose password was right. After [`SECOND_FACTOR_TRIES`] wrong
/// codes in a row, 2FA logins are locked for [`SECOND_FACTOR_LOCK_SECS`] (429 with
/// `Retry-After`, codes not even checked) and the owner is mailed; a right code resets the count.
async fn second_factor(app: &App, user: &User, code: &str) -> Result<()> {
    let now = app.now();
    if user.second_factor_locked_until > now {
        return Err(Error::RateLimited {
            retry_after_secs: (user.second_factor_locked_until - now) as u64,
        });
    }
    if code.is_empty() {
        return Err(Error::Unauthorized { two_factor: true });
    }
    let id = user.id.as_str();
    if two_factor::verify_any(app, user, code).await? {
        let mut conn = app.store().conn().await?;
        return users::second_factor_passed(&mut conn, id).await;
    }
    let mut tx = app.store().begin().await?;
    let until = now + SECOND_FACTOR_LOCK_SECS;
    if users::second_factor_failed(&mut tx, id, SECOND_FACTOR_TRIES, until).await? {
        tracing::warn!(user = %user.id, "2FA login locked after repeated wrong codes");
        let minutes = SECOND_FACTOR_LOCK_SECS / 60;
        let mail = templates::second_factor_locked(
            user.email.as_str(),
            user.first_name.as_deref(),
            minutes,
        );
        outbox::enqueue(&mut tx, &mail.row(), now).await?;
    }
    tx.commit().await?;
    app.mailer().wake();
    Err(Error::Unauthorized { two_factor: true })
}

/// Revokes the session of the presented user token (other sessions stay).
pub async fn logout(app: &App, actor: &Actor) -> Result<()> {
    let session = actor.session_id().ok_or(Error::Forbidden)?;
    let mut conn = app.store().conn().await?;
    credentials::delete_session(&mut conn, session).await
}
