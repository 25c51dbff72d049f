//! The one integration-test binary.

mod support;

mod abuse;
mod accounts;
mod accounts_mcp;
mod agent;
mod bad_input;
mod billing;
mod catalog;
mod cli;
mod google;
mod identity;
mod layers;
mod llm;
mod mail;
mod misc;
mod parity;
mod security;
mod toolsets;
