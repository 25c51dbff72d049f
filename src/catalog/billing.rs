//! Stripe operations: Rate, Portal, Buy. The settle webhook is not an operation: it needs the
//! raw body for its signature (`rest::extra_routes`).

use http::StatusCode;

use super::{Accepts, Body, Contract, Effect, Hints, Operation, RestData};
use crate::{
    app::App,
    error::Result,
    services::{
        NoInput,
        auth::Actor,
        billing::{self as service, Checkout, RateBands},
    },
};

const USERS: Accepts = Accepts::USER_TOKEN.or(Accepts::API_KEY);

pub struct Rate;
impl Operation for Rate {
    const CONTRACT: Contract = Contract {
        name: "stripe_rate",
        title: "Credit rates",
        description: "The credit price bands: how many credits a US dollar buys, and the \
            smallest and largest purchase (in dollars). Call it before stripe_buy.",
        accepts: USERS.or(Accepts::PRIVATE_KEY),
        hints: Hints::READ_ONLY,
        message: "Credits rate fetched successfully. Upper limit and lower limit are in fiat. \
            Rate is in credits per dollar. Any amount beyond the limits will not be credited.",
        rest_data: RestData::Items,
        ..Contract::get("/stripe/rate")
    };
    type In = NoInput;
    type Out = RateBands;
    async fn call(app: &App, actor: &Actor, _input: NoInput) -> Result<RateBands> {
        service::rate(app, actor).await
    }
}

pub struct Portal;
impl Operation for Portal {
    const CONTRACT: Contract = Contract {
        name: "stripe_portal",
        title: "Billing portal",
        description: "A link to Stripe's billing portal for the caller: payment methods, \
            receipts, invoices. Open it in a browser.",
        accepts: USERS,
        hints: Hints::WRITE.open_world(),
        status: StatusCode::CREATED,
        message: "Customer portal session created successfully.",
        ..Contract::post("/stripe/portal")
    };
    type In = NoInput;
    type Out = service::Portal;
    async fn call(app: &App, actor: &Actor, _input: NoInput) -> Result<service::Portal> {
        service::portal(app, actor).await
    }
}

pub struct Buy;
impl Operation for Buy {
    const CONTRACT: Contract = Contract {
        name: "stripe_buy",
        title: "Buy credits",
        description: "Start a credit purchase of `amount` US dollars (inside a band of \
            stripe_rate): returns a Stripe Checkout URL for the user to open and pay. Credits \
            arrive when Stripe confirms the payment; check with user_view or transaction_list.",
        accepts: USERS,
        hints: Hints::WRITE.open_world(),
        body: Body::Json,
        status: StatusCode::CREATED,
        message: "Checkout session created successfully.",
        effect: Effect::OpenUrl,
        ..Contract::post("/stripe/buy")
    };
    type In = service::Buy;
    type Out = Checkout;
    async fn call(app: &App, actor: &Actor, input: service::Buy) -> Result<Checkout> {
        service::buy(app, actor, input).await
    }
}
