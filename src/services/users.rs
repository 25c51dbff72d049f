//! User: View and Update; API Key: View and Reset. Also the public user object every account
//! operation returns.

use http::{Method, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::auth::{self, Ctx};
use crate::{
    app::App,
    catalog::{Accepts, Body, Hints, Operation},
    crypto::{self, http_date, now},
    error::{Error, Result},
    store::{
        credentials::{self, ApiKeyRow},
        users::{self, UserRow},
    },
};

/// A Clara user, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct User {
    /// When the account was created, e.g. `Thu, 27 Nov 2025 00:10:11 GMT`.
    pub created_at: String,
    /// Credit balance, with two decimals.
    pub credits: f64,
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

impl User {
    pub fn from_row(row: &UserRow, token: Option<String>) -> Self {
        Self {
            created_at: http_date(row.created_at),
            credits: row.credits as f64 / 100.0,
            email: row.email.clone(),
            first_name: row.first_name.clone(),
            id: row.id.clone(),
            is_2fa_enabled: row.is_2fa_enabled == 1,
            is_active: row.is_active == 1,
            is_dark_mode: row.is_dark_mode == 1,
            last_name: row.last_name.clone(),
            token,
            updated_at: http_date(row.updated_at),
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
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRef {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
}

pub struct UserView;
impl Operation for UserView {
    const NAME: &'static str = "user_view";
    const TITLE: &'static str = "View user";
    const DESCRIPTION: &'static str =
        "The caller's user object: names, email, credits, 2FA, activation.";
    const METHOD: Method = Method::GET;
    const PATH: &'static str = "/users/{user_id}";
    const ACCEPTS: Accepts = Accepts::USER_TOKEN
        .or(Accepts::API_KEY)
        .or(Accepts::PRIVATE_KEY);
    const HINTS: Hints = Hints::READ_ONLY;
    const BODY: Body = Body::None;
    const STATUS: StatusCode = StatusCode::OK;
    const MESSAGE: &'static str = "User fetched successfully.";
    type In = UserRef;
    type Out = User;

    async fn call(app: &App, ctx: &Ctx, input: UserRef) -> Result<User> {
        let user = ctx.target_user(app, input.user_id.as_deref()).await?;
        Ok(User::from_row(&user, None))
    }
}

/// Fields a user may change. Any other key (`email`, `credits`, `is_active`…) is refused.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
    /// New first name (title-cased).
    #[serde(default)]
    pub first_name: Option<String>,
    /// New last name (title-cased).
    #[serde(default)]
    pub last_name: Option<String>,
    /// UI preference.
    #[serde(default)]
    pub is_dark_mode: Option<bool>,
}

pub struct UserUpdate;
impl Operation for UserUpdate {
    const NAME: &'static str = "user_update";
    const TITLE: &'static str = "Update user";
    const DESCRIPTION: &'static str = "Change the caller's first name, last name or dark-mode preference. Other fields cannot be changed here.";
    const METHOD: Method = Method::PATCH;
    const PATH: &'static str = "/users/{user_id}";
    const ACCEPTS: Accepts = Accepts::USER_TOKEN.or(Accepts::PRIVATE_KEY);
    const HINTS: Hints = Hints {
        idempotent: true,
        ..Hints::WRITE
    };
    const BODY: Body = Body::Json;
    const STATUS: StatusCode = StatusCode::OK;
    const MESSAGE: &'static str = "User updated successfully.";
    type In = UpdateUser;
    type Out = User;

    async fn call(app: &App, ctx: &Ctx, input: UpdateUser) -> Result<User> {
        let mut user = ctx.target_user(app, input.user_id.as_deref()).await?;
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
            user.is_dark_mode = dark as i64;
        }
        let at = now();
        let mut conn = app.store().conn().await?;
        users::update_profile(&mut conn, &user, at).await?;
        user.updated_at = at;
        Ok(User::from_row(&user, None))
    }
}

/// The user's API key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApiKey {
    /// When this key was made.
    pub created_at: String,
    /// `api_key_<32 hex>`.
    pub id: String,
    /// The usable token (`clara_api_…`): send it as `Authorization: Bearer <token>`. It never
    /// expires; Reset replaces it.
    pub token: String,
    /// When this key last changed.
    pub updated_at: String,
    /// The owner.
    pub user_id: String,
}

/// The token of a key row, derived from its id and salt with the server secret (the database
/// alone cannot produce it).
fn key_token(app: &App, key: &ApiKeyRow) -> String {
    format!(
        "{}{}",
        auth::API_KEY_PREFIX,
        crypto::mac(
            &app.config().secret_key,
            "api_key",
            &format!("{}:{}", key.id, key.salt)
        )
    )
}

fn new_key(app: &App, user_id: &str) -> (ApiKeyRow, String) {
    let at = now();
    let mut row = ApiKeyRow {
        id: crypto::new_id("api_key"),
        user_id: user_id.to_string(),
        salt: crypto::random_token(""),
        token_mac: String::new(),
        created_at: at,
        updated_at: at,
    };
    let token = key_token(app, &row);
    row.token_mac = auth::token_mac(app, &token);
    (row, token)
}

fn api_key_out(row: &ApiKeyRow, token: String) -> ApiKey {
    ApiKey {
        created_at: http_date(row.created_at),
        id: row.id.clone(),
        token,
        updated_at: http_date(row.updated_at),
        user_id: row.user_id.clone(),
    }
}

pub struct ApiKeyView;
impl Operation for ApiKeyView {
    const NAME: &'static str = "api_key_view";
    const TITLE: &'static str = "View API key";
    const DESCRIPTION: &'static str =
        "The caller's API key token (made on first view). Needs a user token.";
    const METHOD: Method = Method::GET;
    const PATH: &'static str = "/users/{user_id}/api_key";
    const ACCEPTS: Accepts = Accepts::USER_TOKEN;
    const HINTS: Hints = Hints::READ_ONLY;
    const BODY: Body = Body::None;
    const STATUS: StatusCode = StatusCode::OK;
    const MESSAGE: &'static str = "API key fetched successfully.";
    type In = UserRef;
    type Out = ApiKey;

    async fn call(app: &App, ctx: &Ctx, input: UserRef) -> Result<ApiKey> {
        let user = ctx.target_user(app, input.user_id.as_deref()).await?;
        let mut conn = app.store().conn().await?;
        if credentials::api_key_of(&mut conn, &user.id)
            .await?
            .is_none()
        {
            credentials::put_api_key(&mut conn, &new_key(app, &user.id).0, false).await?;
        }
        let row = credentials::api_key_of(&mut conn, &user.id)
            .await?
            .ok_or(Error::NotFound("API key"))?;
        let token = key_token(app, &row);
        Ok(api_key_out(&row, token))
    }
}

pub struct ApiKeyReset;
impl Operation for ApiKeyReset {
    const NAME: &'static str = "api_key_reset";
    const TITLE: &'static str = "Reset API key";
    const DESCRIPTION: &'static str =
        "Replace the caller's API key: the old token stops working at once. Needs a user token.";
    const METHOD: Method = Method::POST;
    const PATH: &'static str = "/users/{user_id}/api_key";
    const ACCEPTS: Accepts = Accepts::USER_TOKEN;
    const HINTS: Hints = Hints {
        destructive: true,
        ..Hints::WRITE
    };
    const BODY: Body = Body::None;
    const STATUS: StatusCode = StatusCode::CREATED;
    const MESSAGE: &'static str = "API key reset successfully.";
    type In = UserRef;
    type Out = ApiKey;

    async fn call(app: &App, ctx: &Ctx, input: UserRef) -> Result<ApiKey> {
        let user = ctx.target_user(app, input.user_id.as_deref()).await?;
        let (row, token) = new_key(app, &user.id);
        let mut conn = app.store().conn().await?;
        credentials::put_api_key(&mut conn, &row, true).await?;
        Ok(api_key_out(&row, token))
    }
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
