//! Billing infrastructure: the credit rate bands, the Stripe API client and webhook signature
//! checks. What a purchase *means* (the ledger entry, once per session) is in
//! `services::billing`; this module only talks to Stripe and checks its signatures.

pub mod rates;
pub mod signature;
pub mod stripe;

use std::collections::HashMap;

pub use rates::Rates;
use stripe::StripeApi;

use crate::error::{Error, Result};

/// A Checkout Session as fulfilment sees it, from a signed event or from Stripe's listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutInfo {
    /// `cs_…`
    pub id: String,
    /// `payment_status == "paid"`.
    pub paid: bool,
    /// What Buy put there: `user_id`, `value_in_credits`, `value_in_fiat`.
    pub metadata: HashMap<String, String>,
    pub payment_intent: Option<String>,
}

/// Rates, and Stripe when it is configured.
#[derive(Debug)]
pub struct Billing {
    rates: Rates,
    stripe: Option<StripeApi>,
    webhook_secret: Option<String>,
}

impl Billing {
    pub fn new(rates: Rates, stripe: Option<StripeApi>, webhook_secret: Option<String>) -> Self {
        Self {
            rates,
            stripe,
            webhook_secret,
        }
    }

    pub fn rates(&self) -> &Rates {
        &self.rates
    }

    /// The Stripe client; "Billing is not configured" (503) without `CLARA_STRIPE_SECRET_KEY`.
    pub fn stripe(&self) -> Result<&StripeApi> {
        self.stripe.as_ref().ok_or(Error::NotConfigured("Billing"))
    }

    /// The webhook endpoint secret; 503 without `CLARA_STRIPE_WEBHOOK_SECRET`.
    pub fn webhook_secret(&self) -> Result<&str> {
        self.webhook_secret
            .as_deref()
            .ok_or(Error::NotConfigured("The Stripe webhook"))
    }
}
