//! The durable mail outbox: a mail is a row first, delivered by the mail worker later.

use sqlx::{AnyConnection, FromRow};

use crate::error::Result;

#[derive(Debug, Clone, FromRow)]
pub struct MailRow {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub attempts: i64,
}

pub async fn enqueue(conn: &mut AnyConnection, mail: &MailRow, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO outbox (id, recipient, subject, text_body, html_body, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
    )
    .bind(mail.id.clone())
    .bind(mail.recipient.clone())
    .bind(mail.subject.clone())
    .bind(mail.text_body.clone())
    .bind(mail.html_body.clone())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Unsent mail whose next attempt is due, oldest first.
pub async fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<MailRow>> {
    Ok(sqlx::query_as::<_, MailRow>(
        "SELECT id, recipient, subject, text_body, html_body, attempts FROM outbox \
         WHERE sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $1 \
         ORDER BY created_at, id LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Takes a due mail for this worker until `lease_until`, so two processes sharing the
/// database (`clara serve` and `clara stdio`) never deliver the same mail twice.
pub async fn claim(conn: &mut AnyConnection, id: &str, now: i64, lease_until: i64) -> Result<bool> {
    let query = sqlx::query(
        "UPDATE outbox SET next_attempt_at = $3 \
         WHERE id = $1 AND sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $2",
    )
    .bind(id.to_string())
    .bind(now)
    .bind(lease_until);
    Ok(super::changed(conn, query).await?)
}

/// Marks a mail delivered and drops its bodies, which may hold a one-time code.
pub async fn mark_sent(conn: &mut AnyConnection, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE outbox SET sent_at = $2, text_body = '', html_body = '', last_error = NULL WHERE id = $1")
        .bind(id.to_string())
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a failed attempt and when to try again.
pub async fn mark_failed(
    conn: &mut AnyConnection,
    id: &str,
    error: &str,
    next_attempt_at: i64,
) -> Result<()> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3 WHERE id = $1")
        .bind(id.to_string())
        .bind(error.chars().take(500).collect::<String>())
        .bind(next_attempt_at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets a mail aside for good: it is never retried; the reason stays for the operator, the
/// bodies (which may hold a code) are dropped.
pub async fn mark_dead(conn: &mut AnyConnection, id: &str, error: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2, dead_at = $3, \
         text_body = '', html_body = '' WHERE id = $1",
    )
    .bind(id.to_string())
    .bind(error.chars().take(500).collect::<String>())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The earliest pending attempt, to know how long the worker may sleep.
pub async fn next_due(conn: &mut AnyConnection) -> Result<Option<i64>> {
    let row: (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL",
    )
    .fetch_one(conn)
    .await?;
    Ok(row.0)
}
