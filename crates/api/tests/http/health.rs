//! `/healthz` answers while the process runs; `/readyz` only while the database answers.

use std::sync::Arc;

use coffre_store::Store;
use http::StatusCode;
use serde_json::json;

use crate::support::{app, get};

async fn healthz_and_readyz_answer_ok(store: Arc<dyn Store>) {
    let app = app(store);
    for path in ["/healthz", "/readyz"] {
        let response = get(&app, path).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{path}: {}",
            response.text()
        );
        assert_eq!(response.json(), json!({"status": "ok"}), "{path}");
        assert_eq!(response.headers["content-type"], "application/json");
    }
}

async fn readyz_is_503_once_the_database_is_gone(store: Arc<dyn Store>) {
    let app = app(Arc::clone(&store));
    assert_eq!(get(&app, "/readyz").await.status, StatusCode::OK);

    store.close().await;

    let response = get(&app, "/readyz").await;
    let message = response.assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    assert_eq!(message, "The service is unavailable; try again later.");

    let alive = get(&app, "/healthz").await;
    assert_eq!(alive.status, StatusCode::OK);
    assert_eq!(alive.json(), json!({"status": "ok"}));
}

on_both_backends!(
    healthz_and_readyz_answer_ok,
    readyz_is_503_once_the_database_is_gone,
);
