//! Emailed one-time codes (`otps`) and TOTP recovery codes. Codes are stored as MACs; using one
//! is a single conditional DELETE, so two concurrent submissions succeed at most once.

use sqlx::AnyConnection;

use super::changed;
use crate::error::Result;

/// Wrong submissions that kill a code.
pub const MAX_ATTEMPTS: i64 = 5;

/// Stores the one live code for (user, type), replacing a previous one issued at or before
/// `replace_before`. False (nothing written) while the previous code is younger: one atomic
/// statement, so two concurrent requests cannot both pass the cooldown.
#[allow(clippy::too_many_arguments)]
pub async fn put_otp(
    conn: &mut AnyConnection,
    id: &str,
    user_id: &str,
    otp_type: &str,
    code_mac: &str,
    expires_at: i64,
    now: i64,
    replace_before: i64,
) -> Result<bool> {
    let query = sqlx::query(
        "INSERT INTO otps (id, user_id, otp_type, code_mac, attempts, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 0, $5, $6, $6) \
         ON CONFLICT (user_id, otp_type) DO UPDATE SET id = excluded.id, code_mac = excluded.code_mac, \
         attempts = 0, expires_at = excluded.expires_at, created_at = excluded.created_at, \
         updated_at = excluded.updated_at WHERE otps.created_at <= $7",
    )
    .bind(id.to_string())
    .bind(user_id.to_string())
    .bind(otp_type.to_string())
    .bind(code_mac.to_string())
    .bind(expires_at)
    .bind(now)
    .bind(replace_before);
    Ok(changed(conn, query).await?)
}

/// When the live code for (user, type) was issued, if there is one.
pub async fn otp_issued_at(
    conn: &mut AnyConnection,
    user_id: &str,
    otp_type: &str,
) -> Result<Option<i64>> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT created_at FROM otps WHERE user_id = $1 AND otp_type = $2")
            .bind(user_id.to_string())
            .bind(otp_type.to_string())
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|r| r.0))
}

/// Uses the code if it matches, is unexpired and not dead: one atomic DELETE.
pub async fn consume_otp(
    conn: &mut AnyConnection,
    user_id: &str,
    otp_type: &str,
    code_mac: &str,
    now: i64,
) -> Result<bool> {
    let query = sqlx::query(
        "DELETE FROM otps WHERE user_id = $1 AND otp_type = $2 AND code_mac = $3 \
         AND expires_at > $4 AND attempts < $5",
    )
    .bind(user_id.to_string())
    .bind(otp_type.to_string())
    .bind(code_mac.to_string())
    .bind(now)
    .bind(MAX_ATTEMPTS);
    Ok(changed(conn, query).await?)
}

/// Counts a wrong submission against the live code of (user, type).
pub async fn fail_otp(conn: &mut AnyConnection, user_id: &str, otp_type: &str) -> Result<()> {
    sqlx::query("UPDATE otps SET attempts = attempts + 1 WHERE user_id = $1 AND otp_type = $2")
        .bind(user_id.to_string())
        .bind(otp_type.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Drops every pending code of the user (after a password change).
pub async fn delete_otps(conn: &mut AnyConnection, user_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM otps WHERE user_id = $1")
        .bind(user_id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces the user's recovery codes.
pub async fn put_recovery_codes(
    conn: &mut AnyConnection,
    user_id: &str,
    macs: &[String],
    now: i64,
) -> Result<()> {
    delete_recovery_codes(&mut *conn, user_id).await?;
    for code_mac in macs {
        sqlx::query(
            "INSERT INTO recovery_codes (code_mac, user_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(code_mac.clone())
        .bind(user_id.to_string())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Uses a recovery code once.
pub async fn consume_recovery_code(
    conn: &mut AnyConnection,
    user_id: &str,
    code_mac: &str,
) -> Result<bool> {
    let query = sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1 AND code_mac = $2")
        .bind(user_id.to_string())
        .bind(code_mac.to_string());
    Ok(changed(conn, query).await?)
}

pub async fn delete_recovery_codes(conn: &mut AnyConnection, user_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id.to_string())
        .execute(conn)
        .await?;
    Ok(())
}
