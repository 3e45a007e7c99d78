//! The test application: the production routes plus a few test-only routes, behind the
//! production middleware, on a fresh database.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::routing;
use coffre_api::auth::password::Passwords;
use coffre_api::{
    ApiError, ApiSettings, AppState, Json, JwtSecret, Query, REQUEST_ID_HEADER, RequestId, routes,
    with_middleware,
};
use coffre_domain::audit::AuditContext;
use coffre_domain::user::{Email, Password};
use coffre_store::{EnsureAdmin, Store, StoreError};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Generates, for each named `async fn(Arc<dyn Store>)` of the calling module, one test on a
/// fresh SQLite database (`sqlite::name`) and one on a fresh PostgreSQL database
/// (`postgres::name`). A backend that cannot be reached fails its tests; none is skipped.
/// `on_both_backends!(multi_thread: ...)` runs them on a multi-threaded runtime, for tests
/// whose point is requests running in parallel.
macro_rules! on_both_backends {
    (multi_thread: $($test:ident),+ $(,)?) => {
        on_both_backends!(@with (flavor = "multi_thread", worker_threads = 4); $($test),+);
    };
    ($($test:ident),+ $(,)?) => {
        on_both_backends!(@with (); $($test),+);
    };
    (@with $flavor:tt; $($test:ident),+) => {
        mod sqlite {
            $(
                #[tokio::test $flavor]
                async fn $test() {
                    let (store, _data_dir) = coffre_store_sqlite::testing::fresh_store().await;
                    super::$test(std::sync::Arc::new(store)).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test $flavor]
                async fn $test() {
                    let store = coffre_store_postgres::testing::fresh_store().await;
                    super::$test(std::sync::Arc::new(store)).await;
                }
            )+
        }
    };
}

pub fn settings() -> ApiSettings {
    ApiSettings {
        jwt_secret: JwtSecret::new(b"test-secret-test-secret-test-secret!".to_vec()).unwrap(),
        access_token_ttl_secs: 900,
        authorization_ttl_secs: 604_800,
        trusted_proxies: Vec::new(),
        rate_limit_auth: None,
        rate_limit_api: None,
        redis_url: None,
        webhook_allow_insecure: true,
    }
}

pub fn state(store: Arc<dyn Store>) -> AppState {
    AppState::new(store, settings()).unwrap()
}

/// The production router with the test routes merged in, behind the same middleware.
pub fn app(store: Arc<dyn Store>) -> Router {
    app_with(store, settings())
}

pub fn app_with(store: Arc<dyn Store>, settings: ApiSettings) -> Router {
    let state = AppState::new(store, settings).unwrap();
    with_middleware(routes().merge(test_routes()), state)
}

/// [`app`], and the metrics listener's router over the same state.
pub fn app_and_metrics(store: Arc<dyn Store>) -> (Router, Router) {
    let state = AppState::new(store, settings()).unwrap();
    let metrics = coffre_api::metrics_router(state.clone());
    (
        with_middleware(routes().merge(test_routes()), state),
        metrics,
    )
}

fn test_routes() -> Router<AppState> {
    Router::new()
        .route("/test/echo", routing::post(echo))
        .route("/test/query", routing::get(query))
        .route("/test/panic", routing::get(panics))
        .route("/test/request-id", routing::get(request_id))
        .route("/test/store-error", routing::get(store_error))
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    name: String,
    count: u32,
}

async fn echo(Json(payload): Json<Payload>) -> Json<Payload> {
    Json(payload)
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    limit: u32,
}

async fn query(Query(page): Query<Page>) -> Json<Page> {
    Json(page)
}

pub const PANIC_TEXT: &str = "boom: SELECT secret FROM users at /etc/coffre/secret";

async fn panics() -> &'static str {
    panic!("{PANIC_TEXT}")
}

async fn request_id(id: RequestId) -> String {
    id.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StoreFailure {
    Unavailable,
    Contention,
    Constraint,
    Internal,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFailureQuery {
    kind: StoreFailure,
}

/// Words that must never reach a client from the failures below.
pub const INTERNALS: [&str; 5] = ["SELECT", "/var/", "users_email_key", "secret", "refused"];

async fn store_error(Query(query): Query<StoreFailureQuery>) -> ApiError {
    ApiError::from(match query.kind {
        StoreFailure::Unavailable => {
            StoreError::Unavailable("connection refused at /var/run/postgresql".into())
        }
        StoreFailure::Contention => StoreError::Contention,
        StoreFailure::Constraint => StoreError::Constraint {
            constraint: "users_email_key".into(),
        },
        StoreFailure::Internal => {
            StoreError::Internal("syntax error near SELECT secret FROM users".into())
        }
    })
}

pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn request_id(&self) -> &str {
        self.headers
            .get(REQUEST_ID_HEADER)
            .expect("every response carries X-Request-Id")
            .to_str()
            .unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }

    /// Asserts the status and the whole envelope; returns the message.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.headers["content-type"], "application/json");
        let body = self.json();
        let object = body.as_object().unwrap();
        assert_eq!(object.len(), 1, "only `error` at the top: {body}");
        let error = body["error"].as_object().unwrap();
        assert_eq!(error["code"], code, "body: {body}");
        assert_eq!(error["request_id"], self.request_id(), "body: {body}");
        assert!(
            error
                .keys()
                .all(|key| ["code", "message", "request_id", "details"].contains(&key.as_str())),
            "unexpected key in {body}"
        );
        let message = error["message"].as_str().unwrap();
        assert!(!message.is_empty());
        message.to_owned()
    }
}

pub async fn send(app: &Router, request: Request<Body>) -> TestResponse {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    TestResponse {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

pub async fn get(app: &Router, uri: &str) -> TestResponse {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

pub async fn post_json(app: &Router, uri: &str, body: impl Into<Body>) -> TestResponse {
    let request = Request::post(uri)
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    send(app, request).await
}

pub const PASSWORD: &str = "correct horse battery staple";

pub async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    token: &str,
    body: Option<Value>,
) -> TestResponse {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("user-agent", "users-test");
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    send(app, request.body(body).unwrap()).await
}

pub async fn login(app: &Router, email: &str) -> String {
    let response = post_json(
        app,
        "/v1/auth/login",
        json!({"email": email, "password": PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    response.json()["access_token"].as_str().unwrap().to_owned()
}

/// A registered user's id and access token.
pub async fn user(app: &Router, email: &str) -> (String, String) {
    let response = post_json(
        app,
        "/v1/auth/register",
        json!({"email": email, "password": PASSWORD}).to_string(),
    )
    .await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
    let id = response.json()["id"].as_str().unwrap().to_owned();
    (id, login(app, email).await)
}

/// An admin made as `coffre admin create` makes one; its id and access token.
pub async fn admin(store: &Arc<dyn Store>, app: &Router, email: &str) -> (String, String) {
    let hash = Passwords::new(1)
        .unwrap()
        .hash(&Password::parse(PASSWORD.into()).unwrap())
        .await
        .unwrap();
    let outcome = store
        .ensure_admin(Email::parse(email).unwrap(), hash, &AuditContext::default())
        .await
        .unwrap();
    let EnsureAdmin::Created(user) = outcome else {
        panic!("{outcome:?}")
    };
    (user.id.to_string(), login(app, email).await)
}

/// A POST with a JSON body and an `Idempotency-Key`.
pub async fn post_keyed(
    app: &Router,
    uri: &str,
    token: &str,
    key: &str,
    body: Value,
) -> TestResponse {
    let request = Request::post(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap();
    send(app, request).await
}

/// A fresh `Idempotency-Key`.
pub fn new_key() -> String {
    uuid::Uuid::now_v7().to_string()
}
