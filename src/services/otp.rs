//! Emailed one-time codes: 6 CSPRNG digits, valid 10 minutes, one live code per (user, type),
//! a new one replaces the old (at most one a minute), 5 wrong attempts kill it, stored as a
//! MAC, used with one atomic DELETE. Send OTP mails one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use super::auth::Actor;
use crate::{
    app::App,
    crypto,
    error::{Error, Result},
    mail::templates,
    store::{codes, outbox},
};

pub const TTL_SECS: i64 = 10 * 60;
pub const COOLDOWN_SECS: i64 = 60;

/// What an emailed code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OtpType {
    /// Activates a new account.
    Activation,
    /// A second factor: login with 2FA on, enabling or disabling 2FA.
    TwoFactorAuth,
    /// Authorises Change Password.
    ChangePassword,
}

impl OtpType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activation => "ACTIVATION",
            Self::TwoFactorAuth => "TWO_FACTOR_AUTH",
            Self::ChangePassword => "CHANGE_PASSWORD",
        }
    }
}

fn code_mac(app: &App, user_id: &str, otp_type: OtpType, code: &str) -> String {
    crypto::mac(
        &app.config().secret_key,
        "otp",
        &format!("{user_id}:{}:{code}", otp_type.as_str()),
    )
}

/// Issues a new code for (user, type) inside the caller's transaction and returns it (for
/// the mail queued in the same transaction). 429 inside the one-minute cooldown.
pub async fn issue(
    app: &App,
    conn: &mut AnyConnection,
    user_id: &str,
    otp_type: OtpType,
) -> Result<String> {
    let code = crypto::random_digits(6);
    let at = app.now();
    let written = codes::put_otp(
        conn,
        &crypto::new_id("otp"),
        user_id,
        otp_type.as_str(),
        &code_mac(app, user_id, otp_type, &code),
        at + TTL_SECS,
        at,
        at - COOLDOWN_SECS,
    )
    .await?;
    if written {
        Ok(code)
    } else {
        let issued = codes::otp_issued_at(conn, user_id, otp_type.as_str())
            .await?
            .unwrap_or(at);
        Err(Error::RateLimited {
            retry_after_secs: (issued + COOLDOWN_SECS - at).max(1) as u64,
        })
    }
}

/// Uses the code: true once for a right, live code; a wrong one counts against the code.
pub async fn consume(app: &App, user_id: &str, otp_type: OtpType, code: &str) -> Result<bool> {
    let mut conn = app.store().conn().await?;
    let well_formed = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    if well_formed {
        let mac = code_mac(app, user_id, otp_type, code);
        if codes::consume_otp(&mut conn, user_id, otp_type.as_str(), &mac, app.now()).await? {
            return Ok(true);
        }
    }
    codes::fail_otp(&mut conn, user_id, otp_type.as_str()).await?;
    Ok(false)
}

/// Which code to mail, to whom.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendOtp {
    /// The account's email.
    #[schemars(email, length(max = 254))]
    pub user_email: String,
    /// `ACTIVATION`, `TWO_FACTOR_AUTH` or `CHANGE_PASSWORD`.
    pub otp_type: OtpType,
}

/// Issues a code and queues its mail in one transaction (429 inside the cooldown).
pub async fn send(app: &App, actor: &Actor, input: SendOtp) -> Result<()> {
    let user = actor.target_email(app, &input.user_email).await?;
    let mut tx = app.store().begin().await?;
    let code = issue(app, &mut tx, user.id.as_str(), input.otp_type).await?;
    let mail = templates::otp(
        user.email.as_str(),
        user.first_name.as_deref(),
        input.otp_type.as_str(),
        &code,
    );
    outbox::enqueue(&mut tx, &mail.row(), app.now()).await?;
    tx.commit().await?;
    app.mailer().wake();
    Ok(())
}
