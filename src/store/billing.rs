//! Stripe bookkeeping: which webhook events were processed.

use sqlx::AnyConnection;

use super::changed;
use crate::error::Result;

/// Records an event id; false when it was recorded before (a replay). Run it in the same
/// transaction as the event's effect, so the record and the effect commit together.
pub async fn record_event(
    conn: &mut AnyConnection,
    id: &str,
    kind: &str,
    now: i64,
) -> Result<bool> {
    let query = sqlx::query(
        "INSERT INTO stripe_events (id, type, received_at) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(kind.to_string())
    .bind(now);
    Ok(changed(conn, query).await?)
}
