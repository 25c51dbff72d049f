//! The `transactions` table (the append-only ledger) and the balance it moves. A change of a
//! balance is [`record`]: one ledger row (skipped when its idempotency key was used before)
//! and one conditional update of `users.credits`, in the caller's transaction.

use sqlx::{AnyConnection, FromRow};

use super::changed;
use crate::{
    error::Result,
    model::{Credits, EntryKind, Transaction, UserId},
};

#[derive(Debug, FromRow)]
struct Row {
    id: String,
    user_id: String,
    #[sqlx(rename = "type")]
    kind: String,
    description: String,
    credits: i64,
    fiat: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for Transaction {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            user_id: UserId::new(row.user_id),
            kind: match row.kind.as_str() {
                "DEBIT" => EntryKind::Debit,
                _ => EntryKind::Credit,
            },
            description: row.description,
            credits: Credits::from_hundredths(row.credits),
            fiat: Credits::from_hundredths(row.fiat),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

const COLUMNS: &str = "id, user_id, type, description, credits, fiat, created_at, updated_at";

/// A new ledger entry.
#[derive(Debug, Clone)]
pub struct NewEntry<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub kind: EntryKind,
    pub description: &'a str,
    pub credits: Credits,
    pub fiat: Credits,
    pub stripe_payment_intent: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub at: i64,
}

/// How [`record`] went.
#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The entry was written and the balance moved.
    Applied,
    /// An entry with this idempotency key exists: nothing was written.
    Duplicate,
    /// A debit larger than the balance (or an unknown user): nothing may be kept; roll back.
    Refused,
}

/// Writes the entry, then moves the balance by it, unless it would go negative. The INSERT
/// comes first, so the transaction's first statement is a write (SQLite takes its write lock
/// there) and a duplicate idempotency key is found before the balance is touched.
pub async fn record(conn: &mut AnyConnection, entry: &NewEntry<'_>) -> Result<Recorded> {
    let insert = sqlx::query(
        "INSERT INTO transactions (id, user_id, type, description, credits, fiat, \
         stripe_payment_intent, idempotency_key, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(entry.id.to_string())
    .bind(entry.user_id.to_string())
    .bind(entry.kind.as_str())
    .bind(entry.description.to_string())
    .bind(entry.credits.hundredths())
    .bind(entry.fiat.hundredths())
    .bind(entry.stripe_payment_intent.map(str::to_string))
    .bind(entry.idempotency_key.map(str::to_string))
    .bind(entry.at);
    if !changed(conn, insert).await? {
        return Ok(Recorded::Duplicate);
    }
    let delta = match entry.kind {
        EntryKind::Credit => entry.credits.hundredths(),
        EntryKind::Debit => -entry.credits.hundredths(),
    };
    let update = sqlx::query(
        "UPDATE users SET credits = credits + $2, updated_at = $3 \
         WHERE id = $1 AND credits + $2 >= 0",
    )
    .bind(entry.user_id.to_string())
    .bind(delta)
    .bind(entry.at);
    Ok(if changed(conn, update).await? {
        Recorded::Applied
    } else {
        Recorded::Refused
    })
}

/// The user's balance, read with the row locked (`lock` is the store's lock clause).
pub async fn balance(
    conn: &mut AnyConnection,
    user_id: &str,
    lock: &str,
) -> Result<Option<Credits>> {
    let sql = format!("SELECT credits FROM users WHERE id = $1{lock}");
    let row: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user_id.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(c,)| Credits::from_hundredths(c)))
}

/// The entry an idempotency key wrote, if any.
pub async fn by_key(conn: &mut AnyConnection, key: &str) -> Result<Option<Transaction>> {
    let sql = format!("SELECT {COLUMNS} FROM transactions WHERE idempotency_key = $1");
    let row = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
        .bind(key.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Transaction::from))
}

/// The user's entries, newest first.
pub async fn page(
    conn: &mut AnyConnection,
    user_id: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<Transaction>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM transactions WHERE user_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
        .bind(user_id.to_string())
        .bind(limit)
        .bind(offset)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(Transaction::from).collect())
}

/// One of the user's entries.
pub async fn one(conn: &mut AnyConnection, user_id: &str, id: &str) -> Result<Option<Transaction>> {
    let sql = format!("SELECT {COLUMNS} FROM transactions WHERE user_id = $1 AND id = $2");
    let row = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql))
        .bind(user_id.to_string())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    Ok(row.map(Transaction::from))
}
