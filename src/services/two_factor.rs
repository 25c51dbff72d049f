//! 2FA: the documented emailed `TWO_FACTOR_AUTH` code (Enable, Disable), and an authenticator
//! app (TOTP enrollment and confirmation, with recovery codes). Login accepts any enrolled factor.

use http::{Method, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    accounts::Done,
    auth::{Ctx, require_active},
    otp::{self, OtpType},
    totp,
};
use crate::{
    app::App,
    catalog::{Accepts, Body, Hints, Operation},
    crypto::now,
    error::{Error, Result},
    mail::templates,
    store::{codes, outbox, users, users::UserRow},
};

/// True for a right second factor: the authenticator app's current code (once per step), a
/// recovery code (once), or the emailed `TWO_FACTOR_AUTH` code (once).
pub async fn verify_any(app: &App, user: &UserRow, code: &str) -> Result<bool> {
    let code = code.trim();
    if user.totp_secret.is_some() && totp::check(app, user, code).await? {
        return Ok(true);
    }
    if code.len() > 6 && totp::use_recovery_code(app, user, code).await? {
        return Ok(true);
    }
    otp::consume(app, &user.id, OtpType::TwoFactorAuth, code).await
}

/// A second-factor code for the user.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TwoFactorCode {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
    /// Enable: the emailed `TWO_FACTOR_AUTH` code. Disable: that code, an authenticator-app
    /// code or a recovery code.
    pub code: String,
}

/// Queues the "2FA enabled/disabled" notice in the transaction that made the change, so the
/// change and its notice commit together.
async fn notify(tx: &mut sqlx::AnyConnection, user: &UserRow, enabled: bool) -> Result<()> {
    let mail = templates::two_factor(&user.email, user.first_name.as_deref(), enabled);
    outbox::enqueue(tx, &mail.row(), now()).await
}

pub struct AuthEnable2fa;
impl Operation for AuthEnable2fa {
    const NAME: &'static str = "auth_enable_2fa";
    const TITLE: &'static str = "Enable 2FA";
    const DESCRIPTION: &'static str =
        "Turn on two-factor login with an emailed TWO_FACTOR_AUTH code (auth_send_otp).";
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/users/{user_id}/2fa";
    const ACCEPTS: Accepts = Accepts::USER_TOKEN.or(Accepts::PRIVATE_KEY);
    const HINTS: Hints = Hints {
        idempotent: true,
        ..Hints::WRITE
    };
    const BODY: Body = Body::Json;
    const STATUS: StatusCode = StatusCode::OK;
    const MESSAGE: &'static str = "User 2FA enabled successfully.";
    const REST_DATA_NULL: bool = true;
    type In = TwoFactorCode;
    type Out = Done;

    async fn call(app: &App, ctx: &Ctx, input: TwoFactorCode) -> Result<Done> {
        let user = ctx.target_user(app, input.user_id.as_deref()).await?;
        require_active(&user)?;
        if !otp::consume(app, &user.id, OtpType::TwoFactorAuth, input.code.trim()).await? {
            return Err(Error::Unauthorized { two_factor: true });
        }
        let mut tx = app.store().begin().await?;
        users::enable_2fa(&mut tx, &user.id, now()).await?;
        notify(&mut tx, &user, true).await?;
        tx.commit().await?;
        app.mailer().wake();
        Ok(Done::new(Self::MESSAGE))
    }
}

pub struct AuthDisable2fa;
impl Operation for AuthDisable2fa {
    const NAME: &'static str = "auth_disable_2fa";
    const TITLE: &'static str = "Disable 2FA";
    const DESCRIPTION: &'static str = "Turn two-factor login off (emailed code and authenticator app) with a current second \
        factor.";
    const METHOD: Method = Method::DELETE;
    const PATH: &'static str = "/users/{user_id}/2fa";
    const ACCEPTS: Accepts = Accepts::USER_TOKEN.or(Accepts::PRIVATE_KEY);
    const HINTS: Hints = Hints {
        destructive: true,
        idempotent: true,
        ..Hints::WRITE
    };
    const BODY: Body = Body::Json;
    const STATUS: StatusCode = StatusCode::NO_CONTENT;
    const MESSAGE: &'static str = "User 2FA disabled successfully.";
    type In = TwoFactorCode;
    type Out = Done;

    async fn call(app: &App, ctx: &Ctx, input: TwoFactorCode) -> Result<Done> {
        let user = ctx.target_user(app, input.user_id.as_deref()).await?;
        require_active(&user)?;
        if !verify_any(app, &user, &input.code).await? {
            return Err(Error::Unauthorized { two_factor: true });
        }
        let mut tx = app.store().begin().await?;
        users::disable_2fa(&mut tx, &user.id, now()).await?;
        codes::delete_recovery_codes(&mut tx, &user.id).await?;
        notify(&mut tx, &user, false).await?;
        tx.commit().await?;
        app.mailer().wake();
        Ok(Done::new(Self::MESSAGE))
    }
}

/// What an authenticator app needs to add the account.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct TotpEnrollment {
    /// `otpauth://totp/Clara:<email>?secret=…&issuer=Clara`, for apps that take a link.
    pub otpauth_uri: String,
    /// The shared secret, base32, for typing in by hand.
    pub secret: String,
    /// The same link as a QR code: a PNG image, base64.
    pub qr_png_base64: String,
}

/// The user to enroll.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpEnroll {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
}

pub struct AuthTotpEnroll;
impl Operation for AuthTotpEnroll {
    const NAME: &'static str = "auth_totp_enroll";
    const TITLE: &'static str = "Enroll authenticator app";
    const DESCRIPTION: &'static str = "Start authenticator-app 2FA: returns the otpauth link, secret and QR code. Confirm \
        with auth_totp_confirm and a current code.";
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/users/{user_id}/2fa/totp";
    const ACCEPTS: Accepts = Accepts::USER_TOKEN;
    const HINTS: Hints = Hints::WRITE;
    const BODY: Body = Body::None;
    const STATUS: StatusCode = StatusCode::CREATED;
    const MESSAGE: &'static str = "Authenticator enrollment started.";
    type In = TotpEnroll;
    type Out = TotpEnrollment;

    async fn call(app: &App, ctx: &Ctx, input: TotpEnroll) -> Result<TotpEnrollment> {
        let user = ctx.target_user(app, input.user_id.as_deref()).await?;
        require_active(&user)?;
        let enrollment = totp::enroll(app, &user).await?;
        Ok(TotpEnrollment {
            otpauth_uri: enrollment.otpauth_uri,
            secret: enrollment.secret_base32,
            qr_png_base64: enrollment.qr_png_base64,
        })
    }
}

/// Single-use recovery codes, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RecoveryCodes {
    /// Ten codes, each usable once in place of a 2FA code. Store them safely: they are not
    /// shown again.
    pub recovery_codes: Vec<String>,
}

/// A current authenticator-app code.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirm {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The 6-digit code the authenticator app shows now.
    pub code: String,
}

pub struct AuthTotpConfirm;
impl Operation for AuthTotpConfirm {
    const NAME: &'static str = "auth_totp_confirm";
    const TITLE: &'static str = "Confirm authenticator app";
    const DESCRIPTION: &'static str = "Finish authenticator-app enrollment with a current code: turns 2FA on and returns \
        ten single-use recovery codes.";
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/users/{user_id}/2fa/totp/confirm";
    const ACCEPTS: Accepts = Accepts::USER_TOKEN;
    const HINTS: Hints = Hints::WRITE;
    const BODY: Body = Body::Json;
    const STATUS: StatusCode = StatusCode::OK;
    const MESSAGE: &'static str = "Authenticator app enabled successfully.";
    type In = TotpConfirm;
    type Out = RecoveryCodes;

    async fn call(app: &App, ctx: &Ctx, input: TotpConfirm) -> Result<RecoveryCodes> {
        let user = ctx.target_user(app, input.user_id.as_deref()).await?;
        require_active(&user)?;
        let mut tx = app.store().begin().await?;
        let recovery_codes = totp::confirm(app, &mut tx, &user, &input.code).await?;
        notify(&mut tx, &user, true).await?;
        tx.commit().await?;
        app.mailer().wake();
        Ok(RecoveryCodes { recovery_codes })
    }
}
