//! Change Password, authorised by an emailed `CHANGE_PASSWORD` code: every other session and
//! every pending code is revoked, and a notice is mailed, in one transaction.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    auth::Actor,
    otp::{self, OtpType},
};
use crate::{
    app::App,
    error::{Error, Result},
    mail::templates,
    model::check_password,
    store::{codes, credentials, outbox, users},
};

/// A new password, authorised by an emailed `CHANGE_PASSWORD` code.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The account's email.
    #[schemars(email, length(max = 254))]
    pub user_email: String,
    /// The new password, 8 to 1024 characters.
    #[schemars(length(min = 8, max = 1024))]
    pub password: String,
    /// The 6-digit `CHANGE_PASSWORD` code from auth_send_otp.
    #[schemars(pattern(r"^[0-9]{6}$"))]
    pub code: String,
}

pub async fn change(app: &App, actor: &Actor, input: ChangePassword) -> Result<()> {
    let user = actor.target_email(app, &input.user_email).await?;
    let user_id = user.id.as_str();
    check_password(&input.password)?;
    if !otp::consume(app, user_id, OtpType::ChangePassword, input.code.trim()).await? {
        return Err(Error::Unauthorized { two_factor: false });
    }
    let hash = app.hasher().hash(&input.password).await?;
    // A user changing their own password keeps the session they did it with.
    let keep = match actor {
        Actor::User { user: caller, .. } if caller.id == user.id => actor.session_id(),
        _ => None,
    };
    let at = app.now();
    let mut tx = app.store().begin().await?;
    users::set_password(&mut tx, user_id, &hash, at).await?;
    credentials::delete_other_sessions(&mut tx, user_id, keep).await?;
    codes::delete_otps(&mut tx, user_id).await?;
    let mail = templates::password_changed(user.email.as_str(), user.first_name.as_deref());
    outbox::enqueue(&mut tx, &mail.row(), at).await?;
    tx.commit().await?;
    app.mailer().wake();
    Ok(())
}
