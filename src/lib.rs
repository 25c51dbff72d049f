//! Clara server: one binary that is both a REST backend wire-compatible with the public
//! Clara-Backend API and an MCP server exposing every Clara operation as a typed tool.
//!
//! A map of the crate:
//! - [`config`]: the CLI and every setting (flag = env var).
//! - [`app`]: the shared [`app::App`] handle and [`app::serve`], the testable HTTP entry point.
//! - [`catalog`]: every operation defined once; REST, MCP, schemas and OpenAPI come from it.
//! - [`services`]: the domain, one typed function per operation.
//! - [`store`]: all SQL (sqlx `AnyPool` over SQLite or PostgreSQL) and the migrations.
//! - [`rest`]: the axum adapter under `/api/v1`. [`mcp`]: the rmcp adapter (stdio, `/mcp`, `/sse`).
//! - [`error`]: the one domain error and its documented messages. [`caller`]: who is calling.
//! - [`openapi`], [`schemas`]: generated documents.

pub mod app;
pub mod caller;
pub mod catalog;
pub mod config;
pub mod crypto;
pub mod error;
pub mod mail;
pub mod mcp;
pub mod openapi;
pub mod ratelimit;
pub mod rest;
pub mod schemas;
pub mod secrets;
pub mod services;
pub mod store;
pub mod telemetry;
