//! Coffre's business rules, free of I/O: nothing here knows HTTP or SQL.

pub mod access;
pub mod audit;
pub mod batch;
pub mod delivery;
pub mod event;
pub mod hold;
pub mod idempotency;
pub mod identity_events;
pub mod ids;
pub mod ledger;
pub mod metadata;
pub mod money;
pub mod payment;
pub mod relabel;
pub mod text;
pub mod throttle;
pub mod time;
pub mod user;
pub mod webhook;
