//! Command line and environment: every setting is a flag and an env var (clap derive).
//! Secrets are never printed; `Settings`' `Debug` redacts them.

use std::{net::SocketAddr, path::PathBuf};

use clap::{Args, Parser, Subcommand};

/// Clara server: the Clara REST API and MCP server in one binary.
#[derive(Debug, Parser)]
#[command(name = "clara", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log lines as `text` (colour only when stderr is a terminal) or `json` (one object per
    /// line, for log shippers). Logs always go to stderr.
    #[arg(long, env = "CLARA_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve REST at /api/v1, MCP Streamable HTTP at /mcp and legacy MCP SSE at /sse + /messages.
    Serve(Settings),
    /// Serve MCP over stdin/stdout (Claude Desktop). Logs go to stderr.
    Stdio(Settings),
    /// Apply database migrations and exit.
    Migrate(Settings),
    /// Billing maintenance.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// Write the JSON Schemas and the OpenAPI document into `schemas/` (or check them).
    Schemas {
        /// Fail if the files differ from what the code generates, instead of writing them.
        #[arg(long)]
        check: bool,
        /// Directory to write to or check.
        #[arg(long, default_value = "schemas")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Fetch the recent complete Checkout Sessions from Stripe and credit any that the webhook
    /// missed (idempotent: nothing is credited twice).
    Reconcile {
        /// How far back to look: `3d`, `12h`, `90m` or seconds.
        #[arg(long, default_value = "3d", value_parser = parse_span)]
        since: i64,
        #[command(flatten)]
        settings: Settings,
    },
}

/// Options only `serve` uses (HTTP), and only `stdio` uses.
const HTTP_ONLY: [&str; 11] = [
    "bind",
    "allowed_origins",
    "allowed_hosts",
    "max_mcp_sessions",
    "max_mcp_sessions_per_address",
    "max_connections_per_address",
    "trusted_proxies",
    "header_timeout_secs",
    "body_timeout_secs",
    "max_upload_bytes",
    "stripe_webhook_secret",
];
const STDIO_ONLY: [&str; 2] = ["api_key", "user_id"];

impl Cli {
    /// Parses the command line; each subcommand's `--help` lists only the options it uses (the
    /// others are hidden there, and still accepted, so one environment serves every command).
    pub fn parse_args() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let hide = |mut command: clap::Command, ids: &[&str]| {
            for id in ids {
                command = command.mut_arg(*id, |a| a.hide(true));
            }
            command
        };
        let command = Self::command()
            .mut_subcommand("serve", |c| hide(c, &STDIO_ONLY))
            .mut_subcommand("stdio", |c| hide(c, &HTTP_ONLY))
            .mut_subcommand("migrate", |c| hide(hide(c, &HTTP_ONLY), &STDIO_ONLY));
        let matches = command.get_matches();
        Self::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// `3d`, `12h`, `90m`, `45s` or a bare number of seconds.
fn parse_span(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&text[..at], c),
        _ => (text, 's'),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a number with d, h, m or s"))?;
    let unit = match unit {
        'd' => 86_400,
        'h' => 3_600,
        'm' => 60,
        's' => 1,
        other => return Err(format!("unknown unit {other:?}; use d, h, m or s")),
    };
    n.checked_mul(unit)
        .filter(|secs| *secs > 0)
        .ok_or_else(|| format!("{text:?}: must be positive"))
}

/// Runtime settings shared by `serve`, `stdio` and `migrate`.
#[derive(Clone, Args)]
pub struct Settings {
    /// Where the embedded defaults live: SQLite file, mail outbox, generated secrets.
    #[arg(long, env = "CLARA_DATA_DIR", default_value_os_t = default_data_dir(),
          value_parser = expand_home)]
    pub data_dir: PathBuf,

    /// `sqlite://…` or `postgres://…` [default: sqlite://$CLARA_DATA_DIR/clara.db].
    #[arg(long, env = "CLARA_DATABASE_URL")]
    pub database_url: Option<String>,

    /// HTTP listen address.
    #[arg(long, env = "CLARA_BIND", default_value = "127.0.0.1:8000")]
    pub bind: SocketAddr,

    /// Server secret for token MACs [default: generated once into $CLARA_DATA_DIR/secret.key].
    #[arg(long, env = "CLARA_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// The "Public API Key" auth mode [default: generated once into $CLARA_DATA_DIR/public_api.key].
    #[arg(long, env = "CLARA_PUBLIC_API_KEY", hide_env_values = true)]
    pub public_api_key: Option<String>,

    /// The admin "Private API Key" auth mode [default: unset, the mode is disabled].
    #[arg(long, env = "CLARA_PRIVATE_API_KEY", hide_env_values = true)]
    pub private_api_key: Option<String>,

    /// Origin allow-list for /mcp, /sse and /messages, comma separated (`https://app.example.com`,
    /// `http://localhost:*`) [default: none: only requests without an Origin, or from localhost].
    #[arg(long, env = "CLARA_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Host header allow-list for /mcp, /sse and /messages (DNS-rebinding protection), comma
    /// separated; `*` allows any [default: localhost, 127.0.0.1, ::1 and the bind address].
    #[arg(long, env = "CLARA_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// `smtps://user:pass@host:465` (TLS), `smtp://user:pass@host:587?tls=required` (STARTTLS) or
    /// `smtp://host:port` (plain, for a local relay) [default: unset: every mail is written as an
    /// `.eml` file to $CLARA_DATA_DIR/outbox/].
    #[arg(long, env = "CLARA_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Sender of every mail.
    #[arg(
        long,
        env = "CLARA_MAIL_FROM",
        default_value = "Clara <noreply@localhost>"
    )]
    pub mail_from: String,

    /// Front-end base URL for links in mails and Stripe return URLs.
    #[arg(
        long,
        env = "CLARA_CLIENT_URL",
        default_value = "http://localhost:3000"
    )]
    pub client_url: String,

    /// Requests per credential (Authorization value, else client IP): `N/s`, `N/m` or `N/h`.
    #[arg(long, env = "CLARA_RATE_LIMIT", default_value = "10/s")]
    pub rate_limit: crate::ratelimit::Limit,

    /// Google OAuth client id that sign-in tokens must be issued for [default: unset: Google
    /// sign-in answers 401].
    #[arg(long, env = "CLARA_GOOGLE_CLIENT_ID")]
    pub google_client_id: Option<String>,

    /// Where Google's signing keys (JWKS) are fetched from.
    #[arg(long, env = "CLARA_GOOGLE_JWKS_URL", default_value = crate::defaults::GOOGLE_JWKS_URL)]
    pub google_jwks_url: String,

    /// Stripe secret key (`sk_live_…`/`sk_test_…`) [default: unset: billing disabled; Rate still
    /// answers, Buy and Portal answer 503].
    #[arg(long, env = "CLARA_STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,

    /// Signing secret of the webhook endpoint `/api/v1/stripe/settle` (`whsec_…`).
    #[arg(long, env = "CLARA_STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,

    /// Base URL of the Stripe API [default: Stripe's own] (tests point it at a stand-in).
    #[arg(long, env = "CLARA_STRIPE_API_BASE")]
    pub stripe_api_base: Option<String>,

    /// Credit rate bands: `lower-upper:credits_per_usd:stripe_price_id`, comma separated,
    /// amounts in whole US dollars.
    #[arg(long, env = "CLARA_CREDIT_RATES", default_value = crate::billing::rates::DEFAULT)]
    pub credit_rates: crate::billing::Rates,

    /// Free credits granted at registration, as a "Free credits on signup." entry.
    #[arg(long, env = "CLARA_SIGNUP_CREDITS", default_value_t = 0)]
    pub signup_credits: u32,

    /// Live MCP sessions allowed on each of Streamable HTTP and SSE; new ones past it get 503.
    #[arg(long, env = "CLARA_MCP_MAX_SESSIONS", default_value_t = 2000)]
    pub max_mcp_sessions: usize,

    /// Live MCP sessions one client address may hold on each of Streamable HTTP and SSE.
    #[arg(
        long,
        env = "CLARA_MCP_MAX_SESSIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    pub max_mcp_sessions_per_address: usize,

    /// Open HTTP connections one client address may hold; more are closed at once.
    #[arg(long, env = "CLARA_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 512)]
    pub max_connections_per_address: usize,

    /// Reverse proxies (IP addresses, comma separated) whose `X-Forwarded-For` header names the
    /// client; from anyone else it is ignored [default: none].
    #[arg(long, env = "CLARA_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Seconds a client may take to send its request headers.
    #[arg(long, env = "CLARA_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Seconds a client may take to send a request body.
    #[arg(long, env = "CLARA_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,

    /// Largest multipart upload the REST API reads, in bytes (all files of one request).
    #[arg(long, env = "CLARA_MAX_UPLOAD_BYTES", default_value_t = crate::defaults::UPLOAD_LIMIT)]
    pub max_upload_bytes: usize,

    /// Credits charged per analysis (refunded when the analysis fails).
    #[arg(long, env = "CLARA_ANALYSIS_COST", default_value_t = 20)]
    pub analysis_cost: u32,

    /// Analyses this process runs at once [default: the core count].
    #[arg(long, env = "CLARA_AGENT_WORKERS")]
    pub agent_workers: Option<usize>,

    /// Seconds one analysis may run before it fails (and is refunded).
    #[arg(long, env = "CLARA_AGENT_TIMEOUT_SECS", default_value_t = 600)]
    pub agent_timeout_secs: u64,

    /// Seconds a worker's claim on a task lasts without renewal (it renews every third of it);
    /// a task whose process died is taken up again after it.
    #[arg(long, env = "CLARA_AGENT_LEASE_SECS", default_value_t = 30)]
    pub agent_lease_secs: u64,

    /// OpenAI-compatible chat-completions base URL (e.g. `http://127.0.0.1:11434/v1` for
    /// Ollama, `https://api.openai.com/v1`) [default: unset: the offline engine].
    #[arg(long, env = "CLARA_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,

    /// API key for the model server (sent as a Bearer token).
    #[arg(long, env = "CLARA_LLM_API_KEY", hide_env_values = true)]
    pub llm_api_key: Option<String>,

    /// The model name, required with `CLARA_LLM_BASE_URL`.
    #[arg(long, env = "CLARA_LLM_MODEL")]
    pub llm_model: Option<String>,

    /// A SearXNG instance (its JSON API must be enabled) that supplies evidence [default:
    /// unset: the model verifies alone, and results say no retrieval took place].
    #[arg(long, env = "CLARA_SEARCH_URL")]
    pub search_url: Option<String>,

    /// Send attached images to the model (a vision model).
    #[arg(long, env = "CLARA_LLM_VISION", default_value_t = false, action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub llm_vision: bool,

    /// Transcribe audio and video with this model through `/audio/transcriptions` [default:
    /// unset: not transcribed].
    #[arg(long, env = "CLARA_LLM_TRANSCRIBE_MODEL")]
    pub llm_transcribe_model: Option<String>,

    /// Seconds one model, search or page request may take.
    #[arg(long, env = "CLARA_LLM_TIMEOUT_SECS", default_value_t = 60)]
    pub llm_timeout_secs: u64,

    /// Tokens (prompt and completion, as the server reports them) one analysis may spend; past
    /// it the analysis fails and is refunded.
    #[arg(long, env = "CLARA_LLM_TOKEN_BUDGET", default_value_t = 60_000)]
    pub llm_token_budget: u64,

    /// Web searches per claim.
    #[arg(long, env = "CLARA_SEARCHES_PER_CLAIM", default_value_t = 3)]
    pub searches_per_claim: usize,

    /// MCP tool groups to serve, comma separated: auth, users, api_keys, credits, billing,
    /// agent, misc (or all).
    #[arg(long, env = "CLARA_TOOLSETS", default_value = "all")]
    pub toolsets: String,

    /// Serve only MCP tools that are read-only (readOnlyHint).
    #[arg(long, env = "CLARA_READ_ONLY", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub read_only: bool,

    /// stdio only: the API key or user token the MCP session acts as.
    #[arg(long, env = "CLARA_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// stdio only: the user id the MCP session acts as (optional, checked against the key).
    #[arg(long, env = "CLARA_USER_ID")]
    pub user_id: Option<String>,
}

/// A comma-separated toolset list: `None` for all (`all` or empty); an unknown name is an
/// error naming the known ones.
pub fn parse_toolsets(list: &str) -> Result<Option<Vec<String>>, String> {
    let names: Vec<String> = list
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(None);
    }
    let known = crate::defaults::TOOLSETS;
    if let Some(bad) = names.iter().find(|n| !known.contains(&n.as_str())) {
        return Err(format!(
            "unknown toolset {bad:?}: the toolsets are {}",
            known.join(", ")
        ));
    }
    Ok(Some(names))
}

/// The platform's data directory for Clara: `$XDG_DATA_HOME/clara` (`~/.local/share/clara`) on
/// Linux, `~/Library/Application Support/clara` on macOS, `%APPDATA%\\clara` on Windows; never
/// the working directory, which stdio clients choose (`./data` only when there is no home).
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir().map_or_else(|| PathBuf::from("./data"), |d| d.join("clara"))
}

/// `~` and `~/…` expand to the home directory (a client's config often passes them unexpanded).
fn expand_home(raw: &str) -> Result<PathBuf, String> {
    if raw.trim().is_empty() {
        return Err("the data directory must not be empty".into());
    }
    match raw.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = dirs::home_dir().ok_or("~ is used but there is no home directory")?;
            Ok(home.join(rest.trim_start_matches('/')))
        }
        _ => Ok(PathBuf::from(raw)),
    }
}

impl Settings {
    /// The database URL, defaulting to a SQLite file inside the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("clara.db").display()),
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url()))
            .field("bind", &self.bind)
            .field("secret_key", &redact(&self.secret_key))
            .field("public_api_key", &redact(&self.public_api_key))
            .field("private_api_key", &redact(&self.private_api_key))
            .field("allowed_origins", &self.allowed_origins)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("mail_from", &self.mail_from)
            .field("client_url", &self.client_url)
            .field("rate_limit", &self.rate_limit)
            .field("google_client_id", &self.google_client_id)
            .field("google_jwks_url", &self.google_jwks_url)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("stripe_secret_key", &redact(&self.stripe_secret_key))
            .field(
                "stripe_webhook_secret",
                &redact(&self.stripe_webhook_secret),
            )
            .field("stripe_api_base", &self.stripe_api_base)
            .field("credit_rates", &self.credit_rates)
            .field("signup_credits", &self.signup_credits)
            .field("max_mcp_sessions", &self.max_mcp_sessions)
            .field(
                "max_mcp_sessions_per_address",
                &self.max_mcp_sessions_per_address,
            )
            .field("analysis_cost", &self.analysis_cost)
            .field("agent_workers", &self.agent_workers)
            .field("agent_timeout_secs", &self.agent_timeout_secs)
            .field("agent_lease_secs", &self.agent_lease_secs)
            .field("llm_base_url", &self.llm_base_url)
            .field("llm_api_key", &redact(&self.llm_api_key))
            .field("llm_model", &self.llm_model)
            .field("search_url", &self.search_url)
            .field("llm_vision", &self.llm_vision)
            .field("llm_transcribe_model", &self.llm_transcribe_model)
            .field("toolsets", &self.toolsets)
            .field("read_only", &self.read_only)
            .field("api_key", &redact(&self.api_key))
            .field("user_id", &self.user_id)
            .finish()
    }
}

/// Hides the password of a `scheme://user:password@host/…` URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:<redacted>{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_expands_in_the_data_directory() {
        let home = dirs::home_dir().unwrap();
        assert_eq!(expand_home("~").unwrap(), home);
        assert_eq!(
            expand_home("~/clara-data").unwrap(),
            home.join("clara-data")
        );
        assert_eq!(
            expand_home("/srv/clara").unwrap(),
            PathBuf::from("/srv/clara")
        );
        assert_eq!(expand_home("~other/x").unwrap(), PathBuf::from("~other/x"));
        assert!(expand_home(" ").is_err());
        assert!(default_data_dir().ends_with("clara"));
    }

    #[test]
    fn spans_parse() {
        assert_eq!(parse_span("3d"), Ok(3 * 86_400));
        assert_eq!(parse_span("12h"), Ok(43_200));
        assert_eq!(parse_span("90"), Ok(90));
        assert!(parse_span("0d").is_err() && parse_span("3w").is_err() && parse_span("x").is_err());
    }

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://clara:hunter2@db:5432/clara"),
            "postgres://clara:<redacted>@db:5432/clara"
        );
        assert_eq!(
            redact_url("sqlite://./data/clara.db"),
            "sqlite://./data/clara.db"
        );
    }
}
