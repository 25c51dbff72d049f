//! User operations: View and Update.

use super::{Accepts, Body, Contract, Hints, Operation};
use crate::{
    app::App,
    error::Result,
    services::{
        auth::Actor,
        users::{self, PublicUser, UpdateUser, UserRef},
    },
};

pub struct View;
impl Operation for View {
    const CONTRACT: Contract = Contract {
        name: "user_view",
        title: "View user",
        description: "The caller's user object: names, email, credits, 2FA, activation.",
        accepts: Accepts::USER_TOKEN
            .or(Accepts::API_KEY)
            .or(Accepts::PRIVATE_KEY),
        hints: Hints::READ_ONLY,
        message: "User fetched successfully.",
        ..Contract::get("/users/{user_id}")
    };
    type In = UserRef;
    type Out = PublicUser;
    async fn call(app: &App, actor: &Actor, input: UserRef) -> Result<PublicUser> {
        users::view(app, actor, input).await
    }
}

pub struct Update;
impl Operation for Update {
    const CONTRACT: Contract = Contract {
        name: "user_update",
        title: "Update user",
        description: "Change the caller's first name, last name or dark-mode preference. Other \
            fields cannot be changed here.",
        accepts: Accepts::USER_TOKEN.or(Accepts::PRIVATE_KEY),
        hints: Hints::WRITE.idempotent(),
        body: Body::Json,
        message: "User updated successfully.",
        ..Contract::patch("/users/{user_id}")
    };
    type In = UpdateUser;
    type Out = PublicUser;
    async fn call(app: &App, actor: &Actor, input: UpdateUser) -> Result<PublicUser> {
        users::update(app, actor, input).await
    }
}
