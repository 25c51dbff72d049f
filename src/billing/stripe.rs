//! The Stripe API, through async-stripe: customers, Checkout Sessions, Billing Portal sessions,
//! and the listing that reconciliation reads. Only what Clara calls; errors become the domain's
//! (a Stripe outage is 503, details in the log).

use std::{collections::HashMap, time::Duration};

use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_checkout::{
    CheckoutSession, CheckoutSessionBillingAddressCollection, CheckoutSessionMode,
    CheckoutSessionPaymentStatus, CheckoutSessionStatus,
    checkout_session::{
        CreateCheckoutSession, CreateCheckoutSessionAllowedPaymentMethodTypes,
        CreateCheckoutSessionLineItems, ListCheckoutSession,
    },
};
use stripe_core::customer::CreateCustomer;
use stripe_types::RangeQueryTs;

use super::CheckoutInfo;
use crate::error::{Error, Result};

/// A configured Stripe client.
#[derive(Clone)]
pub struct StripeApi {
    client: Client,
}

impl std::fmt::Debug for StripeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StripeApi(<redacted>)")
    }
}

/// What a Checkout Session needs.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    pub customer: &'a str,
    pub price_id: &'a str,
    /// One unit of the price per credit.
    pub quantity: u64,
    pub metadata: HashMap<String, String>,
    pub success_url: String,
    pub cancel_url: String,
}

fn failed(what: &str, err: StripeError) -> Error {
    match &err {
        StripeError::Stripe(api, status) => Error::Unavailable(anyhow::anyhow!(
            "Stripe {what}: {status} {}",
            api.message.clone().unwrap_or_default()
        )),
        other => Error::Unavailable(anyhow::anyhow!("Stripe {what}: {other}")),
    }
}

impl StripeApi {
    /// A client for `secret_key`, talking to `api_base` (Stripe's own when `None`).
    pub fn new(secret_key: &str, api_base: Option<&str>) -> anyhow::Result<Self> {
        let mut builder = ClientBuilder::new(secret_key).timeout(Duration::from_secs(20));
        if let Some(base) = api_base.filter(|b| !b.is_empty()) {
            // The client appends `v1/…` to the base, which must therefore end in a slash.
            let base = if base.ends_with('/') {
                base.to_string()
            } else {
                format!("{base}/")
            };
            builder = builder.url(base);
        }
        Ok(Self {
            client: builder.build()?,
        })
    }

    /// Creates the user's customer. The idempotency key makes two racing first calls (or a
    /// retry) get the same customer from Stripe.
    pub async fn create_customer(&self, user_id: &str, email: &str) -> Result<String> {
        let key = IdempotencyKey::new(format!("clara-customer-{user_id}"))
            .map_err(|e| Error::internal(anyhow::anyhow!("idempotency key: {e}")))?;
        let customer = CreateCustomer::new()
            .email(email)
            .metadata(HashMap::from([(
                "user_id".to_string(),
                user_id.to_string(),
            )]))
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await
            .map_err(|e| failed("customer", e))?;
        Ok(customer.id.to_string())
    }

    /// A Checkout Session for credits: card only, promotion codes allowed, billing address
    /// required. Returns its id and URL.
    pub async fn create_checkout(&self, request: CheckoutRequest<'_>) -> Result<(String, String)> {
        let line = CreateCheckoutSessionLineItems {
            price: Some(request.price_id.to_string()),
            quantity: Some(request.quantity),
            ..Default::default()
        };
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Payment)
            .customer(request.customer)
            .line_items(vec![line])
            .allowed_payment_method_types(vec![
                CreateCheckoutSessionAllowedPaymentMethodTypes::Card,
            ])
            .allow_promotion_codes(true)
            .billing_address_collection(CheckoutSessionBillingAddressCollection::Required)
            .metadata(request.metadata)
            .success_url(request.success_url)
            .cancel_url(request.cancel_url)
            .send(&self.client)
            .await
            .map_err(|e| failed("checkout session", e))?;
        let url = session.url.clone().ok_or_else(|| {
            Error::Unavailable(anyhow::anyhow!("Stripe returned no checkout URL"))
        })?;
        Ok((session.id.to_string(), url))
    }

    /// A Billing Portal session URL for the customer.
    pub async fn portal(&self, customer: &str, return_url: &str) -> Result<String> {
        let session = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url)
            .send(&self.client)
            .await
            .map_err(|e| failed("billing portal session", e))?;
        Ok(session.url)
    }

    /// Every complete Checkout Session created since `since` (Unix seconds), all pages.
    pub async fn completed_sessions_since(&self, since: i64) -> Result<Vec<CheckoutInfo>> {
        let mut sessions = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut request = ListCheckoutSession::new()
                .created(RangeQueryTs::gte(since))
                .status(CheckoutSessionStatus::Complete)
                .limit(100);
            if let Some(after) = &cursor {
                request = request.starting_after(after.as_str());
            }
            let page = request
                .send(&self.client)
                .await
                .map_err(|e| failed("checkout session list", e))?;
            cursor = page.data.last().map(|s| s.id.to_string());
            sessions.extend(page.data.iter().map(info));
            if !page.has_more || cursor.is_none() {
                return Ok(sessions);
            }
        }
    }
}

/// The parts of a Checkout Session fulfilment reads.
fn info(session: &CheckoutSession) -> CheckoutInfo {
    CheckoutInfo {
        id: session.id.to_string(),
        paid: matches!(session.payment_status, CheckoutSessionPaymentStatus::Paid),
        metadata: session.metadata.clone().unwrap_or_default(),
        payment_intent: session.payment_intent.as_ref().map(|p| p.id().to_string()),
    }
}
