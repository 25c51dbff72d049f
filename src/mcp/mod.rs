//! The MCP adapter: every catalog operation as a typed tool (input schema, output schema,
//! structured content, title, all four annotation hints), served over stdio, Streamable HTTP
//! (`/mcp`) and legacy HTTP+SSE (`/sse` + `/messages`). Business failures are `isError` results
//! carrying `{code, message, status}`; unknown tools are JSON-RPC errors.

#[cfg(feature = "conformance")]
mod fixtures;
mod guard;
pub mod http;
mod limits;
mod open_url;
mod sse;
mod tasks;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
};

use rmcp::{
    ErrorData as McpError, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, GetTaskParams,
        GetTaskResult, Implementation, ListResourceTemplatesResult, ListToolsResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerConfig,
        Tool, ToolAnnotations,
    },
    service::RequestContext,
};
use serde_json::Value;
use tracing::Instrument;

use crate::{
    app::App,
    caller::{Caller, Credential, Surface},
    catalog::{self, Effect, OpInfo, ToolFilter},
};

/// The server instructions, from the tools this server serves (never naming one it does not).
fn instructions(filter: &ToolFilter) -> String {
    let about = [
        (
            "agent",
            "fact-check a claim, question, link or post with files, for credits, as a task",
        ),
        ("auth", "register, sign in, codes and two-factor login"),
        ("users", "the signed-in user's profile"),
        ("api_keys", "the user's API key"),
        ("credits", "the credit ledger"),
        ("billing", "buy credits through Stripe"),
        ("misc", "health and version"),
    ];
    let mut text = String::from(
        "Clara fact-checks claims, questions, links and posts (with attached files) for credits, \
         and manages the account around that.",
    );
    for (set, what) in about {
        let names: Vec<&str> = catalog::tools()
            .filter(|op| op.toolset() == set && filter.allows(op))
            .map(|op| op.name)
            .collect();
        if !names.is_empty() {
            text.push_str(&format!(" {what}: {}.", names.join(", ")));
        }
    }
    let needs_user = catalog::tools()
        .any(|op| filter.allows(op) && op.accepts.contains(catalog::Accepts::API_KEY));
    if needs_user {
        text.push_str(
            " Tools that act for a user need its API key or user token: the Authorization \
             header (HTTP), CLARA_API_KEY (stdio), or a sign-in on a connection that keeps one; \
             their user_id defaults to the caller.",
        );
    }
    if filter.read_only {
        text.push_str(" This server is read-only: only tools that change nothing are served.");
    }
    text
}

/// The sign-in state of one MCP connection (a stdio process, or one HTTP/SSE session): a
/// sign-in operation ([`Effect::SignIn`]) stores the user token here, so later tool calls on the
/// same connection act as that user without passing the token around.
#[derive(Debug, Clone, Default)]
pub struct Binding(Arc<Mutex<Option<Credential>>>);

impl Binding {
    pub fn new(initial: Option<Credential>) -> Self {
        Self(Arc::new(Mutex::new(initial)))
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Credential>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub fn get(&self) -> Option<Credential> {
        self.lock().clone()
    }
    /// Applies a successful call's effect on the connection.
    fn apply(&self, effect: Effect, used: Option<&Credential>, data: &Value) {
        match effect {
            Effect::None | Effect::OpenUrl | Effect::Task => {}
            Effect::SignIn => {
                if let Some(token) = data.get("token").and_then(Value::as_str) {
                    *self.lock() = Some(Credential::Bearer(token.to_string()));
                }
            }
            // Only a connection signed in with the revoked token is signed out.
            Effect::SignOut => {
                let mut bound = self.lock();
                if bound.as_ref() == used {
                    *bound = None;
                }
            }
        }
    }
}

/// One MCP connection's handler: a stdio process, an SSE session, or a Streamable HTTP
/// session (or a single stateless request).
#[derive(Debug, Clone)]
pub struct ClaraMcp {
    app: App,
    /// Sign-in state of this connection: starts as the connection's own credential
    /// (`CLARA_API_KEY` on stdio, the `/sse` request's header), replaced by a sign-in.
    binding: Binding,
    default_user_id: Option<String>,
    default_ip: Option<std::net::IpAddr>,
    /// A connection that lasts (stdio, SSE); Streamable HTTP decides per request.
    lasting: bool,
}

/// Who a call came from, and how: what an error detail explains.
struct Presented {
    credential: Option<Credential>,
    /// The credential came on the request itself (the Authorization header).
    explicit: bool,
    /// The connection keeps a sign-in between calls.
    keeps_sign_in: bool,
}

impl ClaraMcp {
    pub fn new(app: App) -> Self {
        Self {
            app,
            binding: Binding::default(),
            default_user_id: None,
            default_ip: None,
            lasting: false,
        }
    }

    /// Gives the connection a credential that requests without their own use (until a sign-in
    /// on the connection replaces it), and the caller's user id and address.
    pub fn with_defaults(
        mut self,
        credential: Option<Credential>,
        user_id: Option<String>,
        ip: Option<std::net::IpAddr>,
    ) -> Self {
        self.binding = Binding::new(credential);
        self.default_user_id = user_id;
        self.default_ip = ip;
        self.lasting = true;
        self
    }

    /// The credential on the request itself, if any (it wins over the connection's).
    fn explicit(context: &RequestContext<RoleServer>) -> Option<Credential> {
        context
            .extensions
            .get::<::http::request::Parts>()
            .and_then(|p| p.headers.get("authorization"))
            .and_then(|v| v.to_str().ok())
            .and_then(Credential::parse)
    }

    /// The tools this request may see and call: the server's configuration, narrowed by the
    /// request's `X-MCP-Toolsets` / `X-MCP-Readonly` headers (HTTP), never widened.
    fn filter(&self, context: &RequestContext<RoleServer>) -> ToolFilter {
        let server = ToolFilter::configured(self.app.config());
        let Some(parts) = context.extensions.get::<::http::request::Parts>() else {
            return server;
        };
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let toolsets = match header("x-mcp-toolsets") {
            // A list that does not parse narrows to nothing rather than being ignored.
            Some(list) => crate::config::parse_toolsets(list).unwrap_or(Some(Vec::new())),
            None => None,
        };
        let read_only = header("x-mcp-readonly").is_some_and(|v| {
            matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")
        });
        server.narrowed(&ToolFilter {
            toolsets,
            read_only,
        })
    }

    /// Whether a sign-in on this connection carries over to later calls: always on stdio and
    /// SSE; on Streamable HTTP only inside a session (2025-11-25), never on a stateless call.
    fn keeps_sign_in(&self, context: &RequestContext<RoleServer>) -> bool {
        self.lasting
            || context
                .extensions
                .get::<::http::request::Parts>()
                .is_some_and(|p| p.headers.contains_key("mcp-session-id"))
    }

    /// A sign-in while the request's own header already names a user would not change who
    /// later calls act as (the header wins): refused with a detail that says so. A login as
    /// the same user, or a header that is not a user's credential, is fine.
    async fn sign_in_conflict(
        &self,
        op: &OpInfo,
        args: &Value,
        caller: &Caller,
        context: &RequestContext<RoleServer>,
    ) -> Option<crate::error::Error> {
        Self::explicit(context)?;
        let who = crate::services::auth::authenticate(
            &self.app,
            caller,
            catalog::Accepts::USER_TOKEN.or(catalog::Accepts::API_KEY),
        )
        .await;
        let Ok(crate::services::auth::Actor::User { user, .. }) = who else {
            return None;
        };
        let same = op.name == "auth_login"
            && args
                .get("email")
                .and_then(Value::as_str)
                .is_some_and(|e| user.email.matches(e.trim()));
        (!same).then(|| {
            crate::error::Error::invalid(format!(
                "this request's Authorization header already acts as {}, and a header always \
                 wins over a sign-in on the connection; call {} without the header to act as \
                 someone else",
                user.email.as_str(),
                op.name
            ))
        })
    }

    /// Who is calling: the HTTP request's own credential first, else the connection's sign-in.
    fn caller(&self, context: &RequestContext<RoleServer>) -> Caller {
        let parts = context.extensions.get::<::http::request::Parts>();
        let header = |name: &str| {
            parts
                .and_then(|p| p.headers.get(name))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let credential = header("authorization")
            .as_deref()
            .and_then(Credential::parse)
            .or_else(|| self.binding.get());
        let client_ip = parts
            .and_then(|p| p.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>())
            .map(|info| info.0.ip())
            .or(self.default_ip);
        Caller {
            surface: Surface::Mcp,
            credential,
            user_id: header("user-id").or_else(|| self.default_user_id.clone()),
            client_ip,
        }
    }

    async fn call_operation(
        &self,
        op: &OpInfo,
        args: Value,
        caller: Caller,
        presented: Presented,
    ) -> CallToolResult {
        let used = caller.credential.clone();
        match (op.invoke)(self.app.clone(), caller, args).await {
            Ok(outcome) => {
                if outcome.status.is_success() {
                    self.binding.apply(op.effect, used.as_ref(), &outcome.data);
                }
                let mut result = CallToolResult::structured(outcome.data);
                result.is_error = Some(!outcome.status.is_success());
                if op.effect == Effect::SignIn && !presented.keeps_sign_in {
                    result.content.push(rmcp::model::ContentBlock::text(
                        "This connection keeps no session (stateless Streamable HTTP): send \
                         `Authorization: Bearer <token>` with the token above on every later \
                         request.",
                    ));
                }
                result
            }
            Err(err) => error_result(op, &err, &presented),
        }
    }
}

/// A failed call as a tool error. The error travels as JSON text, not as structuredContent:
/// clients validate structuredContent against the tool's output schema even on errors (the
/// TypeScript SDK does), which would hide the message behind a schema failure. Credential
/// failures carry a `detail` naming what was presented and what the tool takes.
fn error_result(op: &OpInfo, err: &crate::error::Error, presented: &Presented) -> CallToolResult {
    use crate::error::Error;
    err.log();
    let mut body = err.body();
    let takes = crate::services::auth::needs(op.accepts);
    let sent = match &presented.credential {
        None => "no credential was presented".to_string(),
        Some(c) if presented.explicit => {
            format!("{} was sent in the Authorization header", c.kind())
        }
        Some(c) => format!(
            "{} came from this connection (its sign-in or CLARA_API_KEY)",
            c.kind()
        ),
    };
    let how = if presented.keeps_sign_in {
        "send it as the Authorization header, set CLARA_API_KEY (stdio), or sign in with \
         auth_login on this connection"
    } else {
        "this connection keeps no session, so send it as `Authorization: Bearer …` on every \
         request (auth_login returns a user token)"
    };
    let detail = match err {
        // Login checks the email and password it is given: a 401 there is about those.
        Error::Unauthorized { .. } if op.accepts == crate::catalog::Accepts::BASIC => Some(
            "the email, the password or the second-factor code is wrong (or the account has \
             no password: it signs in with Google)"
                .to_string(),
        ),
        Error::MissingCredential { .. } | Error::Unauthorized { two_factor: false } => {
            Some(format!("{} takes {takes}; {sent}: {how}", op.name))
        }
        Error::Forbidden => Some(format!(
            "{} takes {takes}; {sent}. A credential acts only for its own user: leave user_id \
             (and the User-Id header or CLARA_USER_ID) out or set to that user{}",
            op.name,
            if op.accepts.contains(crate::catalog::Accepts::USER_TOKEN)
                && !op.accepts.contains(crate::catalog::Accepts::API_KEY)
            {
                ", and sign in with auth_login for a user token if an API key was sent"
            } else {
                ""
            }
        )),
        Error::Inactive => Some(format!(
            "{} needs an activated account with a first and a last name: activate it with \
             auth_send_otp (ACTIVATION) and auth_activate, and set the names with user_update",
            op.name
        )),
        _ => None,
    };
    if body.detail.is_none() {
        body.detail = detail;
    } else if let (Some(more), Error::MissingCredential { .. }) = (detail, err) {
        body.detail = Some(more);
    }
    let text = serde_json::to_string(&body).unwrap_or_default();
    CallToolResult::error(vec![rmcp::model::ContentBlock::text(text)])
}

fn strip_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("description");
            map.values_mut().for_each(strip_descriptions);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_descriptions),
        _ => {}
    }
}

/// The tool list, generated once from the catalog.
pub fn tools() -> &'static [Tool] {
    static TOOLS: OnceLock<Vec<Tool>> = OnceLock::new();
    TOOLS.get_or_init(|| catalog::tools().map(tool).collect())
}

fn tool(op: &OpInfo) -> Tool {
    let hints = op.hints;
    let credential = if op.accepts.is_public()
        || op.accepts.contains(catalog::Accepts::PUBLIC_KEY)
        || op.accepts == catalog::Accepts::BASIC
    {
        "Needs no credential.".to_string()
    } else {
        format!("Needs {}.", crate::services::auth::needs(op.accepts))
    };
    let description = format!("{} {credential}", op.description);
    // Output schemas stay exact (clients validate results against them) but lose their
    // descriptions here: the tool list is read into a model's context on every turn, and the
    // documented fields are in `schemas/` and the OpenAPI document.
    let mut output = Value::Object(op.output_schema.clone());
    strip_descriptions(&mut output);
    let output = match output {
        Value::Object(map) => map,
        _ => op.output_schema.clone(),
    };
    // A root `anyOf` ("at least one of these fields") is in `schemas/` and the OpenAPI
    // document; function-calling back ends refuse it at the root of a tool's parameters.
    let mut input = op.input_schema.clone();
    input.remove("anyOf");
    Tool::new(op.name, description, Arc::new(input))
        .with_title(op.title)
        .with_raw_output_schema(Arc::new(output))
        .with_annotations(ToolAnnotations::from_raw(
            Some(op.title.to_string()),
            Some(hints.read_only),
            Some(hints.destructive),
            Some(hints.idempotent),
            Some(hints.open_world),
        ))
}

impl ServerHandler for ClaraMcp {
    fn get_info(&self) -> ServerConfig {
        #[cfg(not(feature = "conformance"))]
        let capabilities = rmcp::model::ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_tasks()
            .build();
        #[cfg(feature = "conformance")]
        let capabilities = fixtures::capabilities();
        let mut info = Implementation::new("clara", env!("CARGO_PKG_VERSION"));
        info.title = Some("Clara".into());
        ServerConfig::new(capabilities)
            .with_server_info(info)
            .with_instructions(instructions(&ToolFilter::configured(self.app.config())))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let filter = self.filter(&context);
        #[allow(unused_mut)]
        let mut tools: Vec<Tool> = catalog::tools()
            .zip(tools())
            .filter(|(op, _)| filter.allows(op))
            .map(|(_, tool)| tool.clone())
            .collect();
        #[cfg(feature = "conformance")]
        tools.extend(fixtures::tools());
        Ok(ListToolsResult::with_all_items(tools))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        let filter = ToolFilter::configured(self.app.config());
        let found = catalog::tools()
            .zip(tools())
            .find(|(op, _)| op.name == name && filter.allows(op))
            .map(|(_, tool)| tool.clone());
        #[cfg(feature = "conformance")]
        let found = found.or_else(|| fixtures::tools().into_iter().find(|t| t.name == name));
        found
    }

    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let filter = self.filter(&context);
        let Some(op) = catalog::find(&request.name).filter(|op| filter.allows(op)) else {
            #[cfg(feature = "conformance")]
            if fixtures::is_fixture(&request.name) {
                return fixtures::call_tool(request, context).await;
            }
            return Err(McpError::invalid_params(
                format!("tool not found: {}", request.name),
                None,
            ));
        };
        if op.effect == Effect::OpenUrl
            && let Some(resumed) = open_url::resume(&self.app, &request)
        {
            // The retry of an input-required call: the output it sealed, not a second run.
            let output = resumed.map_err(|why| McpError::invalid_params(why, None))?;
            return Ok(CallToolResult::structured(output).into());
        }
        let caller = self.caller(&context);
        let args = Value::Object(request.arguments.take().unwrap_or_default());
        let presented = Presented {
            credential: caller.credential.clone(),
            explicit: Self::explicit(&context).is_some(),
            keeps_sign_in: self.keeps_sign_in(&context),
        };
        if op.effect == Effect::SignIn
            && let Some(conflict) = self.sign_in_conflict(op, &args, &caller, &context).await
        {
            return Ok(error_result(op, &conflict, &presented).into());
        }
        // Read before the arguments (attachments and all) move into the call.
        let wait = args.get("wait").and_then(Value::as_bool) == Some(true);
        let span = tracing::info_span!("tool", name = op.name);
        let result = self
            .call_operation(op, args, caller, presented)
            .instrument(span)
            .await;
        if op.effect == Effect::Task {
            return Ok(tasks::answer(&self.app, &context, wait, result).await);
        }
        if op.effect == Effect::OpenUrl {
            let ask = open_url::how(&context);
            return Ok(open_url::answer(&self.app, &context, op.name, ask, result).await);
        }
        Ok(result.into())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        #[allow(unused_mut)]
        let mut listed = tasks::list_templates();
        #[cfg(feature = "conformance")]
        {
            let fixtures = fixtures::listings::templates();
            listed
                .resource_templates
                .extend(fixtures.resource_templates);
            listed.ttl_ms = fixtures.ttl_ms;
            listed.cache_scope = fixtures.cache_scope;
        }
        Ok(listed)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        #[cfg(feature = "conformance")]
        if !request.uri.starts_with(tasks::URI_PREFIX) {
            return fixtures::listings::read(request);
        }
        let caller = self.caller(&context);
        Ok(tasks::read(&self.app, caller, &request.uri).await?.into())
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, McpError> {
        #[cfg(feature = "conformance")]
        if !request.task_id.starts_with("task_") {
            return Ok(GetTaskResult::new(
                fixtures::tasks::manager().get_task(&request.task_id)?,
            ));
        }
        let caller = self.caller(&context);
        Ok(GetTaskResult::new(
            tasks::get(&self.app, caller, &request.task_id).await?,
        ))
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        #[cfg(feature = "conformance")]
        if !request.task_id.starts_with("task_") {
            return fixtures::tasks::manager().cancel_task(&request.task_id);
        }
        let caller = self.caller(&context);
        tasks::cancel(&self.app, caller, &request.task_id).await
    }

    #[cfg(feature = "conformance")]
    fixtures::delegate_handlers!();
}

/// `clara stdio`: MCP over stdin/stdout until stdin closes or the process is told to stop.
/// `ready` runs once the client has initialized (the background workers start there, so that
/// a launch answers `initialize` without waiting for them).
pub async fn serve_stdio(
    app: App,
    api_key: Option<String>,
    user_id: Option<String>,
    ready: impl FnOnce(),
) -> anyhow::Result<()> {
    let credential = api_key
        .as_deref()
        .and_then(Credential::parse)
        .map(|c| match c {
            // CLARA_API_KEY holds a bare token: treat it as a Bearer token unless it says otherwise.
            Credential::Raw(token) => Credential::Bearer(token),
            other => other,
        });
    // Which user the key is goes to the log, beside the handshake rather than before it.
    let check = credential
        .clone()
        .map(|c| tokio::spawn(log_stdio_identity(app.clone(), c, user_id.clone())));
    let handler = ClaraMcp::new(app).with_defaults(credential, user_id, None);
    let running = match handler.serve(rmcp::transport::stdio_pipes()).await {
        Ok(running) => running,
        // The client went away before initializing (a probe, a cancelled launch): not an error.
        Err(rmcp::service::ServerInitializeError::ConnectionClosed(_)) => {
            tracing::info!("stdin closed before the client initialized");
            if let Some(check) = check {
                let _ = check.await;
            }
            return Ok(());
        }
        Err(err) => return Err(err.into()),
    };
    ready();
    running.waiting().await?;
    Ok(())
}

/// Logs which user `CLARA_API_KEY` acts as, or why it acts as nobody.
async fn log_stdio_identity(app: App, credential: Credential, user_id: Option<String>) {
    let kind = credential.kind();
    let caller = Caller {
        surface: Surface::Mcp,
        credential: Some(credential),
        user_id,
        client_ip: None,
    };
    let accepts = catalog::Accepts::USER_TOKEN.or(catalog::Accepts::API_KEY);
    match crate::services::auth::authenticate(&app, &caller, accepts).await {
        Ok(crate::services::auth::Actor::User { user, .. }) => {
            tracing::info!(user = %user.id, "CLARA_API_KEY acts as this user");
        }
        Ok(_) | Err(crate::error::Error::Forbidden) => tracing::warn!(
            "CLARA_USER_ID does not match the user of CLARA_API_KEY: tools that act for a \
             user will answer 403; fix CLARA_USER_ID or leave it out"
        ),
        Err(_) => tracing::warn!(
            "CLARA_API_KEY is not a live API key or user token ({kind}): tools that act for a \
             user will answer 401 until auth_login; copy the key from api_key_view"
        ),
    }
}
