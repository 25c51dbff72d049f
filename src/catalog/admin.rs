//! The private key's admin routes (REST only, not MCP tools): list users, set a balance,
//! delete a user.

use http::StatusCode;

use super::{Accepts, Body, Contract, Hints, Operation, RestData};
use crate::{
    app::App,
    error::Result,
    services::{
        Done,
        admin::{self as service, Users},
        auth::Actor,
        users::PublicUser,
    },
};

pub struct ListUsers;
impl Operation for ListUsers {
    const CONTRACT: Contract = Contract {
        name: "admin_user_list",
        title: "List users (admin)",
        description: "Every user, oldest first, paged with limit (1-100) and offset. Private \
            key only.",
        accepts: Accepts::PRIVATE_KEY,
        hints: Hints::READ_ONLY,
        message: "Users fetched successfully.",
        rest_data: RestData::Items,
        mcp: false,
        ..Contract::get("/users")
    };
    type In = service::ListUsers;
    type Out = Users;
    async fn call(app: &App, actor: &Actor, input: service::ListUsers) -> Result<Users> {
        service::list_users(app, actor, input).await
    }
}

pub struct SetCredits;
impl Operation for SetCredits {
    const CONTRACT: Contract = Contract {
        name: "admin_credits_set",
        title: "Set credits (admin)",
        description: "Set a user's balance; the difference is recorded in the ledger as \
            \"Admin updated credits from X to Y.\". Private key only.",
        accepts: Accepts::PRIVATE_KEY,
        hints: Hints::DESTRUCTIVE.idempotent(),
        body: Body::Json,
        message: "User credits updated successfully.",
        mcp: false,
        ..Contract::put("/users/{user_id}/credits")
    };
    type In = service::SetCredits;
    type Out = PublicUser;
    async fn call(app: &App, actor: &Actor, input: service::SetCredits) -> Result<PublicUser> {
        service::set_credits(app, actor, input).await
    }
}

pub struct DeleteUser;
impl Operation for DeleteUser {
    const CONTRACT: Contract = Contract {
        name: "admin_user_delete",
        title: "Delete user (admin)",
        description: "Delete a user with their sessions, keys, codes and ledger. Private key \
            only.",
        accepts: Accepts::PRIVATE_KEY,
        hints: Hints::DESTRUCTIVE.idempotent(),
        status: StatusCode::NO_CONTENT,
        message: "User deleted successfully.",
        mcp: false,
        ..Contract::delete("/users/{user_id}")
    };
    type In = service::DeleteUser;
    type Out = Done;
    async fn call(app: &App, actor: &Actor, input: service::DeleteUser) -> Result<Done> {
        service::delete_user(app, actor, input).await?;
        Ok(Done::new(Self::CONTRACT.message))
    }
}
