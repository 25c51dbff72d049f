//! The `users` table. Rows become [`User`] values here; nothing above the store sees a row.

use sqlx::{AnyConnection, FromRow};

use super::{changed, unique_or};
use crate::{
    error::{Error, Result},
    model::{Credits, Email, User, UserId},
};

/// A user row. Flags are 0/1 (the Any driver has no portable boolean).
#[derive(Debug, Clone, FromRow)]
pub(super) struct UserRow {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: String,
    pub password_hash: String,
    pub credits: i64,
    pub is_2fa_enabled: i64,
    pub is_dark_mode: i64,
    pub is_active: i64,
    pub google_user_id: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_pending_secret: Option<String>,
    pub totp_last_step: i64,
    pub second_factor_failures: i64,
    pub second_factor_locked_until: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: UserId::new(row.id),
            first_name: row.first_name,
            last_name: row.last_name,
            email: Email::trusted(row.email),
            password_hash: row.password_hash,
            credits: Credits::from_hundredths(row.credits),
            two_factor: row.is_2fa_enabled == 1,
            dark_mode: row.is_dark_mode == 1,
            active: row.is_active == 1,
            google_user_id: row.google_user_id,
            totp_secret: row.totp_secret,
            totp_pending_secret: row.totp_pending_secret,
            totp_last_step: row.totp_last_step,
            second_factor_failures: row.second_factor_failures,
            second_factor_locked_until: row.second_factor_locked_until,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

const COLUMNS: &str = "id, first_name, last_name, email, password_hash, credits, is_2fa_enabled, \
    is_dark_mode, is_active, google_user_id, totp_secret, totp_pending_secret, totp_last_step, \
    second_factor_failures, second_factor_locked_until, created_at, updated_at";

async fn one_by(conn: &mut AnyConnection, column: &str, value: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE {column} = $1");
    let row = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(value.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(User::from))
}

pub async fn by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<User>> {
    one_by(conn, "id", id).await
}

/// Case-insensitive.
pub async fn by_email(conn: &mut AnyConnection, email: &str) -> Result<Option<User>> {
    one_by(conn, "email_lower", &email.to_lowercase()).await
}

pub async fn by_google_id(conn: &mut AnyConnection, sub: &str) -> Result<Option<User>> {
    one_by(conn, "google_user_id", sub).await
}

/// Inserts a new user; an existing email is "User with the given identifier already exists."
pub async fn insert(conn: &mut AnyConnection, user: &User) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, first_name, last_name, email, email_lower, password_hash, credits, \
         is_2fa_enabled, is_dark_mode, is_active, google_user_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(user.id.to_string())
    .bind(user.first_name.clone())
    .bind(user.last_name.clone())
    .bind(user.email.to_string())
    .bind(user.email.as_str().to_lowercase())
    .bind(user.password_hash.clone())
    .bind(user.credits.hundredths())
    .bind(i64::from(user.two_factor))
    .bind(i64::from(user.dark_mode))
    .bind(i64::from(user.active))
    .bind(user.google_user_id.clone())
    .bind(user.created_at)
    .bind(user.updated_at)
    .execute(conn)
    .await
    .map_err(|e| unique_or(e, Error::AlreadyExists("User")))?;
    Ok(())
}

/// Writes the user-editable profile fields.
pub async fn update_profile(conn: &mut AnyConnection, user: &User, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE users SET first_name = $2, last_name = $3, is_dark_mode = $4, updated_at = $5 \
         WHERE id = $1",
    )
    .bind(user.id.to_string())
    .bind(user.first_name.clone())
    .bind(user.last_name.clone())
    .bind(i64::from(user.dark_mode))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn activate(conn: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE users SET is_active = 1, updated_at = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_password(conn: &mut AnyConnection, id: &str, hash: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(hash.to_string())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Links a Google account to an existing user and marks it active.
pub async fn link_google(conn: &mut AnyConnection, id: &str, sub: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE users SET google_user_id = $2, is_active = 1, updated_at = $3 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(sub.to_string())
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| unique_or(e, Error::AlreadyExists("User")))?;
    Ok(())
}

/// Turns emailed-code 2FA on.
pub async fn enable_2fa(conn: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE users SET is_2fa_enabled = 1, updated_at = $2 WHERE id = $1")
        .bind(id.to_string())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Turns every second factor off: the flag, the authenticator secret (pending or not).
pub async fn disable_2fa(conn: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE users SET is_2fa_enabled = 0, totp_secret = NULL, totp_pending_secret = NULL, \
         updated_at = $2 WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a new, unconfirmed authenticator secret (sealed).
pub async fn set_totp_pending(
    conn: &mut AnyConnection,
    id: &str,
    sealed: &str,
    now: i64,
) -> Result<()> {
    sqlx::query("UPDATE users SET totp_pending_secret = $2, updated_at = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(sealed.to_string())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Makes the pending secret the active one, records the step used to confirm it, and turns
/// 2FA on. False when the pending secret changed meanwhile.
pub async fn confirm_totp(
    conn: &mut AnyConnection,
    id: &str,
    pending: &str,
    step: i64,
    now: i64,
) -> Result<bool> {
    let query = sqlx::query(
        "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL, \
         totp_last_step = $3, is_2fa_enabled = 1, updated_at = $4 \
         WHERE id = $1 AND totp_pending_secret = $2",
    )
    .bind(id.to_string())
    .bind(pending.to_string())
    .bind(step)
    .bind(now);
    Ok(changed(conn, query).await?)
}

/// Accepts a TOTP step at most once: true only if `step` is newer than the last one used.
pub async fn accept_totp_step(conn: &mut AnyConnection, id: &str, step: i64) -> Result<bool> {
    let query =
        sqlx::query("UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2")
            .bind(id.to_string())
            .bind(step);
    Ok(changed(conn, query).await?)
}

/// A page of users, oldest first.
pub async fn page(conn: &mut AnyConnection, limit: i64, offset: i64) -> Result<Vec<User>> {
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY created_at, id LIMIT $1 OFFSET $2");
    let rows = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(limit)
        .bind(offset)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(User::from).collect())
}

/// Deletes a user and, by cascade, everything that is theirs. False when there was none.
pub async fn delete(conn: &mut AnyConnection, id: &str) -> Result<bool> {
    let query = sqlx::query("DELETE FROM users WHERE id = $1").bind(id.to_string());
    Ok(changed(conn, query).await?)
}

/// The user's Stripe customer id, if one was made.
pub async fn stripe_customer(conn: &mut AnyConnection, id: &str) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT stripe_customer_id FROM users WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(conn)
            .await?;
    Ok(row.and_then(|(c,)| c))
}

/// Records the user's Stripe customer unless one is recorded already; returns the one that
/// is recorded afterwards (so two racing first calls agree on one).
pub async fn claim_stripe_customer(
    conn: &mut AnyConnection,
    id: &str,
    customer: &str,
) -> Result<Option<String>> {
    sqlx::query(
        "UPDATE users SET stripe_customer_id = $2 WHERE id = $1 AND stripe_customer_id IS NULL",
    )
    .bind(id.to_string())
    .bind(customer.to_string())
    .execute(&mut *conn)
    .await?;
    stripe_customer(conn, id).await
}

/// Counts a failed second factor at login. When it is the `max`-th in a row, 2FA logins lock
/// until `locked_until` and the count starts over; true when this call locked them.
pub async fn second_factor_failed(
    conn: &mut AnyConnection,
    id: &str,
    max: i64,
    locked_until: i64,
) -> Result<bool> {
    sqlx::query(
        "UPDATE users SET second_factor_failures = second_factor_failures + 1 WHERE id = $1",
    )
    .bind(id.to_string())
    .execute(&mut *conn)
    .await?;
    let lock = sqlx::query(
        "UPDATE users SET second_factor_failures = 0, second_factor_locked_until = $2 \
         WHERE id = $1 AND second_factor_failures >= $3",
    )
    .bind(id.to_string())
    .bind(locked_until)
    .bind(max);
    Ok(changed(conn, lock).await?)
}

/// A right second factor: the count of failures starts over.
pub async fn second_factor_passed(conn: &mut AnyConnection, id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE users SET second_factor_failures = 0 WHERE id = $1 AND second_factor_failures <> 0",
    )
    .bind(id.to_string())
    .execute(conn)
    .await?;
    Ok(())
}
