//! Clara server: one binary that is both a REST backend wire-compatible with the public
//! Clara-Backend API and an MCP server exposing every Clara operation as a typed tool.
//!
//! A map of the crate, top to bottom. Each layer imports only the layers below it (a test,
//! `tests/it/layers.rs`, reads the `use crate::…` lines and fails on a cycle or a climb):
//! - [`server`]: composes the REST router, the MCP routers and the background workers;
//!   [`listener`] serves them with header timeouts and per-address connection caps.
//! - [`rest`] (axum, `/api/v1`) and [`mcp`] (rmcp: stdio, `/mcp`, `/sse`): the two thin
//!   adapters; each owns its state (MCP connection sign-in) and its own errors (unknown route,
//!   wrong method, body too large). [`openapi`] and [`schemas`] are generated documents.
//! - [`catalog`]: every operation's contract, one file per area, each `call` one line into
//!   `services`. May import `http` types; never an adapter.
//! - [`services`]: the domain, `(app, actor, typed input) -> Result<output>`. Imports no
//!   adapter, no catalog, no `http`/`axum`/`rmcp`.
//! - [`app`]: the handle (store, mailer, limiter, hasher, Google verifier, clock, config).
//! - [`store`] (all SQL), [`mail`] (lettre, outbox worker), [`billing`] (Stripe client, rate
//!   bands, webhook signatures), [`google`], [`hasher`], [`ratelimit`]: infrastructure, below
//!   the domain.
//! - Leaves: [`model`] (domain values: `User`, `Credits`, ids, emails), [`error`], [`caller`],
//!   [`clock`], [`crypto`], [`config`], [`defaults`], [`secrets`], [`telemetry`].

pub mod analysis;
pub mod app;
pub mod billing;
pub mod caller;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod defaults;
pub mod error;
pub mod google;
pub mod hasher;
pub mod listener;
pub mod mail;
pub mod mcp;
pub mod model;
pub mod openapi;
pub mod ratelimit;
pub mod rest;
pub mod schemas;
pub mod secrets;
pub mod server;
pub mod services;
pub mod store;
pub mod telemetry;
