//! Logging: `tracing` to stderr (stdout belongs to JSON-RPC under `clara stdio`), filtered by
//! `RUST_LOG` (default `info`, request spans included). Colour only when stderr is a terminal,
//! so log files and Claude Desktop's MCP logs carry no ANSI codes; or JSON lines
//! (`CLARA_LOG_FORMAT=json`) for log shippers.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,sqlx=warn,rmcp=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
}
