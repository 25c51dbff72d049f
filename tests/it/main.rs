//! The one integration-test binary.

mod support;

mod accounts;
mod bad_input;
mod catalog;
mod misc;
mod parity;
