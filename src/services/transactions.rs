//! Transactions: the user's ledger, newest first (View All, paged) and one entry (View); and
//! the admin's manual entry. The ledger is append-only: a correction is a new entry.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    UserPage,
    auth::{Actor, require_active},
    credits::{self, Entry},
};
use crate::{
    app::App,
    crypto::http_date,
    error::{Error, Result},
    model::{Credits, EntryKind, Transaction},
    store::ledger,
};

/// One ledger entry, as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PublicTransaction {
    /// When it was recorded, e.g. `Thu, 27 Nov 2025 00:39:09 GMT`.
    pub created_at: String,
    /// What it was for, e.g. `User bought 500.0 credits for $5.0.`
    pub description: String,
    /// `transaction_<32 hex>`.
    pub id: String,
    /// `CREDIT` (adds to the balance) or `DEBIT` (takes from it).
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Same as `created_at`: entries never change.
    pub updated_at: String,
    /// The owner.
    pub user_id: String,
    /// Credits moved (always positive; `type` gives the direction).
    pub value_in_credits: Credits,
    /// US dollars paid or represented (always positive).
    pub value_in_fiat: Credits,
}

/// The direction of a ledger entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Kind {
    /// Adds to the balance.
    Credit,
    /// Takes from the balance.
    Debit,
}

impl From<Kind> for EntryKind {
    fn from(kind: Kind) -> Self {
        match kind {
            Kind::Credit => Self::Credit,
            Kind::Debit => Self::Debit,
        }
    }
}

impl PublicTransaction {
    pub fn new(t: &Transaction) -> Self {
        Self {
            created_at: http_date(t.created_at),
            description: t.description.clone(),
            id: t.id.clone(),
            kind: match t.kind {
                EntryKind::Credit => Kind::Credit,
                EntryKind::Debit => Kind::Debit,
            },
            updated_at: http_date(t.updated_at),
            user_id: t.user_id.to_string(),
            value_in_credits: t.credits,
            value_in_fiat: t.fiat,
        }
    }
}

/// A list of entries.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Transactions {
    /// Newest first.
    pub items: Vec<PublicTransaction>,
}

pub async fn list(app: &App, actor: &Actor, input: UserPage) -> Result<Transactions> {
    let (user, limit, offset) = input.resolve(app, actor).await?;
    let mut conn = app.store().conn().await?;
    let rows = ledger::page(&mut conn, user.id.as_str(), limit, offset).await?;
    Ok(Transactions {
        items: rows.iter().map(PublicTransaction::new).collect(),
    })
}

/// One entry of the user's ledger.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransactionRef {
    /// The user's id (`user_…`); defaults to the caller.
    #[serde(default)]
    pub user_id: Option<String>,
    /// `transaction_<32 hex>`.
    pub transaction_id: String,
}

pub async fn view(app: &App, actor: &Actor, input: TransactionRef) -> Result<PublicTransaction> {
    let user = actor.target_user(app, input.user_id.as_deref()).await?;
    require_active(&user)?;
    let mut conn = app.store().conn().await?;
    let found = ledger::one(&mut conn, user.id.as_str(), input.transaction_id.trim()).await?;
    let found = found.ok_or(Error::NotFound("Transaction"))?;
    Ok(PublicTransaction::new(&found))
}

/// A manual ledger entry (admin): it moves the balance by its amount.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransaction {
    /// The user's id (`user_…`).
    pub user_id: String,
    /// What the entry is for, 1 to 512 characters.
    pub description: String,
    /// Credits moved, positive, at most two decimals.
    pub value_in_credits: f64,
    /// US dollars represented, zero or positive.
    pub value_in_fiat: f64,
    /// `CREDIT` or `DEBIT`.
    #[serde(rename = "type")]
    pub kind: Kind,
}

/// A wire float as exact hundredths: finite, not negative, at most two decimals.
pub fn hundredths(field: &str, value: f64) -> Result<Credits> {
    let scaled = value * 100.0;
    let rounded = scaled.round();
    if !value.is_finite() || value < 0.0 || (scaled - rounded).abs() > 1e-6 || rounded > 1e15 {
        return Err(Error::invalid(format!(
            "{field} must be a number of at least 0 with at most two decimals"
        )));
    }
    Ok(Credits::from_hundredths(rounded as i64))
}

pub async fn create(app: &App, actor: &Actor, input: NewTransaction) -> Result<PublicTransaction> {
    let description = input.description.trim();
    if description.is_empty() || description.chars().count() > 512 {
        return Err(Error::invalid("description must be 1 to 512 characters"));
    }
    let credits = hundredths("value_in_credits", input.value_in_credits)?;
    let fiat = hundredths("value_in_fiat", input.value_in_fiat)?;
    let user = actor.target_user(app, Some(&input.user_id)).await?;
    let entry = Entry {
        kind: input.kind.into(),
        ..Entry::credit(credits, description).fiat(fiat)
    };
    let applied = credits::record_own(app, &user.id, entry).await?;
    Ok(PublicTransaction::new(applied.transaction()))
}
