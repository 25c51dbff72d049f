//! Credits: the one way a balance changes. [`record`] writes an immutable ledger entry and moves
//! the balance in the caller's transaction; [`grant`] and [`spend`] do it in their own. Each
//! takes an optional idempotency key, so a retried charge or refund is applied once. Callable
//! from anywhere: an operation, the Stripe webhook, an analysis worker, an admin route.

use crate::{
    app::App,
    crypto,
    error::{Error, Result},
    model::{Credits, EntryKind, Transaction, UserId},
    store::ledger::{self, NewEntry, Recorded},
};

/// A change of a balance, before it is recorded.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: EntryKind,
    pub description: String,
    pub credits: Credits,
    /// US dollars, in cents.
    pub fiat: Credits,
    pub stripe_payment_intent: Option<String>,
    /// A retried change with the same key is applied once.
    pub idempotency_key: Option<String>,
}

impl Entry {
    pub fn credit(credits: Credits, description: impl Into<String>) -> Self {
        Self {
            kind: EntryKind::Credit,
            description: description.into(),
            credits,
            fiat: Credits::ZERO,
            stripe_payment_intent: None,
            idempotency_key: None,
        }
    }

    pub fn debit(credits: Credits, description: impl Into<String>) -> Self {
        Self {
            kind: EntryKind::Debit,
            ..Self::credit(credits, description)
        }
    }

    pub fn fiat(mut self, fiat: Credits) -> Self {
        self.fiat = fiat;
        self
    }

    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
}

/// What recording an entry did.
#[derive(Debug, Clone)]
pub enum Applied {
    /// Written now.
    New(Transaction),
    /// The idempotency key was used before: this is the entry it wrote, nothing changed.
    Before(Transaction),
}

impl Applied {
    pub fn transaction(&self) -> &Transaction {
        match self {
            Self::New(t) | Self::Before(t) => t,
        }
    }
}

/// Records `entry` for the user inside the caller's transaction. A debit larger than the
/// balance is 403 "You do not have enough credits…" and the caller's transaction must not be
/// committed (returning the error through `?` drops it).
pub async fn record(
    app: &App,
    conn: &mut sqlx::AnyConnection,
    user_id: &UserId,
    entry: &Entry,
) -> Result<Applied> {
    if entry.credits.is_negative() || entry.fiat.is_negative() {
        return Err(Error::invalid(
            "ledger amounts are magnitudes, never negative",
        ));
    }
    let id = crypto::new_id("transaction");
    let at = app.now();
    let new = NewEntry {
        id: &id,
        user_id: user_id.as_str(),
        kind: entry.kind,
        description: &entry.description,
        credits: entry.credits,
        fiat: entry.fiat,
        stripe_payment_intent: entry.stripe_payment_intent.as_deref(),
        idempotency_key: entry.idempotency_key.as_deref(),
        at,
    };
    match ledger::record(conn, &new).await? {
        Recorded::Applied => Ok(Applied::New(Transaction {
            id,
            user_id: user_id.clone(),
            kind: entry.kind,
            description: entry.description.clone(),
            credits: entry.credits,
            fiat: entry.fiat,
            created_at: at,
            updated_at: at,
        })),
        Recorded::Duplicate => {
            let key = entry.idempotency_key.as_deref().unwrap_or_default();
            let before = ledger::by_key(conn, key).await?;
            before
                .map(Applied::Before)
                .ok_or_else(|| Error::internal(anyhow::anyhow!("idempotency key without entry")))
        }
        Recorded::Refused => Err(Error::InsufficientCredits),
    }
}

/// Adds credits (a CREDIT entry) in a transaction of its own.
pub async fn grant(app: &App, user_id: &UserId, entry: Entry) -> Result<Applied> {
    let entry = Entry {
        kind: EntryKind::Credit,
        ..entry
    };
    record_own(app, user_id, entry).await
}

/// Takes credits (a DEBIT entry) in a transaction of its own; 403 when the balance is short,
/// and then nothing is written.
pub async fn spend(app: &App, user_id: &UserId, entry: Entry) -> Result<Applied> {
    let entry = Entry {
        kind: EntryKind::Debit,
        ..entry
    };
    record_own(app, user_id, entry).await
}

/// Records `entry` in a transaction of its own.
pub async fn record_own(app: &App, user_id: &UserId, entry: Entry) -> Result<Applied> {
    let mut tx = app.store().begin().await?;
    let applied = record(app, &mut tx, user_id, &entry).await?;
    tx.commit().await?;
    Ok(applied)
}
