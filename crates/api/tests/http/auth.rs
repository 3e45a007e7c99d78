//! Registration, login, tokens, refresh rotation and logout, black-box through the router.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffre_store::{AuditFilter, PageLimit, Store};
use http::{Request, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{TestResponse, app, get, post_json, send};

const PASSWORD: &str = "correct horse battery staple";
const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

async fn register(app: &Router, email: &str, password: &str) -> TestResponse {
    post_json(
        app,
        "/v1/auth/register",
        json!({"email": email, "password": password}).to_string(),
    )
    .await
}

async fn login(app: &Router, email: &str, password: &str) -> TestResponse {
    post_json(
        app,
        "/v1/auth/login",
        json!({"email": email, "password": password}).to_string(),
    )
    .await
}

async fn refresh(app: &Router, token: &str) -> TestResponse {
    post_json(
        app,
        "/v1/auth/refresh",
        json!({"refresh_token": token}).to_string(),
    )
    .await
}

async fn with_token(app: &Router, method: &str, uri: &str, token: &str) -> TestResponse {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    send(app, request).await
}

/// A registered, logged-in user: its id and its token pair.
async fn signed_in(app: &Router, email: &str) -> (String, Value) {
    let registered = register(app, email, PASSWORD).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text()
    );
    let logged_in = login(app, email, PASSWORD).await;
    assert_eq!(logged_in.status, StatusCode::OK, "{}", logged_in.text());
    (
        registered.json()["id"].as_str().unwrap().to_owned(),
        logged_in.json(),
    )
}

fn access(pair: &Value) -> &str {
    pair["access_token"].as_str().unwrap()
}

async fn actions(store: &Arc<dyn Store>) -> Vec<String> {
    let page = store
        .list_audit_events(&AuditFilter::default(), PageLimit::new(100).unwrap(), None)
        .await
        .unwrap();
    let mut actions: Vec<String> = page
        .data
        .iter()
        .map(|event| event.action.as_str().to_owned())
        .collect();
    actions.reverse();
    actions
}

async fn register_login_and_me(store: Arc<dyn Store>) {
    let app = app(Arc::clone(&store));
    let registered = register(&app, "  Alice@Example.COM ", PASSWORD).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.text()
    );
    let user = registered.json();
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["role"], "user");
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(!registered.text().contains("argon2"), "the hash leaked");

    let pair = login(&app, "alice@example.com", PASSWORD).await;
    assert_eq!(pair.status, StatusCode::OK, "{}", pair.text());
    let pair = pair.json();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);

    let me = with_token(&app, "GET", "/v1/me", access(&pair)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(me.json(), user);

    assert_eq!(actions(&store).await, ["REGISTER", "LOGIN"]);
}

async fn emails_are_taken_case_insensitively_and_inputs_validated(store: Arc<dyn Store>) {
    let app = app(store);
    assert_eq!(
        register(&app, "bob@example.com", PASSWORD).await.status,
        StatusCode::CREATED
    );
    register(&app, "BOB@example.com", PASSWORD)
        .await
        .assert_error(StatusCode::CONFLICT, "EMAIL_TAKEN");
    let message = register(&app, "carol@example.com", "short")
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    assert!(message.contains("12"), "{message}");
    let long = "x".repeat(129);
    register(&app, "carol@example.com", &long)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    let message = register(&app, "not an email", PASSWORD)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    assert!(message.contains("email"), "{message}");
    post_json(
        &app,
        "/v1/auth/register",
        json!({"email": "d@example.com", "password": PASSWORD, "role": "admin"}).to_string(),
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
}

async fn wrong_password_and_unknown_email_answer_alike(store: Arc<dyn Store>) {
    let app = app(Arc::clone(&store));
    signed_in(&app, "dave@example.com").await;
    let wrong = login(&app, "dave@example.com", "not the right password").await;
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    let wrong_message = wrong.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    let unknown_message = unknown.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    assert_eq!(wrong_message, unknown_message);
    assert_eq!(
        actions(&store).await,
        ["REGISTER", "LOGIN", "LOGIN_FAILED", "LOGIN_FAILED"]
    );
}

async fn repeated_failures_are_throttled_with_retry_after(store: Arc<dyn Store>) {
    let app = app(store);
    signed_in(&app, "erin@example.com").await;
    let mut throttled = None;
    for _ in 0..20 {
        let response = login(&app, "erin@example.com", "wrong wrong wrong").await;
        if response.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(response);
            break;
        }
        response.assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
    }
    let throttled = throttled.expect("20 failures in a row were never throttled");
    throttled.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let retry_after: u64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    // Even the right password waits: the throttle is checked before the password.
    login(&app, "erin@example.com", PASSWORD)
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
}

/// Twenty wrong passwords at once: the throttle decides and charges each attempt in one
/// transaction before the password check, so no more reach the check than the pair's policy
/// lets through one after another (five free failures, and the one that sets the first wait).
async fn parallel_wrong_logins_get_no_more_password_checks_than_the_policy_allows(
    store: Arc<dyn Store>,
) {
    let app = app(store);
    signed_in(&app, "gina@example.com").await;
    let responses = futures_util::future::join_all(
        (0..20).map(|_| login(&app, "gina@example.com", "wrong wrong wrong")),
    )
    .await;
    let checked = responses
        .iter()
        .filter(|response| response.status == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = responses
        .iter()
        .filter(|response| response.status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(checked + throttled, 20);
    let allowed = coffre_domain::throttle::ThrottlePolicy::EMAIL_AND_IP.free_failures + 1;
    assert!(
        (1..=usize::try_from(allowed).unwrap()).contains(&checked),
        "{checked} wrong passwords reached the password check"
    );
}

async fn refresh_rotates_and_a_reused_token_revokes_the_session(store: Arc<dyn Store>) {
    let app = app(Arc::clone(&store));
    let (_, first) = signed_in(&app, "frank@example.com").await;
    let old_refresh = first["refresh_token"].as_str().unwrap();

    let second = refresh(&app, old_refresh).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    let second = second.json();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        with_token(&app, "GET", "/v1/me", access(&second))
            .await
            .status,
        StatusCode::OK
    );

    // The old token again: the thief and the owner both lose the session.
    refresh(&app, old_refresh)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "REFRESH_TOKEN_REUSED");
    with_token(&app, "GET", "/v1/me", access(&second))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    refresh(&app, second["refresh_token"].as_str().unwrap())
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN");
    refresh(&app, "never-issued")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN");
    assert!(
        actions(&store)
            .await
            .contains(&"REFRESH_TOKEN_REUSED".to_owned())
    );
}

async fn concurrent_refreshes_of_one_token_yield_at_most_one_pair(store: Arc<dyn Store>) {
    let app = app(store);
    let (_, pair) = signed_in(&app, "gina@example.com").await;
    let token = pair["refresh_token"].as_str().unwrap().to_owned();
    let attempts = (0..8).map(|_| {
        let app = app.clone();
        let token = token.clone();
        tokio::spawn(async move { refresh(&app, &token).await.status })
    });
    let mut ok = 0;
    for attempt in attempts {
        let status = attempt.await.unwrap();
        if status == StatusCode::OK {
            ok += 1;
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    assert_eq!(ok, 1, "{ok} refreshes of one token succeeded");
}

async fn logout_revokes_the_session_on_the_next_request(store: Arc<dyn Store>) {
    let app = app(Arc::clone(&store));
    let (_, pair) = signed_in(&app, "hugo@example.com").await;
    let logout = with_token(&app, "POST", "/v1/auth/logout", access(&pair)).await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT, "{}", logout.text());
    with_token(&app, "GET", "/v1/me", access(&pair))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    refresh(&app, pair["refresh_token"].as_str().unwrap())
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN");
    assert_eq!(actions(&store).await, ["REGISTER", "LOGIN", "LOGOUT"]);
}

fn forge(alg: Algorithm, key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(key).unwrap(),
    )
    .unwrap()
}

/// The claims of a real token, for forging variations of it.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn forged_foreign_and_missing_tokens_are_refused(store: Arc<dyn Store>) {
    let app = app(store);
    let (_, pair) = signed_in(&app, "ivy@example.com").await;
    let claims = claims_of(access(&pair));
    assert_eq!(claims["iss"], "coffre");
    assert_eq!(claims["role"], "user");

    get(&app, "/v1/me")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "MISSING_TOKEN");
    with_token(&app, "GET", "/v1/me", "garbage")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "INVALID_TOKEN");

    // Re-signed by us with the right key it passes: the variations below fail for their change.
    let resigned = forge(Algorithm::HS256, SECRET, &claims);
    assert_eq!(
        with_token(&app, "GET", "/v1/me", &resigned).await.status,
        StatusCode::OK
    );

    let mut admin = claims.clone();
    admin["role"] = json!("admin");
    let foreign = forge(
        Algorithm::HS256,
        b"someone-elses-key-someone-elses-key",
        &admin,
    );
    let hs512 = forge(Algorithm::HS512, SECRET, &claims);
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let none = format!("{header}.{}.", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut wrong_issuer = claims.clone();
    wrong_issuer["iss"] = json!("evil");
    let mut string_exp = claims.clone();
    string_exp["exp"] = json!(claims["exp"].to_string());
    let mut other_session = claims.clone();
    other_session["sid"] = json!(coffre_domain::ids::SessionId::new());
    for (name, token) in [
        ("foreign key", foreign),
        ("HS512", hs512),
        ("alg none", none),
        ("wrong iss", forge(Algorithm::HS256, SECRET, &wrong_issuer)),
        ("string exp", forge(Algorithm::HS256, SECRET, &string_exp)),
        (
            "unknown sid",
            forge(Algorithm::HS256, SECRET, &other_session),
        ),
    ] {
        let response = with_token(&app, "GET", "/v1/me", &token).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{name}");
        assert_eq!(response.json()["error"]["code"], "INVALID_TOKEN", "{name}");
    }

    let mut expired = claims.clone();
    expired["exp"] = json!(claims["iat"].as_i64().unwrap() - 60);
    with_token(
        &app,
        "GET",
        "/v1/me",
        &forge(Algorithm::HS256, SECRET, &expired),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED");
}

on_both_backends!(
    register_login_and_me,
    emails_are_taken_case_insensitively_and_inputs_validated,
    wrong_password_and_unknown_email_answer_alike,
    repeated_failures_are_throttled_with_retry_after,
    parallel_wrong_logins_get_no_more_password_checks_than_the_policy_allows,
    refresh_rotates_and_a_reused_token_revokes_the_session,
    concurrent_refreshes_of_one_token_yield_at_most_one_pair,
    logout_revokes_the_session_on_the_next_request,
    forged_foreign_and_missing_tokens_are_refused,
);
