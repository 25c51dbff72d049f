//! New accounts: Register (with the welcome mail and its activation code), Activate, and
//! Google sign-in (which signs up on first use).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    auth::{self, Actor},
    credits::{self, Entry},
    otp::{self, OtpType},
    users::{PublicUser, clean_name, title_case},
};
use crate::{
    app::App,
    crypto,
    error::{Error, Result},
    mail::templates,
    model::{Credits, Email, User, UserId, check_password},
    store::{outbox, users},
};

/// A new account.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// First name (title-cased), 1 to 100 characters.
    #[schemars(
        length(min = 1, max = 100),
        pattern(r"^[^\u0000-\u001f\u007f-\u009f]*\S[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub first_name: String,
    /// Last name (title-cased), 1 to 100 characters.
    #[schemars(
        length(min = 1, max = 100),
        pattern(r"^[^\u0000-\u001f\u007f-\u009f]*\S[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    pub last_name: String,
    /// Email address; must not be registered yet (compared case-insensitively).
    #[schemars(email, length(max = 254))]
    pub email: String,
    /// 8 to 1024 characters.
    #[schemars(length(min = 8, max = 1024))]
    pub password: String,
}

/// A user as a sign-up makes it: no second factor, dark mode, no credits.
fn new_user(app: &App, email: Email, password_hash: String) -> User {
    let at = app.now();
    User {
        id: UserId::new(crypto::new_id("user")),
        first_name: None,
        last_name: None,
        email,
        password_hash,
        credits: Credits::ZERO,
        two_factor: false,
        dark_mode: true,
        active: false,
        google_user_id: None,
        totp_secret: None,
        totp_pending_secret: None,
        totp_last_step: 0,
        second_factor_failures: 0,
        second_factor_locked_until: 0,
        created_at: at,
        updated_at: at,
    }
}

/// Grants `CLARA_SIGNUP_CREDITS` to a new account, in the transaction that creates it.
async fn signup_credits(app: &App, tx: &mut sqlx::AnyConnection, user: &mut User) -> Result<()> {
    let free = app.config().signup_credits;
    if free.hundredths() > 0 {
        credits::record(
            app,
            tx,
            &user.id,
            &Entry::credit(free, "Free credits on signup."),
        )
        .await?;
        user.credits = free;
    }
    Ok(())
}

/// Creates the account, its first session, its signup credits and the welcome mail with the
/// activation code, in one transaction. Returns the user with its token.
pub async fn register(app: &App, _actor: &Actor, input: Register) -> Result<PublicUser> {
    let first_name = clean_name("first_name", &input.first_name)?;
    let last_name = clean_name("last_name", &input.last_name)?;
    let email = Email::parse(&input.email)?;
    check_password(&input.password)?;
    let password_hash = app.hasher().hash(&input.password).await?;
    let mut user = new_user(app, email, password_hash);
    user.first_name = Some(first_name);
    user.last_name = Some(last_name);
    let mut tx = app.store().begin().await?;
    users::insert(&mut tx, &user).await?;
    signup_credits(app, &mut tx, &mut user).await?;
    let code = otp::issue(app, &mut tx, user.id.as_str(), OtpType::Activation).await?;
    let token = auth::start_session(app, &mut tx, user.id.as_str()).await?;
    let mail = templates::welcome(
        user.email.as_str(),
        user.first_name.as_deref(),
        user.id.as_str(),
        &code,
        &app.config().client_url,
    );
    outbox::enqueue(&mut tx, &mail.row(), user.created_at).await?;
    tx.commit().await?;
    app.mailer().wake();
    Ok(PublicUser::new(&user, Some(token)))
}

/// The emailed `ACTIVATION` code.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Activate {
    /// The account's email.
    #[schemars(email, length(max = 254))]
    pub user_email: String,
    /// The 6-digit `ACTIVATION` code from the welcome mail or auth_send_otp.
    #[schemars(pattern(r"^[0-9]{6}$"))]
    pub code: String,
}

pub async fn activate(app: &App, actor: &Actor, input: Activate) -> Result<PublicUser> {
    let mut user = actor.target_email(app, &input.user_email).await?;
    if !otp::consume(
        app,
        user.id.as_str(),
        OtpType::Activation,
        input.code.trim(),
    )
    .await?
    {
        return Err(Error::Unauthorized { two_factor: false });
    }
    let at = app.now();
    let mut conn = app.store().conn().await?;
    users::activate(&mut conn, user.id.as_str(), at).await?;
    user.active = true;
    user.updated_at = at;
    Ok(PublicUser::new(&user, None))
}

/// A Google ID token.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoogleSignIn {
    /// The RS256 ID token Google issued to the front end for this server's client id.
    pub id_token: String,
}

/// Signs in the Google account's user: by Google id, else by email (linking the account and
/// activating it), else a new active account without a usable password.
pub async fn google(app: &App, _actor: &Actor, input: GoogleSignIn) -> Result<PublicUser> {
    let identity = app.google().verify(input.id_token.trim()).await?;
    let email = Email::parse(&identity.email)?;
    let at = app.now();
    let mut tx = app.store().begin().await?;
    let (user, created) = match users::by_google_id(&mut tx, &identity.sub).await? {
        Some(user) => (user, false),
        None => match users::by_email(&mut tx, email.as_str()).await? {
            Some(mut user) => {
                users::link_google(&mut tx, user.id.as_str(), &identity.sub, at).await?;
                user.active = true;
                user.google_user_id = Some(identity.sub.clone());
                (user, false)
            }
            None => {
                // No password: the account can set one later through Change Password.
                let unusable = app.hasher().hash(&crypto::random_token("")).await?;
                let mut user = new_user(app, email, unusable);
                user.first_name = identity
                    .name
                    .as_deref()
                    .map(title_case)
                    .filter(|n| !n.is_empty());
                user.active = true;
                user.google_user_id = Some(identity.sub.clone());
                users::insert(&mut tx, &user).await?;
                signup_credits(app, &mut tx, &mut user).await?;
                (user, true)
            }
        },
    };
    let token = auth::start_session(app, &mut tx, user.id.as_str()).await?;
    tx.commit().await?;
    let mut out = PublicUser::new(&user, Some(token));
    out.created_now = created;
    Ok(out)
}
