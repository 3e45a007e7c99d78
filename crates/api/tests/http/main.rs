//! HTTP tests through the real router and middleware, each run on both store backends.

// Test helpers outside `#[test]` functions may unwrap, index and panic like the tests do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

#[macro_use]
mod support;

mod auth;
mod bank;
mod concurrency;
mod connections;
mod console;
mod database_loss;
mod deliveries;
mod edge;
mod errors;
mod events;
mod health;
mod history;
mod holds;
mod idempotency;
mod ledger;
mod limits;
mod logging;
mod metadata;
mod openapi;
mod payments;
mod probing;
mod request_id;
mod resource_metadata;
mod serve;
mod transactions;
mod users;
mod webhooks;
