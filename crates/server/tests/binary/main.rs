//! The `coffre` binary run as a newcomer and an operator would: no settings, bad settings,
//! PostgreSQL, signals, the subcommands.
// Test helpers outside #[test] functions fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

mod commands;
mod faults;
mod newcomer;
mod postgres;
mod settings;
mod support;
mod tamper;
mod webhooks;
