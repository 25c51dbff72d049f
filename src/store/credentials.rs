//! Sessions (user tokens) and API keys: looked up by the MAC of the presented token, one
//! indexed query each.

use sqlx::{AnyConnection, FromRow};

use super::users::UserRow;
use crate::{error::Result, model::User};

const USER_COLUMNS: &str = "u.id, u.first_name, u.last_name, u.email, u.password_hash, u.credits, \
    u.is_2fa_enabled, u.is_dark_mode, u.is_active, u.google_user_id, u.totp_secret, \
    u.totp_pending_secret, u.totp_last_step, u.second_factor_failures, \
    u.second_factor_locked_until, u.created_at, u.updated_at";

pub async fn create_session(
    conn: &mut AnyConnection,
    id: &str,
    user_id: &str,
    token_mac: &str,
    expires_at: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (id, user_id, token_mac, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(id.to_string())
    .bind(user_id.to_string())
    .bind(token_mac.to_string())
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The session id and user of a live session token.
pub async fn session_user(
    conn: &mut AnyConnection,
    token_mac: &str,
    now: i64,
) -> Result<Option<(String, User)>> {
    #[derive(FromRow)]
    struct Row {
        session_id: String,
        #[sqlx(flatten)]
        user: UserRow,
    }
    let sql = format!(
        "SELECT s.id AS session_id, {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_mac = $1 AND s.expires_at > $2"
    );
    let row = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
        .bind(token_mac.to_string())
        .bind(now)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| (r.session_id, r.user.into())))
}

pub async fn delete_session(conn: &mut AnyConnection, session_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(session_id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes every session of the user except `keep` (the caller's own, when it has one).
pub async fn delete_other_sessions(
    conn: &mut AnyConnection,
    user_id: &str,
    keep: Option<&str>,
) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id <> $2")
        .bind(user_id.to_string())
        .bind(keep.unwrap_or("").to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// An API key row; the token itself is derived from `id` and `salt` with the server secret.
#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyRow {
    pub id: String,
    pub user_id: String,
    pub salt: String,
    pub token_mac: String,
    pub created_at: i64,
    pub updated_at: i64,
}

pub async fn api_key_of(conn: &mut AnyConnection, user_id: &str) -> Result<Option<ApiKeyRow>> {
    Ok(sqlx::query_as::<_, ApiKeyRow>(
        "SELECT id, user_id, salt, token_mac, created_at, updated_at FROM api_keys WHERE user_id = $1",
    )
    .bind(user_id.to_string())
    .fetch_optional(conn)
    .await?)
}

/// Stores the user's API key. `replace`: the new key takes the old one's place in the same
/// statement (the old token stops working at once); otherwise a key that already exists wins
/// (two concurrent first Views make one key).
pub async fn put_api_key(conn: &mut AnyConnection, key: &ApiKeyRow, replace: bool) -> Result<()> {
    let sql = if replace {
        "INSERT INTO api_keys (id, user_id, salt, token_mac, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO UPDATE SET id = excluded.id, \
         salt = excluded.salt, token_mac = excluded.token_mac, created_at = excluded.created_at, \
         updated_at = excluded.updated_at"
    } else {
        "INSERT INTO api_keys (id, user_id, salt, token_mac, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id) DO NOTHING"
    };
    sqlx::query(sql)
        .bind(key.id.clone())
        .bind(key.user_id.clone())
        .bind(key.salt.clone())
        .bind(key.token_mac.clone())
        .bind(key.created_at)
        .bind(key.updated_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// The user an API key token belongs to.
pub async fn api_key_user(conn: &mut AnyConnection, token_mac: &str) -> Result<Option<User>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.token_mac = $1"
    );
    let row = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(token_mac.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(User::from))
}
