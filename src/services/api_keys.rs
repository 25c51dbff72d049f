//! API keys: View (made on first view) and Reset. The usable token is derived from the key
//! row's id and salt with the server secret, so View can show it without storing it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    auth::{self, Actor},
    users::UserRef,
};
use crate::{
    app::App,
    crypto::{self, http_date},
    error::{Error, Result},
    store::credentials::{self, ApiKeyRow},
};

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
    let at = app.now();
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

pub async fn view(app: &App, actor: &Actor, input: UserRef) -> Result<ApiKey> {
    let user = actor.target_user(app, input.user_id.as_deref()).await?;
    let user_id = user.id.as_str();
    let mut conn = app.store().conn().await?;
    if credentials::api_key_of(&mut conn, user_id).await?.is_none() {
        credentials::put_api_key(&mut conn, &new_key(app, user_id).0, false).await?;
    }
    let row = credentials::api_key_of(&mut conn, user_id)
        .await?
        .ok_or(Error::NotFound("API key"))?;
    let token = key_token(app, &row);
    Ok(api_key_out(&row, token))
}

pub async fn reset(app: &App, actor: &Actor, input: UserRef) -> Result<ApiKey> {
    let user = actor.target_user(app, input.user_id.as_deref()).await?;
    let (row, token) = new_key(app, user.id.as_str());
    let mut conn = app.store().conn().await?;
    credentials::put_api_key(&mut conn, &row, true).await?;
    Ok(api_key_out(&row, token))
}
