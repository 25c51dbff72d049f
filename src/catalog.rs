//! The catalog: every Clara operation defined once, as an [`Operation`] impl, and listed in
//! [`all`]. The REST router, the MCP tool list, `schemas/`, the OpenAPI document, the README
//! table check and the parity tests are all generated from this list.
//! Depends on the domain (`services`) only; no axum, no rmcp.

use std::{future::Future, pin::Pin, sync::OnceLock};

use http::{Method, StatusCode};
use schemars::{JsonSchema, generate::SchemaSettings};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::{
    app::App,
    caller::Caller,
    error::{Error, Result},
    services::{
        self,
        auth::{self, Ctx},
    },
};

/// Which credentials an operation accepts (the reference's auth table), as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepts(u8);

impl Accepts {
    pub const NONE: Self = Self(0);
    pub const BASIC: Self = Self(1);
    pub const USER_TOKEN: Self = Self(2);
    pub const API_KEY: Self = Self(4);
    pub const PUBLIC_KEY: Self = Self(8);
    pub const PRIVATE_KEY: Self = Self(16);

    pub const fn or(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
    pub const fn is_public(self) -> bool {
        self.0 == 0
    }
    /// Human names of the accepted modes, for docs and the OpenAPI `security` list.
    pub fn names(self) -> Vec<&'static str> {
        [
            (Self::BASIC, "basic"),
            (Self::USER_TOKEN, "user_token"),
            (Self::API_KEY, "api_key_token"),
            (Self::PUBLIC_KEY, "public_api_key"),
            (Self::PRIVATE_KEY, "private_api_key"),
        ]
        .into_iter()
        .filter(|(mode, _)| self.contains(*mode))
        .map(|(_, name)| name)
        .collect()
    }
}

/// The four MCP tool annotation hints, always set explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    pub open_world: bool,
}

impl Hints {
    /// Reads only: not destructive, idempotent, closed world.
    pub const READ_ONLY: Self = Self {
        read_only: true,
        destructive: false,
        idempotent: true,
        open_world: false,
    };
    /// Writes, additively, closed world: the "—" row of the contract's table.
    pub const WRITE: Self = Self {
        read_only: false,
        destructive: false,
        idempotent: false,
        open_world: false,
    };
}

/// What a REST request carries as its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body is read.
    None,
    /// A JSON object is required ("Request body is empty." without one).
    Json,
    /// A JSON object may be sent.
    OptionalJson,
}

/// One Clara operation: its contract (names, route, credentials, hints, types, messages) and
/// the one domain function that implements it.
pub trait Operation: Send + Sync + 'static {
    /// MCP tool name and schema file stem (`^[a-z0-9_]+$`).
    const NAME: &'static str;
    /// Short human title (MCP `title`).
    const TITLE: &'static str;
    /// What the operation does, for the model and the OpenAPI document.
    const DESCRIPTION: &'static str;
    const METHOD: Method;
    /// REST path under `/api/v1`, axum syntax (`/users/{user_id}`).
    const PATH: &'static str;
    const ACCEPTS: Accepts;
    const HINTS: Hints;
    const BODY: Body;
    /// HTTP status of success.
    const STATUS: StatusCode;
    /// The documented success message.
    const MESSAGE: &'static str;
    /// The REST envelope's `data` is `null` on success (MCP still returns the output object).
    const REST_DATA_NULL: bool = false;

    type In: DeserializeOwned + JsonSchema + Send + 'static;
    type Out: Serialize + JsonSchema + Send + 'static;

    /// Runs the operation for an authenticated caller (see [`auth::authenticate`]).
    fn call(
        app: &App,
        ctx: &Ctx,
        input: Self::In,
    ) -> impl Future<Output = Result<Self::Out>> + Send;

    /// REST status and message for a given output; operations whose success can be degraded
    /// (Health) override it.
    fn outcome(_out: &Self::Out) -> (StatusCode, &'static str) {
        (Self::STATUS, Self::MESSAGE)
    }
}

/// What a call produced, ready for either adapter.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub data: Value,
    pub status: StatusCode,
    pub message: &'static str,
}

pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The type-erased form of an [`Operation`], what the adapters iterate over.
pub struct OpInfo {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub method: Method,
    pub path: &'static str,
    pub accepts: Accepts,
    pub hints: Hints,
    pub body: Body,
    pub status: StatusCode,
    pub message: &'static str,
    pub rest_data_null: bool,
    pub input_schema: Map<String, Value>,
    pub output_schema: Map<String, Value>,
    /// Checks the rate limit and the credential, then deserialises the arguments (a JSON
    /// object, or the adapter's error reading them) into the typed input and runs the operation.
    pub invoke: fn(App, Caller, Result<Value>) -> BoxFuture<Result<Outcome>>,
}

impl std::fmt::Debug for OpInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpInfo")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn entry<O: Operation>() -> OpInfo {
    OpInfo {
        name: O::NAME,
        title: O::TITLE,
        description: O::DESCRIPTION,
        method: O::METHOD,
        path: O::PATH,
        accepts: O::ACCEPTS,
        hints: O::HINTS,
        body: O::BODY,
        status: O::STATUS,
        message: O::MESSAGE,
        rest_data_null: O::REST_DATA_NULL,
        input_schema: schema::<O::In>(SchemaSettings::draft2020_12().for_deserialize(), true),
        output_schema: schema::<O::Out>(SchemaSettings::draft2020_12().for_serialize(), false),
        invoke: |app, caller, args| Box::pin(invoke::<O>(app, caller, args)),
    }
}

/// The one place every call goes through, whichever adapter it came from: rate limit,
/// credentials, input, the operation.
async fn invoke<O: Operation>(app: App, caller: Caller, args: Result<Value>) -> Result<Outcome> {
    app.limiter().check(&caller)?;
    let principal = auth::authenticate(&app, &caller, O::ACCEPTS).await?;
    let input: O::In = serde_json::from_value(args?).map_err(Error::invalid)?;
    let ctx = Ctx { caller, principal };
    let out = O::call(&app, &ctx, input).await?;
    let (status, message) = O::outcome(&out);
    let data = serde_json::to_value(&out).map_err(Error::internal)?;
    Ok(Outcome {
        data,
        status,
        message,
    })
}

/// A JSON Schema (2020-12) for `T`, without the top-level title that names the Rust type, and
/// with nullable types spelled portably (see [`portable`]).
fn schema<T: JsonSchema>(settings: SchemaSettings, input: bool) -> Map<String, Value> {
    let root = settings.into_generator().into_root_schema_for::<T>();
    let mut value = serde_json::to_value(root).unwrap_or_default();
    portable(&mut value, input);
    match value {
        Value::Object(mut object) => {
            object.remove("title");
            object
        }
        _ => unreachable!("schemars renders a root schema as a JSON object"),
    }
}

/// `"type": ["string", "null"]` is legal but trips single-type tool dialects (Gemini's OpenAPI
/// subset, for one). An optional input is simply left out, so inputs drop the `null`; outputs
/// that can really be null say so with `anyOf`.
fn portable(value: &mut Value, input: bool) {
    match value {
        Value::Object(object) => {
            let nullable = match object.get("type") {
                Some(Value::Array(types))
                    if types.len() == 2 && types.contains(&Value::from("null")) =>
                {
                    types.iter().find(|t| *t != "null").cloned()
                }
                _ => None,
            };
            if let Some(kind) = nullable {
                if input {
                    object.insert("type".into(), kind);
                } else {
                    object.remove("type");
                    object.insert(
                        "anyOf".into(),
                        serde_json::json!([{ "type": kind }, { "type": "null" }]),
                    );
                }
            }
            for child in object.values_mut() {
                portable(child, input);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| portable(item, input)),
        _ => {}
    }
}

/// Every operation, in the order of the contract's table.
pub fn all() -> &'static [OpInfo] {
    static ALL: OnceLock<Vec<OpInfo>> = OnceLock::new();
    ALL.get_or_init(|| {
        use services::{accounts::*, misc::*, two_factor::*, users::*};
        vec![
            entry::<AuthRegister>(),
            entry::<AuthGoogle>(),
            entry::<AuthLogin>(),
            entry::<AuthLogout>(),
            entry::<AuthChangePassword>(),
            entry::<AuthSendOtp>(),
            entry::<AuthActivate>(),
            entry::<AuthEnable2fa>(),
            entry::<AuthDisable2fa>(),
            entry::<AuthTotpEnroll>(),
            entry::<AuthTotpConfirm>(),
            entry::<UserView>(),
            entry::<UserUpdate>(),
            entry::<ApiKeyView>(),
            entry::<ApiKeyReset>(),
            entry::<MiscHealth>(),
            entry::<MiscVersion>(),
        ]
    })
}

/// The operation with this tool name.
pub fn find(name: &str) -> Option<&'static OpInfo> {
    all().iter().find(|op| op.name == name)
}
