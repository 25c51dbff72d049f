//! Billing: Rate, Buy (a Stripe Checkout Session), Portal, and the purchase's fulfilment: the
//! signed settle webhook and reconciliation both run [`fulfil`], which credits each Checkout
//! Session at most once ("User bought N credits for $M."), however often and however
//! concurrently it is called.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    auth::{Actor, require_active},
    credits::{self, Applied, Entry},
};
use crate::{
    app::App,
    billing::{CheckoutInfo, signature, stripe::CheckoutRequest},
    error::{Error, Result},
    mail::templates,
    model::{Credits, User, UserId},
    store::{billing as events, users},
};

/// One credit rate band.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RateBand {
    /// The smallest purchase in this band, in US dollars.
    pub lower_limit: i64,
    /// Credits per US dollar.
    pub rate: i64,
    /// The Stripe price a purchase in this band is made of.
    pub stripe_price_id: String,
    /// The largest purchase in this band, in US dollars.
    pub upper_limit: i64,
}

/// The credit rate bands.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RateBands {
    /// Amounts outside every band cannot be bought.
    pub items: Vec<RateBand>,
}

/// The caller's own account, when the caller is a user (the private key has none).
async fn active_caller(app: &App, actor: &Actor) -> Result<Option<User>> {
    match actor {
        Actor::User { .. } => {
            let user = actor.target_user(app, None).await?;
            require_active(&user)?;
            Ok(Some(user))
        }
        _ => Ok(None),
    }
}

pub async fn rate(app: &App, actor: &Actor) -> Result<RateBands> {
    active_caller(app, actor).await?;
    let items = app.billing().rates().0.iter().map(|band| RateBand {
        lower_limit: band.lower,
        rate: band.rate,
        stripe_price_id: band.price_id.clone(),
        upper_limit: band.upper,
    });
    Ok(RateBands {
        items: items.collect(),
    })
}

/// A purchase of credits.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Buy {
    /// US dollars to spend, a whole number inside a band of stripe_rate.
    pub amount: i64,
    /// Where the front end returns after checkout, relative to the client URL (`""` for its
    /// root, `billing` for `/billing`).
    #[serde(default)]
    pub return_path: String,
}

/// A Checkout Session to pay at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Checkout {
    /// The `return_path` asked for.
    pub return_path: String,
    /// The Stripe Checkout page: open it in a browser to pay. Credits arrive once Stripe
    /// confirms the payment.
    pub url: String,
    /// Credits this purchase adds.
    pub value_in_credits: Credits,
    /// US dollars it costs.
    pub value_in_fiat: Credits,
}

/// A relative path on the front end: no scheme, no host, no `..`, no control characters.
fn clean_return_path(path: &str) -> Result<String> {
    let path = path.trim().trim_start_matches('/');
    let bad = path.contains("://")
        || path.starts_with('/')
        || path.contains('\\')
        || path.split('/').any(|seg| seg == "..")
        || path.chars().any(|c| c.is_control() || c.is_whitespace())
        || path.len() > 512;
    if bad {
        return Err(Error::invalid(
            "return_path must be a path on the front end, like billing",
        ));
    }
    Ok(path.to_string())
}

/// The user's Stripe customer, made on first use. Two racing first calls send the same
/// idempotency key (so Stripe makes one customer) and the database keeps the first recorded.
async fn customer(app: &App, user: &User) -> Result<String> {
    let mut conn = app.store().conn().await?;
    if let Some(id) = users::stripe_customer(&mut conn, user.id.as_str()).await? {
        return Ok(id);
    }
    drop(conn);
    let stripe = app.billing().stripe()?;
    let made = stripe
        .create_customer(user.id.as_str(), user.email.as_str())
        .await?;
    let mut conn = app.store().conn().await?;
    let recorded = users::claim_stripe_customer(&mut conn, user.id.as_str(), &made).await?;
    Ok(recorded.unwrap_or(made))
}

pub async fn buy(app: &App, actor: &Actor, input: Buy) -> Result<Checkout> {
    let user = active_caller(app, actor).await?.ok_or(Error::Forbidden)?;
    let band = app
        .billing()
        .rates()
        .band_for(input.amount)
        .ok_or(Error::NoRate)?
        .clone();
    let return_path = clean_return_path(&input.return_path)?;
    let stripe = app.billing().stripe()?;
    if band.price_id.is_empty() {
        return Err(Error::NotConfigured("The Stripe price of this rate band"));
    }
    let credits = band.rate * input.amount;
    let customer = customer(app, &user).await?;
    let base = format!("{}/{return_path}", app.config().client_url);
    let metadata = HashMap::from([
        ("user_id".to_string(), user.id.to_string()),
        ("value_in_credits".to_string(), credits.to_string()),
        ("value_in_fiat".to_string(), input.amount.to_string()),
    ]);
    let (_, url) = stripe
        .create_checkout(CheckoutRequest {
            customer: &customer,
            price_id: &band.price_id,
            quantity: credits as u64,
            metadata,
            success_url: format!("{base}?stripe_status=success"),
            cancel_url: format!("{base}?stripe_status=cancel"),
        })
        .await?;
    Ok(Checkout {
        return_path: input.return_path,
        url,
        value_in_credits: Credits::whole(credits),
        value_in_fiat: Credits::whole(input.amount),
    })
}

/// A Stripe page to manage payment methods and receipts.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Portal {
    /// The Stripe Billing Portal page for the caller.
    pub url: String,
}

pub async fn portal(app: &App, actor: &Actor) -> Result<Portal> {
    let user = active_caller(app, actor).await?.ok_or(Error::Forbidden)?;
    let stripe = app.billing().stripe()?;
    let customer = customer(app, &user).await?;
    let url = stripe.portal(&customer, &app.config().client_url).await?;
    Ok(Portal { url })
}

/// What fulfilling a Checkout Session did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fulfilled {
    /// Credited now: (user, credits).
    Credited(UserId, Credits),
    /// Credited before (by the webhook, a retry or reconciliation): nothing changed.
    Already,
    /// Not paid (yet): nothing to credit.
    Unpaid,
}

/// The purchase a session's metadata describes: user, credits, dollars.
fn purchase(session: &CheckoutInfo) -> Result<(UserId, i64, i64)> {
    let field = |name: &str| {
        session.metadata.get(name).ok_or_else(|| {
            Error::internal(anyhow::anyhow!(
                "checkout session {} has no {name}",
                session.id
            ))
        })
    };
    let number = |name: &str| -> Result<i64> {
        field(name)?.parse::<i64>().map_err(|_| {
            Error::internal(anyhow::anyhow!(
                "checkout session {}: bad {name}",
                session.id
            ))
        })
    };
    Ok((
        UserId::new(field("user_id")?.clone()),
        number("value_in_credits")?,
        number("value_in_fiat")?,
    ))
}

/// Credits a paid Checkout Session once, in the caller's transaction: the ledger entry's
/// idempotency key is the session id, so any number of calls, concurrent or not, credit once.
async fn fulfil_in(
    app: &App,
    conn: &mut sqlx::AnyConnection,
    session: &CheckoutInfo,
) -> Result<Fulfilled> {
    if !session.paid {
        return Ok(Fulfilled::Unpaid);
    }
    let (user_id, credits, fiat) = purchase(session)?;
    let entry = Entry {
        stripe_payment_intent: session.payment_intent.clone(),
        ..Entry::credit(
            Credits::whole(credits),
            format!("User bought {credits} credits for ${fiat}."),
        )
        .fiat(Credits::whole(fiat))
        .key(format!("stripe:checkout:{}", session.id))
    };
    match credits::record(app, conn, &user_id, &entry).await? {
        Applied::New(_) => Ok(Fulfilled::Credited(user_id, Credits::whole(credits))),
        Applied::Before(_) => Ok(Fulfilled::Already),
    }
}

/// [`fulfil_in`] in a transaction of its own (reconciliation).
pub async fn fulfil(app: &App, session: &CheckoutInfo) -> Result<Fulfilled> {
    let mut tx = app.store().begin().await?;
    let done = fulfil_in(app, &mut tx, session).await?;
    tx.commit().await?;
    Ok(done)
}

/// The parts of a Stripe event the webhook reads.
#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Debug, Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// A Checkout Session object from an event's `data.object`.
fn session_of(object: &serde_json::Value) -> Result<CheckoutInfo> {
    let id = object["id"].as_str().filter(|id| !id.is_empty());
    let id = id.ok_or_else(|| Error::invalid("the event's object has no id"))?;
    let metadata = object["metadata"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let payment_intent = match &object["payment_intent"] {
        serde_json::Value::String(id) => Some(id.clone()),
        serde_json::Value::Object(pi) => pi.get("id").and_then(|v| v.as_str()).map(str::to_string),
        _ => None,
    };
    Ok(CheckoutInfo {
        id: id.to_string(),
        paid: object["payment_status"] == "paid",
        metadata,
        payment_intent,
    })
}

/// What the webhook did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// A purchase event, processed now.
    Processed(Fulfilled),
    /// A failed delayed payment: the user was told by mail.
    PaymentFailed,
    /// This event id was processed before: nothing changed.
    Replayed,
    /// An event type Clara does not act on.
    Ignored,
}

/// The webhook: checks the signature on the raw body (400 and nothing changed when it is
/// missing, wrong or stale), then processes each event id once. The event record and its
/// effect commit together, so a failure halfway leaves nothing and Stripe's retry starts over.
pub async fn settle(app: &App, signature_header: Option<&str>, body: &[u8]) -> Result<Settled> {
    let secret = app.billing().webhook_secret()?;
    let header = signature_header.unwrap_or_default();
    if let Err(why) = signature::verify(header, body, secret, app.now()) {
        tracing::warn!(reason = %why, "Stripe webhook refused");
        return Err(Error::BadSignature);
    }
    let event: Event = serde_json::from_slice(body).map_err(Error::invalid)?;
    let acts = matches!(
        event.kind.as_str(),
        "checkout.session.completed"
            | "checkout.session.async_payment_succeeded"
            | "checkout.session.async_payment_failed"
    );
    if !acts {
        return Ok(Settled::Ignored);
    }
    let session = session_of(&event.data.object)?;
    let mut tx = app.store().begin().await?;
    if !events::record_event(&mut tx, &event.id, &event.kind, app.now()).await? {
        return Ok(Settled::Replayed);
    }
    let settled = if event.kind == "checkout.session.async_payment_failed" {
        payment_failed(app, &mut tx, &session).await?;
        Settled::PaymentFailed
    } else {
        Settled::Processed(fulfil_in(app, &mut tx, &session).await?)
    };
    tx.commit().await?;
    if settled == Settled::PaymentFailed {
        app.mailer().wake();
    }
    Ok(settled)
}

/// Queues the "purchase failed" mail to the buyer.
async fn payment_failed(
    app: &App,
    conn: &mut sqlx::AnyConnection,
    session: &CheckoutInfo,
) -> Result<()> {
    let (user_id, credits, fiat) = purchase(session)?;
    let Some(user) = users::by_id(conn, user_id.as_str()).await? else {
        return Ok(()); // the account is gone: nobody to tell
    };
    let mail = templates::payment_failed(
        user.email.as_str(),
        user.first_name.as_deref(),
        &credits.to_string(),
        &fiat.to_string(),
    );
    crate::store::outbox::enqueue(conn, &mail.row(), app.now()).await
}

/// What reconciliation found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Complete sessions Stripe listed.
    pub sessions: usize,
    /// Credited now (the webhook had not): session id, user, credits.
    pub credited: Vec<(String, UserId, Credits)>,
    /// Credited before.
    pub already: usize,
    /// Complete but not paid (a delayed payment still pending).
    pub unpaid: usize,
}

/// Lists the complete Checkout Sessions of the last `since_secs` from Stripe and fulfils each:
/// a webhook outage longer than Stripe's retries loses no purchase, and nothing is credited
/// twice.
pub async fn reconcile(app: &App, since_secs: i64) -> Result<Reconciled> {
    let stripe = app.billing().stripe()?;
    let sessions = stripe
        .completed_sessions_since(app.now() - since_secs)
        .await?;
    let mut report = Reconciled {
        sessions: sessions.len(),
        ..Reconciled::default()
    };
    for session in &sessions {
        if !session.metadata.contains_key("user_id") {
            continue; // not one of Clara's purchases
        }
        match fulfil(app, session).await? {
            Fulfilled::Credited(user, credits) => {
                report.credited.push((session.id.clone(), user, credits));
            }
            Fulfilled::Already => report.already += 1,
            Fulfilled::Unpaid => report.unpaid += 1,
        }
    }
    Ok(report)
}
