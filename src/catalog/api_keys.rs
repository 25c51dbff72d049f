//! API key operations: View and Reset.

use http::StatusCode;

use super::{Accepts, Contract, Hints, Operation};
use crate::{
    app::App,
    error::Result,
    services::{
        api_keys::{self, ApiKey},
        auth::Actor,
        users::UserRef,
    },
};

pub struct View;
impl Operation for View {
    const CONTRACT: Contract = Contract {
        name: "api_key_view",
        title: "View API key",
        description: "The caller's API key token (made on first view). Needs a user token.",
        accepts: Accepts::USER_TOKEN,
        hints: Hints::READ_ONLY,
        message: "API key fetched successfully.",
        ..Contract::get("/users/{user_id}/api_key")
    };
    type In = UserRef;
    type Out = ApiKey;
    async fn call(app: &App, actor: &Actor, input: UserRef) -> Result<ApiKey> {
        api_keys::view(app, actor, input).await
    }
}

pub struct Reset;
impl Operation for Reset {
    const CONTRACT: Contract = Contract {
        name: "api_key_reset",
        title: "Reset API key",
        description: "Replace the caller's API key: the old token stops working at once. Needs \
            a user token.",
        accepts: Accepts::USER_TOKEN,
        hints: Hints::DESTRUCTIVE,
        status: StatusCode::CREATED,
        message: "API key reset successfully.",
        ..Contract::post("/users/{user_id}/api_key")
    };
    type In = UserRef;
    type Out = ApiKey;
    async fn call(app: &App, actor: &Actor, input: UserRef) -> Result<ApiKey> {
        api_keys::reset(app, actor, input).await
    }
}
