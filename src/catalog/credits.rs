//! Transaction operations: View All (paged), View; and the admin's manual entry (REST only).
//! There is no PATCH or DELETE on a transaction: the ledger is append-only (405).

use http::StatusCode;

use super::{Accepts, Body, Contract, Hints, Operation, RestData};
use crate::{
    app::App,
    error::Result,
    services::{
        UserPage,
        auth::Actor,
        transactions::{self, NewTransaction, PublicTransaction, TransactionRef, Transactions},
    },
};

const READERS: Accepts = Accepts::USER_TOKEN
    .or(Accepts::API_KEY)
    .or(Accepts::PRIVATE_KEY);

pub struct List;
impl Operation for List {
    const CONTRACT: Contract = Contract {
        name: "transaction_list",
        title: "List transactions",
        description: "The caller's credit ledger, newest first: purchases, analysis charges and \
            refunds, admin changes. Page with limit (1-100, default 20) and offset.",
        accepts: READERS,
        hints: Hints::READ_ONLY,
        message: "Transactions fetched successfully.",
        rest_data: RestData::Items,
        ..Contract::get("/users/{user_id}/transactions")
    };
    type In = UserPage;
    type Out = Transactions;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<Transactions> {
        transactions::list(app, actor, input).await
    }
}

pub struct View;
impl Operation for View {
    const CONTRACT: Contract = Contract {
        name: "transaction_view",
        title: "View transaction",
        description: "One entry of the caller's credit ledger.",
        accepts: READERS,
        hints: Hints::READ_ONLY,
        message: "Transaction fetched successfully.",
        ..Contract::get("/users/{user_id}/transactions/{transaction_id}")
    };
    type In = TransactionRef;
    type Out = PublicTransaction;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<PublicTransaction> {
        transactions::view(app, actor, input).await
    }
}

pub struct Create;
impl Operation for Create {
    const CONTRACT: Contract = Contract {
        name: "admin_transaction_create",
        title: "Record a transaction (admin)",
        description: "Record a manual ledger entry for a user; the balance moves by it (a debit \
            larger than the balance is refused). Private key only.",
        accepts: Accepts::PRIVATE_KEY,
        body: Body::Json,
        status: StatusCode::CREATED,
        message: "Transaction created successfully.",
        mcp: false,
        ..Contract::post("/users/{user_id}/transactions")
    };
    type In = NewTransaction;
    type Out = PublicTransaction;
    async fn call(app: &App, actor: &Actor, input: Self::In) -> Result<PublicTransaction> {
        transactions::create(app, actor, input).await
    }
}
