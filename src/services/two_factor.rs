//! 2FA: the documented emailed `TWO_FACTOR_AUTH` code (Enable, Disable), and an authenticator
//! app (TOTP enrollment and confirmation, with recovery codes). Login accepts any enrolled factor
//! through [`verify_any`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    auth::{Actor, require_active},
    otp::{self, OtpType},
    totp,
};
use crate::{
    app::App,
    error::{Error, Result},
    mail::templates,
    model::User,
    store::{codes, outbox, users},
};

/// True for a right second factor: the authenticator app's current code (once per step), a
/// recovery code (once), or the emailed `TWO_FACTOR_AUTH` code (once).
pub async fn verify_any(app: &App, user: &User, code: &str) -> Result<bool> {
    let code = code.trim();
    if user.totp_secret.is_some() && totp::check(app, user, code).await? {
        return Ok(true);
    }
    if code.len() > 6 && totp::use_recovery_code(app, user, code).await? {
        return Ok(true);
    }
    otp::consume(app, user.id.as_str(), OtpType::TwoFactorAuth, code).await
}

/// The emailed code that turns two-factor login on.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnableTwoFactor {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The 6-digit `TWO_FACTOR_AUTH` code mailed by auth_send_otp.
    #[schemars(pattern(r"^[0-9]{6}$"))]
    pub code: String,
}

/// A current second factor, to turn two-factor login off.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DisableTwoFactor {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
    /// A current second factor: the emailed `TWO_FACTOR_AUTH` code, an authenticator-app code,
    /// or a recovery code.
    pub code: String,
}

/// Queues the "2FA enabled/disabled" notice in the transaction that made the change, so the
/// change and its notice commit together.
async fn notify(app: &App, tx: &mut sqlx::AnyConnection, user: &User, enabled: bool) -> Result<()> {
    let mail = templates::two_factor(user.email.as_str(), user.first_name.as_deref(), enabled);
    outbox::enqueue(tx, &mail.row(), app.now()).await
}

/// An active account, addressed by `user_id` (the caller's own when omitted).
async fn active_target(app: &App, actor: &Actor, user_id: Option<&str>) -> Result<User> {
    let user = actor.target_user(app, user_id).await?;
    require_active(&user)?;
    Ok(user)
}

pub async fn enable(app: &App, actor: &Actor, input: EnableTwoFactor) -> Result<()> {
    let user = active_target(app, actor, input.user_id.as_deref()).await?;
    let code = input.code.trim();
    if !otp::consume(app, user.id.as_str(), OtpType::TwoFactorAuth, code).await? {
        return Err(Error::Unauthorized { two_factor: true });
    }
    let mut tx = app.store().begin().await?;
    users::enable_2fa(&mut tx, user.id.as_str(), app.now()).await?;
    notify(app, &mut tx, &user, true).await?;
    tx.commit().await?;
    app.mailer().wake();
    Ok(())
}

pub async fn disable(app: &App, actor: &Actor, input: DisableTwoFactor) -> Result<()> {
    let user = active_target(app, actor, input.user_id.as_deref()).await?;
    if !verify_any(app, &user, &input.code).await? {
        return Err(Error::Unauthorized { two_factor: true });
    }
    let mut tx = app.store().begin().await?;
    users::disable_2fa(&mut tx, user.id.as_str(), app.now()).await?;
    codes::delete_recovery_codes(&mut tx, user.id.as_str()).await?;
    notify(app, &mut tx, &user, false).await?;
    tx.commit().await?;
    app.mailer().wake();
    Ok(())
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
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpEnroll {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
}

pub async fn totp_enroll(app: &App, actor: &Actor, input: TotpEnroll) -> Result<TotpEnrollment> {
    let user = active_target(app, actor, input.user_id.as_deref()).await?;
    let enrollment = totp::enroll(app, &user).await?;
    Ok(TotpEnrollment {
        otpauth_uri: enrollment.otpauth_uri,
        secret: enrollment.secret_base32,
        qr_png_base64: enrollment.qr_png_base64,
    })
}

/// Single-use recovery codes, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RecoveryCodes {
    /// Ten codes, each usable once in place of a 2FA code. Store them safely: they are not
    /// shown again.
    pub recovery_codes: Vec<String>,
}

/// A current authenticator-app code.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirm {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The 6-digit code the authenticator app shows now.
    pub code: String,
}

pub async fn totp_confirm(app: &App, actor: &Actor, input: TotpConfirm) -> Result<RecoveryCodes> {
    let user = active_target(app, actor, input.user_id.as_deref()).await?;
    let mut tx = app.store().begin().await?;
    let recovery_codes = totp::confirm(app, &mut tx, &user, &input.code).await?;
    notify(app, &mut tx, &user, true).await?;
    tx.commit().await?;
    app.mailer().wake();
    Ok(RecoveryCodes { recovery_codes })
}
