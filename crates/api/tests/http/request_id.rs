//! `X-Request-Id`: echoed when sane, generated otherwise, on every response and error body,
//! and handed to handlers.

use std::sync::Arc;

use axum::body::Body;
use coffre_api::REQUEST_ID_HEADER;
use coffre_store::Store;
use http::{HeaderValue, Request, StatusCode};
use uuid::Uuid;

use crate::support::{app, get, send};

fn get_with_id(uri: &str, id: HeaderValue) -> Request<Body> {
    Request::get(uri)
        .header(REQUEST_ID_HEADER, id)
        .body(Body::empty())
        .unwrap()
}

fn assert_generated(id: &str) {
    let uuid = Uuid::parse_str(id).unwrap_or_else(|_| panic!("{id:?} is not a UUID"));
    assert_eq!(uuid.get_version_num(), 7, "{id}");
}

async fn a_sane_id_is_echoed_everywhere(store: Arc<dyn Store>) {
    let app = app(store);
    for id in ["abc-123", "req_01HZX3.retry:2", &"a".repeat(128)] {
        let ok = send(
            &app,
            get_with_id("/healthz", HeaderValue::from_str(id).unwrap()),
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK);
        assert_eq!(ok.request_id(), id);

        let error = send(
            &app,
            get_with_id("/nowhere", HeaderValue::from_str(id).unwrap()),
        )
        .await;
        error.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_eq!(error.request_id(), id);

        let seen = send(
            &app,
            get_with_id("/test/request-id", HeaderValue::from_str(id).unwrap()),
        );
        assert_eq!(seen.await.text(), id, "the handler sees the same id");
    }
}

async fn an_insane_id_is_replaced(store: Arc<dyn Store>) {
    let app = app(store);
    for id in [
        HeaderValue::from_str(&"a".repeat(129)).unwrap(),
        HeaderValue::from_static("has spaces"),
        HeaderValue::from_static("slash/and\"quote"),
        HeaderValue::from_static(""),
        HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
    ] {
        let ok = send(&app, get_with_id("/healthz", id.clone())).await;
        assert_ne!(ok.request_id().as_bytes(), id.as_bytes());
        assert_generated(ok.request_id());

        let error = send(&app, get_with_id("/nowhere", id.clone())).await;
        error.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
        assert_generated(error.request_id());
    }
}

async fn without_an_id_each_request_gets_its_own(store: Arc<dyn Store>) {
    let app = app(store);
    let first = get(&app, "/healthz").await;
    let second = get(&app, "/healthz").await;
    assert_generated(first.request_id());
    assert_generated(second.request_id());
    assert_ne!(first.request_id(), second.request_id());

    let seen = get(&app, "/test/request-id").await;
    assert_eq!(seen.text(), seen.request_id());
}

on_both_backends!(
    a_sane_id_is_echoed_everywhere,
    an_insane_id_is_replaced,
    without_an_id_each_request_gets_its_own,
);
