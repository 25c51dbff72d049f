//! Users: View and Update, and the public user object every account operation returns.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::auth::Actor;
use crate::{
    app::App,
    crypto::http_date,
    error::{Error, Result},
    model::{Credits, User},
    store::users,
};

/// A Clara user, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PublicUser {
    /// When the account was created, e.g. `Thu, 27 Nov 2025 00:10:11 GMT`.
    pub created_at: String,
    /// Credit balance, with two decimals.
    pub credits: Credits,
    /// Email address, as registered.
    pub email: String,
    /// First name (title-cased). For a Google sign-up, the full Google name.
    pub first_name: Option<String>,
    /// `user_<32 hex>`.
    pub id: String,
    /// Whether login needs a second factor.
    pub is_2fa_enabled: bool,
    /// Whether the account is activated.
    pub is_active: bool,
    /// UI preference.
    pub is_dark_mode: bool,
    /// Last name (title-cased); null after a Google sign-up until set.
    pub last_name: Option<String>,
    /// A user token (`clara_user_…`), only in Register, Login and Google sign-in answers.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token: Option<String>,
    /// When the account last changed.
    pub updated_at: String,
    /// Google sign-in only: whether this call created the account (not sent).
    #[serde(skip)]
    #[schemars(skip)]
    pub created_now: bool,
}

impl PublicUser {
    pub fn new(user: &User, token: Option<String>) -> Self {
        Self {
            created_at: http_date(user.created_at),
            credits: user.credits,
            email: user.email.to_string(),
            first_name: user.first_name.clone(),
            id: user.id.to_string(),
            is_2fa_enabled: user.two_factor,
            is_active: user.active,
            is_dark_mode: user.dark_mode,
            last_name: user.last_name.clone(),
            token,
            updated_at: http_date(user.updated_at),
            created_now: false,
        }
    }
}

/// Title-cases each word the way the original does (Python's `str.title`).
pub fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut after_letter = false;
    for c in name.trim().chars() {
        if after_letter {
            out.extend(c.to_lowercase());
        } else {
            out.extend(c.to_uppercase());
        }
        after_letter = c.is_alphabetic();
    }
    out
}

/// A required name: non-empty, at most 100 characters, title-cased.
pub fn clean_name(field: &str, name: &str) -> Result<String> {
    let name = title_case(name);
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::invalid(format!(
            "{field} must be 1 to 100 characters"
        )));
    }
    Ok(name)
}

/// Addresses the operation acts on: the caller's own user when omitted.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRef {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
}

pub async fn view(app: &App, actor: &Actor, input: UserRef) -> Result<PublicUser> {
    let user = actor.target_user(app, input.user_id.as_deref()).await?;
    Ok(PublicUser::new(&user, None))
}

/// Fields a user may change. Any other key (`email`, `credits`, `is_active`…) is refused.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    {"required": ["first_name"]}, {"required": ["last_name"]}, {"required": ["is_dark_mode"]}
]))]
pub struct UpdateUser {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
    /// New first name (title-cased), 1 to 100 characters.
    #[schemars(
        length(min = 1, max = 100),
        pattern(r"^[^\u0000-\u001f\u007f-\u009f]*\S[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    #[serde(default)]
    pub first_name: Option<String>,
    /// New last name (title-cased), 1 to 100 characters.
    #[schemars(
        length(min = 1, max = 100),
        pattern(r"^[^\u0000-\u001f\u007f-\u009f]*\S[^\u0000-\u001f\u007f-\u009f]*$")
    )]
    #[serde(default)]
    pub last_name: Option<String>,
    /// UI preference.
    #[serde(default)]
    pub is_dark_mode: Option<bool>,
}

pub async fn update(app: &App, actor: &Actor, input: UpdateUser) -> Result<PublicUser> {
    let mut user = actor.target_user(app, input.user_id.as_deref()).await?;
    if input.first_name.is_none() && input.last_name.is_none() && input.is_dark_mode.is_none() {
        return Err(Error::EmptyBody);
    }
    if let Some(name) = &input.first_name {
        user.first_name = Some(clean_name("first_name", name)?);
    }
    if let Some(name) = &input.last_name {
        user.last_name = Some(clean_name("last_name", name)?);
    }
    if let Some(dark) = input.is_dark_mode {
        user.dark_mode = dark;
    }
    let at = app.now();
    let mut conn = app.store().conn().await?;
    users::update_profile(&mut conn, &user, at).await?;
    user.updated_at = at;
    Ok(PublicUser::new(&user, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_title_cased_like_the_original() {
        assert_eq!(title_case("vibhanshu rathod"), "Vibhanshu Rathod");
        assert_eq!(title_case("  mARY-jane o'neil "), "Mary-Jane O'Neil");
        assert!(clean_name("first_name", "   ").is_err());
    }
}
