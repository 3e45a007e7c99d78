//! What probing the release binary broke (issue 15, item 7), one test each: bodies that are
//! JSON but not the expected object, charsets, control characters in query strings, echoed
//! filters, frozen parties of a payment, and the in-flight bounds and body deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use coffre_api::{
    AppState, Json, MAX_IN_FLIGHT, MAX_IN_FLIGHT_PER_CLIENT, MAX_MESSAGE_CHARS, routes,
    with_middleware,
};
use coffre_store::Store;
use http::{Request, StatusCode};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::bank::bank;
use crate::support::{TestResponse, admin, app, call, new_key, post_keyed, send, settings, user};

// Multi-threaded for the hundreds of held requests; the rest does not mind.
on_both_backends!(
    multi_thread: json_of_the_wrong_shape_is_422_and_broken_json_400,
    only_utf8_json_is_accepted,
    control_characters_in_query_strings_are_422,
    an_unknown_audit_action_is_not_echoed_whole,
    frozen_parties_cannot_start_a_payment,
    the_in_flight_bound_is_one_for_the_whole_process,
    one_client_cannot_take_most_of_the_in_flight_bound,
    shed_requests_cost_no_rate_limit_budget,
);

async fn json_of_the_wrong_shape_is_422_and_broken_json_400(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let (_, admin_token) = admin(&store, &app, "admin@probe.test").await;
    let (id, _) = user(&app, "someone@probe.test").await;
    let uri = format!("/v1/users/{id}");
    for body in [
        json!({"role": ["admin"]}),
        json!({"role": 1}),
        json!({"disabled": "yes"}),
        json!([null, null]),
        json!(["admin", true]),
        json!("admin"),
        json!(null),
    ] {
        let response = call(&app, "PATCH", &uri, &admin_token, Some(body)).await;
        response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    }
    // Nothing above changed the user.
    let listed = call(&app, "GET", "/v1/users", &admin_token, None).await;
    let someone = listed.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|user| user["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(someone["role"], "user");
    assert_eq!(someone["disabled"], false);

    // A struct read from an array was the other half of the bug, on every endpoint.
    let echoed = crate::support::post_json(&app, "/test/echo", r#"["n", 1]"#).await;
    let message = echoed.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    assert!(message.contains("object"), "{message}");
    let login = crate::support::post_json(&app, "/v1/auth/login", "[]").await;
    login.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");

    // Bytes that are not JSON stay 400.
    let broken = Request::patch(&uri)
        .header("authorization", format!("Bearer {admin_token}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"role": "#))
        .unwrap();
    send(&app, broken)
        .await
        .assert_error(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
}

async fn only_utf8_json_is_accepted(store: Arc<dyn Store>) {
    let app = app(store);
    let echo = |content_type: &'static str| {
        let app = app.clone();
        async move {
            let request = Request::post("/test/echo")
                .header("content-type", content_type)
                .body(Body::from(r#"{"name": "n", "count": 1}"#))
                .unwrap();
            send(&app, request).await
        }
    };
    for refused in [
        "application/json; charset=utf-16",
        "application/json;charset=UTF-16LE",
        "application/json; charset=latin1",
        "application/json; charset=\"utf-32\"",
        "application/json; charset=",
    ] {
        echo(refused)
            .await
            .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    }
    for accepted in [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON; Charset=\"utf-8\"",
        "application/problem+json",
    ] {
        let response = echo(accepted).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{accepted}: {}",
            response.text()
        );
    }
}

async fn control_characters_in_query_strings_are_422(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let (_, token) = admin(&store, &app, "admin@probe.test").await;
    for query in [
        "resource_type=%00",
        "resource_id=a%00b",
        "resource_type=account&resource_id=%01",
        "action=LOGIN%0A",
        "resource_id=%7F",
    ] {
        let response = call(
            &app,
            "GET",
            &format!("/v1/audit-events?{query}"),
            &token,
            None,
        )
        .await;
        let message = response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
        assert!(message.contains("control characters"), "{query}: {message}");
    }
    let fine = call(
        &app,
        "GET",
        "/v1/audit-events?resource_type=user&resource_id=%C3%A9t%C3%A9",
        &token,
        None,
    )
    .await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.text());
}

async fn an_unknown_audit_action_is_not_echoed_whole(store: Arc<dyn Store>) {
    let app = app(store.clone());
    let (_, token) = admin(&store, &app, "admin@probe.test").await;
    let action = "X".repeat(10_000);
    let response = call(
        &app,
        "GET",
        &format!("/v1/audit-events?action={action}"),
        &token,
        None,
    )
    .await;
    let message = response.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    assert!(message.starts_with("unknown action"), "{message}");
    assert!(
        message.chars().count() <= MAX_MESSAGE_CHARS + 1,
        "{} characters",
        message.chars().count()
    );
    assert!(response.body.len() < 1_000, "{} bytes", response.body.len());
}

async fn frozen_parties_cannot_start_a_payment(store: Arc<dyn Store>) {
    let bank = bank(store).await;
    let payer = bank.funded(&bank.alice, "100.00").await;
    let payee = bank.open(&bank.bob, "EUR").await;
    let create = |from: String, to: String| {
        let bank = &bank;
        async move {
            post_keyed(
                &bank.app,
                "/v1/payments",
                &bank.alice.token,
                &new_key(),
                json!({"payer_account_id": from, "payee_account_id": to, "amount": "30.00",
                       "currency": "EUR"}),
            )
            .await
        }
    };
    // The payer frozen: no payment at all.
    let freeze = |account: &str, verb: &str| format!("/v1/accounts/{account}/{verb}");
    let frozen = bank.post(&bank.manager, &freeze(&payer, "freeze")).await;
    assert_eq!(frozen.status, StatusCode::OK, "{}", frozen.text());
    create(payer.clone(), payee.clone())
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "ACCOUNT_FROZEN");
    let listed = bank.get(&bank.alice, "/v1/payments").await;
    assert_eq!(listed.json()["data"], json!([]), "{}", listed.text());
    bank.post(&bank.manager, &freeze(&payer, "unfreeze")).await;

    // The payee frozen after the payment was made: no hold on the payer's money.
    let created = create(payer.clone(), payee.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    let payment = created.json()["id"].as_str().unwrap().to_owned();
    bank.post(&bank.manager, &freeze(&payee, "freeze")).await;
    let authorized = bank
        .post(&bank.alice, &format!("/v1/payments/{payment}/authorize"))
        .await;
    authorized.assert_error(StatusCode::UNPROCESSABLE_ENTITY, "ACCOUNT_FROZEN");
    let account = bank.account(&payer).await;
    assert_eq!(account["available"], "100.00");
    let state = bank
        .get(&bank.admin, &format!("/v1/payments/{payment}"))
        .await;
    assert_eq!(state.json()["state"], "pending");

    // Unfrozen, it goes through.
    bank.post(&bank.manager, &freeze(&payee, "unfreeze")).await;
    let authorized = bank
        .post(&bank.alice, &format!("/v1/payments/{payment}/authorize"))
        .await;
    assert_eq!(authorized.status, StatusCode::OK, "{}", authorized.text());
    assert_eq!(bank.account(&payer).await["available"], "70.00");
}

/// The app and the state behind it, to watch how many requests are in flight, with two test
/// routes: `/test/echo` reads a JSON body, `/test/hold` holds its slot until `gate` closes.
fn app_and_state(
    store: Arc<dyn Store>,
    settings: coffre_api::ApiSettings,
) -> (Router, AppState, Arc<Semaphore>) {
    let state = AppState::new(store, settings).unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let test_routes = Router::new()
        .route("/test/echo", axum::routing::post(echo))
        .route("/test/hold", axum::routing::get(hold))
        .layer(Extension(Arc::clone(&gate)));
    let app = with_middleware(routes().merge(test_routes), state.clone());
    (app, state, gate)
}

async fn echo(Json(body): Json<serde_json::Value>) -> Json<serde_json::Value> {
    Json(body)
}

async fn hold(Extension(gate): Extension<Arc<Semaphore>>) -> StatusCode {
    let _ = gate.acquire().await;
    StatusCode::NO_CONTENT
}

/// A request from `peer` (or from no peer, as in-process) that holds its slot until the gate
/// closes.
fn held(app: &Router, peer: Option<SocketAddr>) -> JoinHandle<TestResponse> {
    let mut request = Request::get("/test/hold").body(Body::empty()).unwrap();
    if let Some(peer) = peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    let app = app.clone();
    tokio::spawn(async move { send(&app, request).await })
}

async fn release(gate: &Semaphore, held: Vec<JoinHandle<TestResponse>>) {
    gate.close();
    for task in held {
        assert_eq!(task.await.unwrap().status, StatusCode::NO_CONTENT);
    }
}

/// A request whose body never comes.
fn stalled(app: &Router) -> JoinHandle<TestResponse> {
    let body = Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>());
    let mut request = Request::post("/test/echo")
        .header("content-type", "application/json")
        .header("content-length", "100")
        .body(body)
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 9], 40_000))));
    let app = app.clone();
    tokio::spawn(async move { send(&app, request).await })
}

fn from(ip: &str) -> Option<SocketAddr> {
    Some(SocketAddr::new(ip.parse().unwrap(), 40_000))
}

/// Waits until `count` requests hold a slot.
async fn until_in_flight(state: &AppState, count: usize) {
    const PATIENCE: Duration = Duration::from_secs(30);
    tokio::time::timeout(PATIENCE, async {
        while state.admission().in_flight() < count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "{} of {count} requests in flight",
            state.admission().in_flight()
        )
    });
}

fn me(peer: Option<SocketAddr>) -> Request<Body> {
    let mut request = Request::get("/v1/me").body(Body::empty()).unwrap();
    if let Some(peer) = peer {
        request.extensions_mut().insert(ConnectInfo(peer));
    }
    request
}

async fn the_in_flight_bound_is_one_for_the_whole_process(store: Arc<dyn Store>) {
    let (app, state, gate) = app_and_state(store, settings());
    // Held on one route, each from its own client so no per-client share is reached.
    let held: Vec<_> = (0..MAX_IN_FLIGHT)
        .map(|n| {
            let ip = format!("10.{}.{}.1", n / 256, n % 256);
            held(&app, from(&ip))
        })
        .collect();
    until_in_flight(&state, MAX_IN_FLIGHT).await;

    // Another route, another client: refused at once, not queued.
    let refused = send(&app, me(from("192.0.2.1"))).await;
    refused.assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    assert_eq!(refused.headers["retry-after"], "1");
    // The liveness probe still answers.
    let live = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(live.status, StatusCode::OK);

    release(&gate, held).await;
    assert_eq!(state.admission().in_flight(), 0);
    send(&app, me(from("192.0.2.1")))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "MISSING_TOKEN");
}

async fn one_client_cannot_take_most_of_the_in_flight_bound(store: Arc<dyn Store>) {
    let (app, state, gate) = app_and_state(store, settings());
    let greedy = from("198.51.100.7");
    let held: Vec<_> = (0..MAX_IN_FLIGHT_PER_CLIENT)
        .map(|_| held(&app, greedy))
        .collect();
    until_in_flight(&state, MAX_IN_FLIGHT_PER_CLIENT).await;
    const { assert!(MAX_IN_FLIGHT_PER_CLIENT * 2 <= MAX_IN_FLIGHT) };

    send(&app, me(greedy))
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    // Everyone else is served.
    send(&app, me(from("198.51.100.8")))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "MISSING_TOKEN");

    release(&gate, held).await;
    send(&app, me(greedy))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "MISSING_TOKEN");
}

async fn shed_requests_cost_no_rate_limit_budget(store: Arc<dyn Store>) {
    let mut settings = settings();
    settings.rate_limit_api = Some(coffre_api::edge::rate_limit::RateQuota {
        count: std::num::NonZeroU32::new(2).unwrap(),
        period: Duration::from_secs(3_600),
    });
    let (app, state, gate) = app_and_state(store, settings);
    let held: Vec<_> = (0..MAX_IN_FLIGHT).map(|_| held(&app, None)).collect();
    until_in_flight(&state, MAX_IN_FLIGHT).await;
    let client = from("203.0.113.5");
    for _ in 0..5 {
        let shed = send(&app, me(client)).await;
        shed.assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
        assert!(!shed.headers.contains_key("ratelimit-remaining"));
    }
    release(&gate, held).await;
    // The whole budget is still there.
    let first = send(&app, me(client)).await;
    first.assert_error(StatusCode::UNAUTHORIZED, "MISSING_TOKEN");
    assert_eq!(first.headers["ratelimit-remaining"], "1");
}

/// On the paused clock, the runtime jumps to the next timer as soon as nothing else can run:
/// the body deadline fires without the test waiting for it, and before the request timeout.
#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_answers_400_and_frees_its_slot() {
    let (store, _data_dir) = coffre_store_sqlite::testing::fresh_store().await;
    let (app, state, _gate) = app_and_state(Arc::new(store), settings());
    tokio::time::pause();
    let response = stalled(&app).await.unwrap();
    let message = response.assert_error(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST");
    assert!(message.contains("did not arrive within"), "{message}");
    assert_eq!(state.admission().in_flight(), 0);
}
