//! Logging: `tracing` to stderr (stdout belongs to JSON-RPC under `clara stdio`), filtered by
//! `RUST_LOG` (default `info`, request spans included). Colour only when stderr is a terminal,
//! so log files and Claude Desktop's MCP logs carry no ANSI codes.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info,sqlx=warn,rmcp=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
