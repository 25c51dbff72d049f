//! The private key's admin routes (REST only): list users, set a balance, delete a user.
//! A balance is set through the ledger, as an entry "Admin updated credits from X to Y.".

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    auth::Actor,
    credits::{self, Entry},
    page_bounds,
    transactions::hundredths,
    users::PublicUser,
};
use crate::{
    app::App,
    error::{Error, Result},
    model::{Credits, EntryKind},
    store::{ledger, users},
};

/// A page of users.
#[derive(Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListUsers {
    /// How many users, 1 to 100 (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<i64>,
    /// How many to skip (default 0).
    #[serde(default)]
    #[schemars(range(min = 0, max = i64::MAX))]
    pub offset: Option<i64>,
}

/// A list of users.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Users {
    /// Oldest first.
    pub items: Vec<PublicUser>,
}

pub async fn list_users(app: &App, _actor: &Actor, input: ListUsers) -> Result<Users> {
    let (limit, offset) = page_bounds(input.limit, input.offset)?;
    let mut conn = app.store().conn().await?;
    let rows = users::page(&mut conn, limit, offset).await?;
    Ok(Users {
        items: rows.iter().map(|u| PublicUser::new(u, None)).collect(),
    })
}

/// A new balance.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCredits {
    /// The user's id (`user_…`).
    pub user_id: String,
    /// The new balance, at least 0, at most two decimals.
    pub credits: f64,
}

/// Sets the balance by recording the difference as one ledger entry, valued at the reference
/// rate ("Admin updated credits from X to Y."). No entry when nothing changes.
pub async fn set_credits(app: &App, actor: &Actor, input: SetCredits) -> Result<PublicUser> {
    let target = hundredths("credits", input.credits)?;
    let user = actor.target_user(app, Some(&input.user_id)).await?;
    let mut tx = app.store().begin_write().await?;
    let lock = app.store().lock_clause();
    let current = ledger::balance(&mut tx, user.id.as_str(), lock).await?;
    let current = current.ok_or(Error::NotFound("User"))?;
    if current != target {
        let (kind, difference) = match target.checked_sub(current) {
            Some(d) if !d.is_negative() => (EntryKind::Credit, d),
            _ => (
                EntryKind::Debit,
                current.checked_sub(target).unwrap_or_default(),
            ),
        };
        let rate = app.billing().rates().reference_rate();
        let description = format!(
            "Admin updated credits from {} to {}.",
            current.as_python_float(),
            target.as_python_float()
        );
        // Credits are hundredths of a credit, fiat hundredths of a dollar: fiat = credits / rate.
        let fiat = Credits::from_hundredths((difference.hundredths() + rate / 2) / rate);
        let entry = Entry {
            kind,
            ..Entry::credit(difference, description).fiat(fiat)
        };
        credits::record(app, &mut tx, &user.id, &entry).await?;
    }
    tx.commit().await?;
    let mut conn = app.store().conn().await?;
    let user = users::by_id(&mut conn, user.id.as_str()).await?;
    Ok(PublicUser::new(&user.ok_or(Error::NotFound("User"))?, None))
}

/// The user to delete.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteUser {
    /// The user's id (`user_…`).
    pub user_id: String,
}

/// Deletes the user with their sessions, keys, codes and ledger.
pub async fn delete_user(app: &App, _actor: &Actor, input: DeleteUser) -> Result<()> {
    let mut conn = app.store().conn().await?;
    if users::delete(&mut conn, input.user_id.trim()).await? {
        Ok(())
    } else {
        Err(Error::NotFound("User"))
    }
}
