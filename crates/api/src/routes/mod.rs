//! The routes, one module per resource, each with its own `routes()`.

use axum::Router;

use crate::state::AppState;

mod account_update;
mod accounts;
mod audit;
mod auth;
pub(crate) mod bodies;
mod command;
mod console;
mod deliveries;
mod events;
mod fallback;
mod health;
mod history;
mod holds;
mod ledger;
mod listing;
mod openapi;
mod payments;
mod reads;
mod relabel;
mod transactions;
mod transfers;
mod users;
mod webhooks;

pub(crate) use events::event_json;
pub use events::event_renderer;
pub(crate) use fallback::{method_not_allowed, not_found};

/// Every route of the API, without middleware; [`crate::with_middleware`] adds it.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(health::routes())
        .merge(auth::routes())
        .merge(users::routes())
        .merge(audit::routes())
        .merge(accounts::routes())
        .merge(history::routes())
        .merge(transfers::routes())
        .merge(transactions::routes())
        .merge(payments::routes())
        .merge(holds::routes())
        .merge(ledger::routes())
        .merge(events::routes())
        .merge(webhooks::routes())
        .merge(deliveries::routes())
        .merge(openapi::routes())
        .merge(console::routes())
}
