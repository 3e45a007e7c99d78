//! Every way a request can fail answers with the envelope, the right status and code, and
//! nothing internal.

use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use coffre_api::{MAX_BODY_BYTES, MAX_MESSAGE_CHARS};
use coffre_store::Store;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::support::{INTERNALS, PANIC_TEXT, app, get, post_json, send};

async fn unknown_route_is_404(store: Arc<dyn Store>) {
    let app = app(store);
    get(&app, "/no/such/route")
        .await
        .assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
    let post = post_json(&app, "/v1/nothing", "{}").await;
    post.assert_error(StatusCode::NOT_FOUND, "NOT_FOUND");
}

async fn wrong_method_is_405_and_keeps_allow(store: Arc<dyn Store>) {
    let app = app(store);
    let response = post_json(&app, "/healthz", "{}").await;
    response.assert_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    assert_eq!(response.headers["allow"], "GET,HEAD");

    let delete = Request::delete("/test/echo").body(Body::empty()).unwrap();
    let response = send(&app, delete).await;
    response.assert_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
    assert_eq!(response.headers["allow"], "POST");
}

async fn oversized_body_with_content_length_is_413(store: Arc<dyn Store>) {
    let app = app(store);
    let body = vec![b' '; MAX_BODY_BYTES + 1];
    let request = Request::post("/test/echo")
        .header("content-type", "application/json")
        .header("content-length", body.len())
        .body(Body::from(body))
        .unwrap();
    send(&app, request)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");

    // Refused from the header alone, on any route, before anything reads the body.
    let request = Request::get("/healthz")
        .header("content-length", MAX_BODY_BYTES + 1)
        .body(Body::from(vec![b'x'; MAX_BODY_BYTES + 1]))
        .unwrap();
    send(&app, request)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}

async fn oversized_body_without_content_length_is_413(store: Arc<dyn Store>) {
    let app = app(store);
    // A body that does not announce its length, as a chunked upload: only counting while
    // reading can stop it. The JSON is valid, so nothing but the size can refuse it.
    let padding = " ".repeat(MAX_BODY_BYTES);
    let json = format!(r#"{{"name": "n",{padding} "count": 1}}"#);
    let unsized_body = Full::new(Bytes::from(json)).map_frame(|frame| frame);
    assert!(unsized_body.size_hint().upper().is_none());
    let request = Request::post("/test/echo")
        .header("content-type", "application/json")
        .body(Body::new(unsized_body))
        .unwrap();
    send(&app, request)
        .await
        .assert_error(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}

async fn a_body_at_the_limit_is_accepted(store: Arc<dyn Store>) {
    let app = app(store);
    let json = r#"{"name": "n", "count": 1}"#;
    let padding = " ".repeat(MAX_BODY_BYTES - json.len());
    let body = format!("{json}{padding}");
    assert_eq!(body.len(), MAX_BODY_BYTES);
    let response = post_json(&app, "/test/echo", body).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        response.json(),
        serde_json::json!({"name": "n", "count": 1})
    );
}

async fn body_without_json_content_type_is_415(store: Arc<dyn Store>) {
    let app = app(store);
    let json = r#"{"name": "n", "count": 1}"#;
    let missing = Request::post("/test/echo").body(Body::from(json)).unwrap();
    send(&app, missing)
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");

    let wrong = Request::post("/test/echo")
        .header("content-type", "text/plain")
        .body(Body::from(json))
        .unwrap();
    send(&app, wrong)
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
}

async fn malformed_json_is_400(store: Arc<dyn Store>) {
    let app = app(store);
    for body in [
        r#"{"name": "n", "count": "#,
        r#"{"name": "n", "count": 1} trailing"#,
        "",
        "not json",
    ] {
        let response = post_json(&app, "/test/echo", body).await;
        let message = response.assert_error(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
        assert!(message.contains("not valid JSON"), "{body:?}: {message}");
    }
}

async fn unknown_wrong_or_missing_fields_are_422_naming_the_field(store: Arc<dyn Store>) {
    let app = app(store);
    for (body, field) in [
        (r#"{"name": "n", "count": 1, "colour": "red"}"#, "colour"),
        (r#"{"name": "n", "count": "one"}"#, "count"),
        (r#"{"name": "n", "count": -1}"#, "count"),
        (r#"{"count": 1}"#, "name"),
        (r#"{"name": 5, "count": 1}"#, "name"),
    ] {
        let response = post_json(&app, "/test/echo", body).await;
        let message = response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(message.contains(field), "{body}: {message}");
    }
}

async fn a_huge_unknown_field_is_not_echoed(store: Arc<dyn Store>) {
    let app = app(store);
    let field = "f".repeat(60_000);
    let body = format!(r#"{{"name": "n", "count": 1, "{field}": 0}}"#);
    let response = post_json(&app, "/test/echo", body).await;
    let message = response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    assert!(
        message.chars().count() <= MAX_MESSAGE_CHARS + 1,
        "{message}"
    );
    assert!(response.body.len() < 1_000);
}

async fn bad_query_string_is_400(store: Arc<dyn Store>) {
    let app = app(store);
    for uri in [
        "/test/query?limit=ten",
        "/test/query?limit=5&colour=red",
        "/test/query",
        "/test/query?limit=99999999999",
    ] {
        get(&app, uri)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
    }
    let fine = get(&app, "/test/query?limit=5").await;
    assert_eq!(fine.status, StatusCode::OK);
    assert_eq!(fine.json(), serde_json::json!({"limit": 5}));
}

async fn a_panic_is_a_plain_500(store: Arc<dyn Store>) {
    let app = app(store);
    let response = get(&app, "/test/panic").await;
    let message = response.assert_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR");
    assert_eq!(message, "An internal error occurred.");
    let text = response.text();
    assert!(
        !text.contains("boom") && !text.contains(PANIC_TEXT),
        "{text}"
    );

    // The process and the router survive it.
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
}

async fn store_errors_map_to_status_and_leak_nothing(store: Arc<dyn Store>) {
    let app = app(store);
    for (kind, status, code) in [
        (
            "unavailable",
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
        ),
        (
            "contention",
            StatusCode::CONFLICT,
            "CONCURRENT_MODIFICATION",
        ),
        (
            "constraint",
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
        ),
        (
            "internal",
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
        ),
    ] {
        let response = get(&app, &format!("/test/store-error?kind={kind}")).await;
        response.assert_error(status, code);
        let text = response.text();
        for word in INTERNALS {
            assert!(!text.contains(word), "{kind} leaked {word:?}: {text}");
        }
    }
}

on_both_backends!(
    unknown_route_is_404,
    wrong_method_is_405_and_keeps_allow,
    oversized_body_with_content_length_is_413,
    oversized_body_without_content_length_is_413,
    a_body_at_the_limit_is_accepted,
    body_without_json_content_type_is_415,
    malformed_json_is_400,
    unknown_wrong_or_missing_fields_are_422_naming_the_field,
    a_huge_unknown_field_is_not_echoed,
    bad_query_string_is_400,
    a_panic_is_a_plain_500,
    store_errors_map_to_status_and_leak_nothing,
);
