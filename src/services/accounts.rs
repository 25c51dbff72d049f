//! Auth: Register, Google sign-in, Login, Logout, Change Password, Send OTP, Activate.

use http::{Method, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    auth::{self, Ctx, Principal},
    otp::{self, OtpType},
    passwords, two_factor,
    users::{User, clean_name, title_case},
};
use crate::{
    app::App,
    catalog::{Accepts, Body, Hints, Operation},
    crypto::{self, now},
    error::{Error, Result},
    mail::templates,
    store::{codes, credentials, outbox, users, users::UserRow},
};

/// The answer of operations whose REST `data` is null.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Done {
    /// What happened, e.g. `OTP sent successfully.`
    pub message: String,
}

impl Done {
    pub fn new(message: &str) -> Self {
        Self {
            message: message.to_string(),
        }
    }
}

/// A plausible email address: one `@`, something on each side, no spaces, at most 254 bytes.
pub fn check_email(email: &str) -> Result<()> {
    let ok = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("email is not a valid address"))
    }
}

/// A new account.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// First name (title-cased).
    pub first_name: String,
    /// Last name (title-cased).
    pub last_name: String,
    /// Email address; must not be registered yet (compared case-insensitively).
    pub email: String,
    /// 8 to 1024 characters.
    pub password: String,
}

pub struct AuthRegister;
impl Operation for AuthRegister {
    const NAME: &'static str = "auth_register";
    const TITLE: &'static str = "Register";
    const DESCRIPTION: &'static str = "Create an account. An activation code is mailed; call auth_activate with it before \
        using credit operations. Signs this MCP connection in as the new user.";
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/auth/register";
    const ACCEPTS: Accepts = Accepts::PUBLIC_KEY.or(Accepts::PRIVATE_KEY);
    const HINTS: Hints = Hints::WRITE;
    const BODY: Body = Body::Json;
    const STATUS: StatusCode = StatusCode::CREATED;
    const MESSAGE: &'static str = "User registered successfully.";
    type In = Register;
    type Out = User;

    async fn call(app: &App, ctx: &Ctx, input: Register) -> Result<User> {
        let first_name = clean_name("first_name", &input.first_name)?;
        let last_name = clean_name("last_name", &input.last_name)?;
        let email = input.email.trim().to_string();
        check_email(&email)?;
        passwords::validate(&input.password)?;
        let password_hash = app.hasher().hash(&input.password).await?;
        let at = now();
        let user = UserRow {
            id: crypto::new_id("user"),
            first_name: Some(first_name),
            last_name: Some(last_name),
            email,
            password_hash,
            credits: 0,
            is_2fa_enabled: 0,
            is_dark_mode: 1,
            is_active: 0,
            google_user_id: None,
            totp_secret: None,
            totp_pending_secret: None,
            totp_last_step: 0,
            created_at: at,
            updated_at: at,
        };
        let mut tx = app.store().begin().await?;
        users::insert(&mut tx, &user).await?;
        let code = otp::issue(app, &mut tx, &user.id, OtpType::Activation).await?;
        let token = auth::start_session(app, &mut tx, &user.id).await?;
        let mail = templates::welcome(
            &user.email,
            user.first_name.as_deref(),
            &user.id,
            &code,
            &app.config().client_url,
        );
        outbox::enqueue(&mut tx, &mail.row(), at).await?;
        tx.commit().await?;
        app.mailer().wake();
        auth::bind_connection(&ctx.caller, &token);
        Ok(User::from_row(&user, Some(token)))
    }
}

/// Email and password (REST: from the Basic header), plus the second factor when 2FA is on.
#[derive(Debug, Deserialize, JsonSchema)]
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

pub struct AuthLogin;
impl Operation for AuthLogin {
    const NAME: &'static str = "auth_login";
    const TITLE: &'static str = "Log in";
    const DESCRIPTION: &'static str = "Sign in with email and password (and a 2FA code when 2FA is on). Returns the user \
        with a user token, and signs this MCP connection in as that user.";
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/auth/session";
    const ACCEPTS: Accepts = Accepts::BASIC;
    const HINTS: Hints = Hints::WRITE;
    const BODY: Body = Body::OptionalJson;
    const STATUS: StatusCode = StatusCode::OK;
    const MESSAGE: &'static str = "User logged in successfully.";
    type In = Login;
    type Out = User;

    async fn call(app: &App, ctx: &Ctx, input: Login) -> Result<User> {
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
        if user.is_2fa_enabled == 1 {
            let code = input.code.as_deref().unwrap_or("");
            if code.is_empty() || !two_factor::verify_any(app, &user, code).await? {
                return Err(Error::Unauthorized { two_factor: true });
            }
        }
        let mut conn = app.store().conn().await?;
        let token = auth::start_session(app, &mut conn, &user.id).await?;
        auth::bind_connection(&ctx.caller, &token);
        Ok(User::from_row(&user, Some(token)))
    }
}

pub struct AuthLogout;
impl Operation for AuthLogout {
    const NAME: &'static str = "auth_logout";
    const TITLE: &'static str = "Log out";
    const DESCRIPTION: &'static str =
        "Revoke the user token this call presents (other sessions stay).";
    const METHOD: Method = Method::DELETE;
    const PATH: &'static str = "/auth/session";
    const ACCEPTS: Accepts = Accepts::USER_TOKEN;
    const HINTS: Hints = Hints {
        destructive: true,
        idempotent: true,
        ..Hints::WRITE
    };
    const BODY: Body = Body::None;
    const STATUS: StatusCode = StatusCode::NO_CONTENT;
    const MESSAGE: &'static str = "User logged out successfully.";
    type In = super::NoInput;
    type Out = Done;

    async fn call(app: &App, ctx: &Ctx, _input: super::NoInput) -> Result<Done> {
        let session = ctx.session_id().ok_or(Error::Forbidden)?;
        let mut conn = app.store().conn().await?;
        credentials::delete_session(&mut conn, session).await?;
        if let Some(binding) = &ctx.caller.binding
            && binding.get() == ctx.caller.effective_credential()
        {
            binding.clear();
        }
        Ok(Done::new(Self::MESSAGE))
    }
}

/// A new password, authorised by an emailed `CHANGE_PASSWORD` code.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The account's email.
    pub user_email: String,
    /// The new password, 8 to 1024 characters.
    pub password: String,
    /// The `CHANGE_PASSWORD` code from auth_send_otp.
    pub code: String,
}

pub struct AuthChangePassword;
impl Operation for AuthChangePassword {
    const NAME: &'static str = "auth_change_password";
    const TITLE: &'static str = "Change password";
    const DESCRIPTION: &'static str = "Set a new password with an emailed CHANGE_PASSWORD code (auth_send_otp). Signs out \
        every other session and voids pending codes.";
    const METHOD: Method = Method::PATCH;
    const PATH: &'static str = "/users/{user_email}/password";
    const ACCEPTS: Accepts = Accepts::USER_TOKEN
        .or(Accepts::PUBLIC_KEY)
        .or(Accepts::PRIVATE_KEY);
    const HINTS: Hints = Hints {
        destructive: true,
        ..Hints::WRITE
    };
    const BODY: Body = Body::Json;
    const STATUS: StatusCode = StatusCode::OK;
    const MESSAGE: &'static str = "User password changed successfully.";
    const REST_DATA_NULL: bool = true;
    type In = ChangePassword;
    type Out = Done;

    async fn call(app: &App, ctx: &Ctx, input: ChangePassword) -> Result<Done> {
        let user = ctx.target_email(app, &input.user_email).await?;
        passwords::validate(&input.password)?;
        if !otp::consume(app, &user.id, OtpType::ChangePassword, input.code.trim()).await? {
            return Err(Error::Unauthorized { two_factor: false });
        }
        let hash = app.hasher().hash(&input.password).await?;
        let keep = match &ctx.principal {
            Principal::User { user: caller, .. } if caller.id == user.id => ctx.session_id(),
            _ => None,
        };
        let at = now();
        let mut tx = app.store().begin().await?;
        users::set_password(&mut tx, &user.id, &hash, at).await?;
        credentials::delete_other_sessions(&mut tx, &user.id, keep).await?;
        codes::delete_otps(&mut tx, &user.id).await?;
        let mail = templates::password_changed(&user.email, user.first_name.as_deref());
        outbox::enqueue(&mut tx, &mail.row(), at).await?;
        tx.commit().await?;
        app.mailer().wake();
        Ok(Done::new(Self::MESSAGE))
    }
}

/// Which code to mail, to whom.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendOtp {
    /// The account's email.
    pub user_email: String,
    /// `ACTIVATION`, `TWO_FACTOR_AUTH` or `CHANGE_PASSWORD`.
    pub otp_type: OtpType,
}

pub struct AuthSendOtp;
impl Operation for AuthSendOtp {
    const NAME: &'static str = "auth_send_otp";
    const TITLE: &'static str = "Send OTP";
    const DESCRIPTION: &'static str = "Mail a 6-digit code (valid 10 minutes) for activation, a 2FA step or a password \
        change. One code per type at a time; at most one request a minute.";
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/users/{user_email}/otp/{otp_type}";
    const ACCEPTS: Accepts = Accepts::PUBLIC_KEY.or(Accepts::PRIVATE_KEY);
    const HINTS: Hints = Hints {
        open_world: true,
        ..Hints::WRITE
    };
    const BODY: Body = Body::None;
    const STATUS: StatusCode = StatusCode::CREATED;
    const MESSAGE: &'static str = "OTP sent successfully.";
    const REST_DATA_NULL: bool = true;
    type In = SendOtp;
    type Out = Done;

    async fn call(app: &App, ctx: &Ctx, input: SendOtp) -> Result<Done> {
        let user = ctx.target_email(app, &input.user_email).await?;
        let mut tx = app.store().begin().await?;
        let code = otp::issue(app, &mut tx, &user.id, input.otp_type).await?;
        let mail = templates::otp(
            &user.email,
            user.first_name.as_deref(),
            input.otp_type.as_str(),
            &code,
        );
        outbox::enqueue(&mut tx, &mail.row(), now()).await?;
        tx.commit().await?;
        app.mailer().wake();
        Ok(Done::new(Self::MESSAGE))
    }
}

/// The emailed `ACTIVATION` code.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Activate {
    /// The account's email.
    pub user_email: String,
    /// The 6-digit `ACTIVATION` code from the welcome mail or auth_send_otp.
    pub code: String,
}

pub struct AuthActivate;
impl Operation for AuthActivate {
    const NAME: &'static str = "auth_activate";
    const TITLE: &'static str = "Activate account";
    const DESCRIPTION: &'static str = "Activate an account with its emailed ACTIVATION code.";
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/users/{user_email}/activate";
    const ACCEPTS: Accepts = Accepts::PUBLIC_KEY.or(Accepts::PRIVATE_KEY);
    const HINTS: Hints = Hints {
        idempotent: true,
        ..Hints::WRITE
    };
    const BODY: Body = Body::Json;
    const STATUS: StatusCode = StatusCode::OK;
    const MESSAGE: &'static str = "User activated successfully.";
    type In = Activate;
    type Out = User;

    async fn call(app: &App, ctx: &Ctx, input: Activate) -> Result<User> {
        let mut user = ctx.target_email(app, &input.user_email).await?;
        if !otp::consume(app, &user.id, OtpType::Activation, input.code.trim()).await? {
            return Err(Error::Unauthorized { two_factor: false });
        }
        let at = now();
        let mut conn = app.store().conn().await?;
        users::activate(&mut conn, &user.id, at).await?;
        user.is_active = 1;
        user.updated_at = at;
        Ok(User::from_row(&user, None))
    }
}

/// A Google ID token.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoogleSignIn {
    /// The RS256 ID token Google issued to the front end for this server's client id.
    pub id_token: String,
}

pub struct AuthGoogle;
impl Operation for AuthGoogle {
    const NAME: &'static str = "auth_google";
    const TITLE: &'static str = "Sign in with Google";
    const DESCRIPTION: &'static str = "Sign in (or sign up) with a Google ID token. Returns the user with a user token and \
        signs this MCP connection in.";
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/auth/google";
    const ACCEPTS: Accepts = Accepts::NONE;
    const HINTS: Hints = Hints {
        open_world: true,
        ..Hints::WRITE
    };
    const BODY: Body = Body::Json;
    const STATUS: StatusCode = StatusCode::CREATED;
    const MESSAGE: &'static str = "User logged in successfully.";
    type In = GoogleSignIn;
    type Out = User;

    async fn call(app: &App, ctx: &Ctx, input: GoogleSignIn) -> Result<User> {
        let identity = app.google().verify(input.id_token.trim()).await?;
        let at = now();
        let mut tx = app.store().begin().await?;
        let (user, created) = match users::by_google_id(&mut tx, &identity.sub).await? {
            Some(user) => (user, false),
            None => match users::by_email(&mut tx, &identity.email).await? {
                Some(mut user) => {
                    users::link_google(&mut tx, &user.id, &identity.sub, at).await?;
                    user.is_active = 1;
                    user.google_user_id = Some(identity.sub.clone());
                    (user, false)
                }
                None => {
                    // No password: the account can set one later through Change Password.
                    let unusable = app.hasher().hash(&crypto::random_token("")).await?;
                    let user = UserRow {
                        id: crypto::new_id("user"),
                        first_name: identity
                            .name
                            .as_deref()
                            .map(title_case)
                            .filter(|n| !n.is_empty()),
                        last_name: None,
                        email: identity.email.clone(),
                        password_hash: unusable,
                        credits: 0,
                        is_2fa_enabled: 0,
                        is_dark_mode: 1,
                        is_active: 1,
                        google_user_id: Some(identity.sub.clone()),
                        totp_secret: None,
                        totp_pending_secret: None,
                        totp_last_step: 0,
                        created_at: at,
                        updated_at: at,
                    };
                    users::insert(&mut tx, &user).await?;
                    (user, true)
                }
            },
        };
        let token = auth::start_session(app, &mut tx, &user.id).await?;
        tx.commit().await?;
        auth::bind_connection(&ctx.caller, &token);
        let mut out = User::from_row(&user, Some(token));
        out.created_now = created;
        Ok(out)
    }

    fn outcome(out: &User) -> (StatusCode, &'static str) {
        let message = if out.created_now {
            "User registered successfully."
        } else {
            Self::MESSAGE
        };
        (Self::STATUS, message)
    }
}
