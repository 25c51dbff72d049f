//! The one integration-test binary.

mod support;

mod bad_input;
mod catalog;
mod misc;
mod parity;
