//! The catalog: every Clara operation's contract (names, route, credentials, hints, messages,
//! effect, typed input and output) defined once, as an [`Operation`] impl whose `call` delegates
//! to one domain function, and listed in [`all`]. The REST router, the MCP tool list,
//! `schemas/`, the OpenAPI document, the README table check and the parity tests are all
//! generated from this list. One file per area: [`auth`], [`users`], [`api_keys`],
//! [`credits`], [`agent`], [`billing`], [`misc`], [`admin`].
//! Imports the domain (`services`) and `http` types; never an adapter (`rest`, `mcp`).

pub mod admin;
pub mod agent;
pub mod api_keys;
pub mod auth;
pub mod billing;
pub mod credits;
pub mod misc;
pub mod users;

use std::{future::Future, ops::Deref, pin::Pin, sync::OnceLock};

use http::StatusCode;
use schemars::{JsonSchema, generate::SchemaSettings};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

pub use crate::services::auth::Accepts;
use crate::{
    app::App,
    caller::{Caller, Credential},
    error::{Error, Result},
    ratelimit::Limiter,
    services::auth::{Actor, authenticate},
};

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
    /// A write that may delete or overwrite.
    pub const DESTRUCTIVE: Self = Self {
        destructive: true,
        ..Self::WRITE
    };

    pub const fn idempotent(self) -> Self {
        Self {
            idempotent: true,
            ..self
        }
    }
    pub const fn open_world(self) -> Self {
        Self {
            open_world: true,
            ..self
        }
    }
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
    /// `multipart/form-data` (REST), streamed within the upload limit: text fields become
    /// input fields, file parts become `attachments: [{name, content_base64}]`, the shape MCP
    /// callers send.
    Multipart,
}

/// What a successful call does to the MCP connection it came on (adapters act on it; the
/// domain never sees a connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    /// The output carries a user `token`: the connection acts as that user from now on.
    SignIn,
    /// The presented token was revoked: a connection signed in with it is signed out.
    SignOut,
    /// The output's `url` is a page for the user to open (a Stripe Checkout): MCP asks clients
    /// that support URL elicitation to open it. The URL is in the output either way.
    OpenUrl,
    /// The output is an analysis task: MCP may answer with an MCP task, or wait for it.
    Task,
}

/// An HTTP method the catalog uses (a `Copy` value, so contracts can be constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation's contract, as one constant. Start from [`Contract::get`], [`Contract::post`]…
/// and set what differs from their defaults.
#[derive(Debug, Clone)]
pub struct Contract {
    /// MCP tool name and schema file stem (`^[a-z0-9_]+$`).
    pub name: &'static str,
    /// Short human title (MCP `title`).
    pub title: &'static str,
    /// What the operation does, for the model and the OpenAPI document.
    pub description: &'static str,
    pub method: Verb,
    /// REST path under `/api/v1`, axum syntax (`/users/{user_id}`).
    pub path: &'static str,
    pub accepts: Accepts,
    pub hints: Hints,
    pub body: Body,
    /// HTTP status of success.
    pub status: StatusCode,
    /// The documented success message.
    pub message: &'static str,
    /// What the REST envelope's `data` holds on success.
    pub rest_data: RestData,
    pub effect: Effect,
    /// Served as an MCP tool too (false: REST only, like the admin routes).
    pub mcp: bool,
}

/// What the REST envelope's `data` holds on success; MCP always returns the output object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestData {
    /// The output object.
    Output,
    /// `null` (the output is only `{message}`).
    Null,
    /// The output's `items` array (a documented list; a tool result must be an object).
    Items,
}

impl Contract {
    pub const fn get(path: &'static str) -> Self {
        Self::route(Verb::Get, path)
    }
    pub const fn post(path: &'static str) -> Self {
        Self::route(Verb::Post, path)
    }
    pub const fn put(path: &'static str) -> Self {
        Self::route(Verb::Put, path)
    }
    pub const fn patch(path: &'static str) -> Self {
        Self::route(Verb::Patch, path)
    }
    pub const fn delete(path: &'static str) -> Self {
        Self::route(Verb::Delete, path)
    }

    /// A route with the defaults: public, a closed-world write, no body, 200, no effect.
    const fn route(method: Verb, path: &'static str) -> Self {
        Self {
            name: "",
            title: "",
            description: "",
            method,
            path,
            accepts: Accepts::NONE,
            hints: Hints::WRITE,
            body: Body::None,
            status: StatusCode::OK,
            message: "",
            rest_data: RestData::Output,
            effect: Effect::None,
            mcp: true,
        }
    }
}

/// One Clara operation: its contract and the one domain function that implements it.
pub trait Operation: Send + Sync + 'static {
    const CONTRACT: Contract;

    type In: DeserializeOwned + Serialize + JsonSchema + Send + 'static;
    type Out: Serialize + DeserializeOwned + JsonSchema + Send + 'static;

    /// Runs the operation for a resolved actor: one line delegating to `services`.
    fn call(
        app: &App,
        actor: &Actor,
        input: Self::In,
    ) -> impl Future<Output = Result<Self::Out>> + Send;

    /// REST status and message for a given output; operations whose success can be degraded
    /// (Health) or worded two ways (Google sign-in) override it.
    fn outcome(_out: &Self::Out) -> (StatusCode, &'static str) {
        (Self::CONTRACT.status, Self::CONTRACT.message)
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

/// The type-erased form of an [`Operation`], what the adapters iterate over. Derefs to its
/// [`Contract`].
pub struct OpInfo {
    pub contract: Contract,
    pub input_schema: Map<String, Value>,
    pub output_schema: Map<String, Value>,
    /// Checks the rate limit and the credential, deserialises the arguments into the typed
    /// input and runs the operation.
    pub invoke: fn(App, Caller, Value) -> BoxFuture<Result<Outcome>>,
    /// Only the rate limit and the credential: what an adapter checks before reporting its own
    /// failure to read the arguments (credentials are checked first, as the original does).
    pub authorize: fn(App, Caller) -> BoxFuture<Result<()>>,
}

impl Deref for OpInfo {
    type Target = Contract;
    fn deref(&self) -> &Contract {
        &self.contract
    }
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
        contract: O::CONTRACT,
        input_schema: schema::<O::In>(SchemaSettings::draft2020_12().for_deserialize(), true),
        output_schema: schema::<O::Out>(SchemaSettings::draft2020_12().for_serialize(), false),
        invoke: |app, caller, args| Box::pin(invoke::<O>(app, caller, args)),
        authorize: |app, caller| {
            Box::pin(async move {
                authorize(&app, &caller, O::CONTRACT.accepts)
                    .await
                    .map(drop)
            })
        },
    }
}

/// Rate limit, then credential. A credential that does not resolve spends its address's
/// failure budget, and a spent budget refuses before any lookup, except a credential that
/// resolved within the last ten minutes.
async fn authorize(app: &App, caller: &Caller, accepts: Accepts) -> Result<Actor> {
    let limiter = app.limiter();
    limiter.check(caller)?;
    let checked =
        matches!(caller.credential, Some(ref c) if !matches!(c, Credential::Basic { .. }));
    let keys = if checked {
        Limiter::bad_credential_keys(caller)
    } else {
        Vec::new()
    };
    // A spent budget refuses, except a credential that resolved recently: it goes on even when
    // others at its address (behind the same NAT) spent the budget with bad ones.
    if let Err(refused) = limiter.refuse_if_spent(&keys, app.now()) {
        let known = caller
            .credential
            .as_ref()
            .is_some_and(|c| limiter.is_known_good(c, app.now()));
        if !known {
            return Err(refused);
        }
    }
    let resolved = authenticate(app, caller, accepts).await;
    match (&resolved, &caller.credential) {
        (Err(Error::Unauthorized { .. }), _) => limiter.spend(&keys, app.now()),
        (Ok(Actor::User { .. } | Actor::Private), Some(credential)) if checked => {
            limiter.known_good(credential, app.now())
        }
        _ => {}
    }
    resolved
}

/// The one place every call goes through, whichever adapter it came from: rate limit,
/// credentials, input, the operation.
async fn invoke<O: Operation>(app: App, caller: Caller, args: Value) -> Result<Outcome> {
    let actor = authorize(&app, &caller, O::CONTRACT.accepts).await?;
    clean_strings("", &args)?;
    let input: O::In = serde_json::from_value(args).map_err(Error::invalid)?;
    let out = O::call(&app, &actor, input).await?;
    let (status, message) = O::outcome(&out);
    let data = serde_json::to_value(&out).map_err(Error::internal)?;
    Ok(Outcome {
        data,
        status,
        message,
    })
}

/// Fields that are free text: they may hold line breaks and tabs (never NUL).
const FREE_TEXT: [&str; 3] = ["password", "description", "text"];

/// Bad bytes never reach a query: NUL is refused in every string (PostgreSQL cannot store it,
/// and no Clara value needs it), and other control characters in every field but free text
/// (emails, names, ids, codes, tokens). The documented 400, naming the field.
fn clean_strings(field: &str, value: &Value) -> Result<()> {
    match value {
        Value::String(text) => {
            let free = FREE_TEXT.contains(&field);
            let bad = text.chars().any(|c| {
                c == '\0' || (c.is_control() && !(free && matches!(c, '\n' | '\r' | '\t')))
            });
            if bad {
                return Err(Error::invalid(format!(
                    "{field} contains a control character"
                )));
            }
            Ok(())
        }
        Value::Object(map) => map.iter().try_for_each(|(k, v)| clean_strings(k, v)),
        Value::Array(items) => items.iter().try_for_each(|v| clean_strings(field, v)),
        _ => Ok(()),
    }
}

/// A JSON Schema (2020-12) for `T`, without the top-level title that names the Rust type, and
/// with nullable types spelled portably (see [`portable`]).
fn schema<T: JsonSchema>(settings: SchemaSettings, input: bool) -> Map<String, Value> {
    let root = settings.into_generator().into_root_schema_for::<T>();
    let mut value = serde_json::to_value(root).unwrap_or_default();
    if input {
        // Inputs are read by every kind of function-calling back end: no references, enums
        // inline, no `default: null`, `properties` on every object.
        let defs = value
            .as_object_mut()
            .and_then(|o| o.remove("$defs"))
            .unwrap_or_default();
        inline_refs(&mut value, &defs, 0);
        plain_input(&mut value);
    }
    portable(&mut value, input);
    if input {
        control_patterns("", &mut value);
    }
    match value {
        Value::Object(mut object) => {
            object.remove("title");
            object
        }
        _ => unreachable!("schemars renders a root schema as a JSON object"),
    }
}

/// States what [`clean_strings`] refuses: a string field may hold no control character (free
/// text may hold line breaks and tabs).
fn control_patterns(field: &str, value: &mut Value) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    if object.get("type") == Some(&Value::from("string"))
        && !object.contains_key("pattern")
        && !object.contains_key("enum")
        && !object.contains_key("format")
    {
        let pattern = if FREE_TEXT.contains(&field) {
            "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
        } else {
            "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
        };
        object.insert("pattern".into(), Value::from(pattern));
    }
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            control_patterns(name, property);
        }
    }
    if let Some(items) = object.get_mut("items") {
        control_patterns(field, items);
    }
}

/// Replaces every `{"$ref": "#/$defs/X"}` with the definition of X (keeping siblings such as
/// `description`).
fn inline_refs(value: &mut Value, defs: &Value, depth: usize) {
    match value {
        Value::Object(object) => {
            let target = object
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .and_then(|name| defs.get(name))
                .cloned();
            if let (Some(Value::Object(def)), true) = (target, depth < 16) {
                object.remove("$ref");
                for (key, v) in def {
                    object.entry(key).or_insert(v);
                }
            }
            object
                .values_mut()
                .for_each(|v| inline_refs(v, defs, depth + 1));
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| inline_refs(v, defs, depth + 1)),
        _ => {}
    }
}

/// `oneOf` of documented `const`s becomes a plain `enum` (their docs join the description);
/// `default: null` goes; every object gets `properties`.
fn plain_input(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let consts: Option<Vec<(Value, Option<String>)>> = object
                .get("oneOf")
                .and_then(Value::as_array)
                .and_then(|variants| {
                    variants
                        .iter()
                        .map(|v| {
                            let doc = v.get("description").and_then(Value::as_str);
                            v.get("const").map(|c| (c.clone(), doc.map(str::to_string)))
                        })
                        .collect()
                });
            if let Some(consts) = consts {
                object.remove("oneOf");
                let docs: Vec<String> = consts
                    .iter()
                    .filter_map(|(c, d)| {
                        let doc = d.as_deref()?.trim_end_matches('.');
                        Some(format!("{} = {doc}", c.as_str()?))
                    })
                    .collect();
                if !docs.is_empty() {
                    let mut text = object
                        .get("description")
                        .and_then(Value::as_str)
                        .map(|d| format!("{d} "))
                        .unwrap_or_default();
                    text.push_str(&docs.join("; "));
                    text.push('.');
                    object.insert("description".into(), Value::String(text));
                }
                object.insert("type".into(), Value::from("string"));
                object.insert(
                    "enum".into(),
                    Value::Array(consts.into_iter().map(|(c, _)| c).collect()),
                );
            }
            if object.get("default") == Some(&Value::Null) {
                object.remove("default");
            }
            if object.get("type") == Some(&Value::from("object"))
                && !object.contains_key("properties")
            {
                object.insert("properties".into(), Value::Object(Map::new()));
            }
            object.values_mut().for_each(plain_input);
        }
        Value::Array(items) => items.iter_mut().for_each(plain_input),
        _ => {}
    }
}

/// `"type": ["string", "null"]` is legal but trips single-type tool dialects (Gemini's OpenAPI
/// subset, for one). An optional input is simply left out, so inputs drop the `null`; outputs
/// that can really be null say so with `anyOf`.
fn portable(value: &mut Value, input: bool) {
    match value {
        Value::Object(object) => {
            // A `///` comment's line breaks are not paragraph breaks: one line per description.
            if let Some(Value::String(text)) = object.get_mut("description") {
                *text = text
                    .split("\n\n")
                    .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n\n");
            }
            let nullable = match object.get("type") {
                Some(Value::Array(types))
                    if types.len() == 2 && types.contains(&Value::from("null")) =>
                {
                    types.iter().find(|t| *t != "null").cloned()
                }
                _ => None,
            };
            // schemars' numeric formats (`int64`, `uint32`, `double`…) are not JSON Schema
            // formats: Ajv (the TypeScript SDK) warns about each and some function-calling back
            // ends refuse them. `type: integer` and `minimum` say what matters.
            let numeric = object
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| {
                    f.starts_with("int") || f.starts_with("uint") || f == "double" || f == "float"
                });
            if numeric {
                object.remove("format");
            }
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

pub use crate::defaults::TOOLSETS;

impl Contract {
    /// The toolset this operation belongs to, from its name's prefix.
    pub fn toolset(&self) -> &'static str {
        let prefix = |p: &str| self.name.starts_with(p);
        if prefix("auth_") {
            "auth"
        } else if prefix("user_") || prefix("admin_user") {
            "users"
        } else if prefix("api_key_") {
            "api_keys"
        } else if prefix("transaction_") || prefix("admin_credits") || prefix("admin_transaction") {
            "credits"
        } else if prefix("stripe_") {
            "billing"
        } else if prefix("agent_") || prefix("task_") {
            "agent"
        } else {
            "misc"
        }
    }
}

/// Which tools a server (or one request) serves: some toolsets, maybe only read-only tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFilter {
    /// `None`: every toolset.
    pub toolsets: Option<Vec<String>>,
    pub read_only: bool,
}

impl ToolFilter {
    pub const ALL: Self = Self {
        toolsets: None,
        read_only: false,
    };

    /// What the server's configuration serves.
    pub fn configured(config: &crate::app::AppConfig) -> Self {
        Self {
            toolsets: config.toolsets.clone(),
            read_only: config.read_only,
        }
    }

    pub fn allows(&self, op: &OpInfo) -> bool {
        op.mcp
            && (!self.read_only || op.hints.read_only)
            && self
                .toolsets
                .as_ref()
                .is_none_or(|sets| sets.iter().any(|s| s == op.toolset()))
    }

    /// This filter narrowed by another (a request's headers): never wider than `self`.
    pub fn narrowed(&self, other: &Self) -> Self {
        let toolsets = match (&self.toolsets, &other.toolsets) {
            (None, theirs) => theirs.clone(),
            (ours, None) => ours.clone(),
            (Some(ours), Some(theirs)) => Some(
                ours.iter()
                    .filter(|s| theirs.contains(s))
                    .cloned()
                    .collect(),
            ),
        };
        Self {
            toolsets,
            read_only: self.read_only || other.read_only,
        }
    }
}

/// Every operation, in the order of the contract's table.
pub fn all() -> &'static [OpInfo] {
    static ALL: OnceLock<Vec<OpInfo>> = OnceLock::new();
    ALL.get_or_init(|| {
        vec![
            entry::<auth::Register>(),
            entry::<auth::Google>(),
            entry::<auth::Login>(),
            entry::<auth::Logout>(),
            entry::<auth::ChangePassword>(),
            entry::<auth::SendOtp>(),
            entry::<auth::Activate>(),
            entry::<auth::Enable2fa>(),
            entry::<auth::Disable2fa>(),
            entry::<auth::TotpEnroll>(),
            entry::<auth::TotpConfirm>(),
            entry::<users::View>(),
            entry::<users::Update>(),
            entry::<api_keys::View>(),
            entry::<api_keys::Reset>(),
            entry::<credits::List>(),
            entry::<credits::View>(),
            entry::<agent::List>(),
            entry::<agent::View>(),
            entry::<agent::Cancel>(),
            entry::<agent::Supported>(),
            entry::<agent::Analysis>(),
            entry::<billing::Rate>(),
            entry::<billing::Portal>(),
            entry::<billing::Buy>(),
            entry::<misc::Health>(),
            entry::<misc::Version>(),
            entry::<admin::ListUsers>(),
            entry::<admin::SetCredits>(),
            entry::<admin::DeleteUser>(),
            entry::<credits::Create>(),
        ]
    })
}

/// The operation with this name.
pub fn find(name: &str) -> Option<&'static OpInfo> {
    all().iter().find(|op| op.name == name)
}

/// The operations MCP serves as tools.
pub fn tools() -> impl Iterator<Item = &'static OpInfo> {
    all().iter().filter(|op| op.mcp)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{ToolFilter, clean_strings};

    #[test]
    fn toolsets_filter_and_only_narrow() {
        assert_eq!(crate::config::parse_toolsets("all"), Ok(None));
        assert_eq!(crate::config::parse_toolsets(""), Ok(None));
        assert!(
            crate::config::parse_toolsets("auth,nope")
                .unwrap_err()
                .contains("nope")
        );
        let server = ToolFilter {
            toolsets: crate::config::parse_toolsets("auth, misc").unwrap(),
            read_only: false,
        };
        let request = ToolFilter {
            toolsets: crate::config::parse_toolsets("misc,agent").unwrap(),
            read_only: true,
        };
        let both = server.narrowed(&request);
        assert_eq!(both.toolsets, Some(vec!["misc".to_string()]));
        assert!(both.read_only);
        let served: Vec<&str> = super::tools()
            .filter(|op| both.allows(op))
            .map(|op| op.name)
            .collect();
        assert_eq!(served, ["misc_health", "misc_version"]);
        for op in super::all() {
            assert!(super::TOOLSETS.contains(&op.toolset()), "{}", op.name);
        }
    }

    #[test]
    fn nul_is_refused_everywhere_and_control_characters_outside_free_text() {
        assert!(clean_strings("", &json!({"email": "a@b.co", "password": "tab\there"})).is_ok());
        assert!(clean_strings("", &json!({"description": "two\nlines"})).is_ok());
        for bad in [
            json!({"email": "a\u{0}@b.co"}),
            json!({"password": "pass\u{0}word"}),
            json!({"first_name": "Ann\u{7}"}),
            json!({"code": "12345\n"}),
            json!({"attachments": [{"name": "a\u{0}.png"}]}),
        ] {
            assert!(clean_strings("", &bad).is_err(), "{bad}");
        }
    }
}
