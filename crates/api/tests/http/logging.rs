//! Log lines carry the request id; 5xx causes reach the log and not the client.
//!
//! The capturing subscriber is the process-wide default, installed once: a per-test scoped
//! subscriber races with the tests running on other threads over tracing's cached callsite
//! interest and loses events. Each run uses its own request ids to find its lines.

use std::io;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use coffre_api::REQUEST_ID_HEADER;
use coffre_store::Store;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tracing_subscriber::fmt::MakeWriter;
use uuid::Uuid;

use crate::support::{PANIC_TEXT, app, post_json, send, settings};

/// Collects what the JSON formatter writes, one event per line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn install() -> &'static Captured {
        static CAPTURED: OnceLock<Captured> = OnceLock::new();
        CAPTURED.get_or_init(|| {
            let captured = Captured::default();
            let subscriber = tracing_subscriber::fmt()
                .json()
                // Debug, so the secrets check below sees everything a verbose operator would.
                .with_max_level(tracing::Level::DEBUG)
                .with_writer(captured.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            captured
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    fn events(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

fn request(uri: &str, id: &str) -> Request<Body> {
    Request::get(uri)
        .header(REQUEST_ID_HEADER, id)
        .body(Body::empty())
        .unwrap()
}

fn request_id_of(event: &Value) -> Option<&str> {
    event["span"]["request_id"].as_str()
}

async fn server_errors_are_logged_with_cause_and_request_id(store: Arc<dyn Store>) {
    let captured = Captured::install();
    let app = app(store);
    let run = Uuid::now_v7();
    let (panic_id, store_id, refused_id) = (
        format!("panic-{run}"),
        format!("store-{run}"),
        format!("refused-{run}"),
    );

    let panicked = send(&app, request("/test/panic", &panic_id)).await;
    assert_eq!(panicked.status, StatusCode::INTERNAL_SERVER_ERROR);
    let failed = send(&app, request("/test/store-error?kind=internal", &store_id)).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    let refused = send(&app, request("/nowhere", &refused_id)).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    let events = captured.events();
    let errors: Vec<&Value> = events
        .iter()
        .filter(|event| event["level"] == "ERROR")
        .collect();
    let error_for = |id: &str| {
        errors
            .iter()
            .find(|event| request_id_of(event) == Some(id))
            .unwrap_or_else(|| panic!("no error logged for {id}: {events:#?}"))
            .to_string()
    };
    assert!(error_for(&panic_id).contains(PANIC_TEXT));
    assert!(error_for(&store_id).contains("syntax error near SELECT secret FROM users"));
    assert!(error_for(&store_id).contains("INTERNAL_ERROR"));
    assert!(
        errors
            .iter()
            .all(|event| request_id_of(event) != Some(refused_id.as_str())),
        "a 4xx is not an error: {errors:#?}"
    );

    for (id, status) in [(&panic_id, 500), (&store_id, 500), (&refused_id, 404)] {
        let finished = events
            .iter()
            .find(|event| {
                request_id_of(event) == Some(id.as_str())
                    && event["fields"]["message"] == "finished processing request"
            })
            .unwrap_or_else(|| panic!("no response logged for {id}: {events:#?}"));
        assert_eq!(finished["fields"]["status"], status, "{finished}");
        assert!(finished["fields"]["latency"].is_string(), "{finished}");
        assert_eq!(finished["span"]["method"], "GET");
    }
    let route_of_panic = events
        .iter()
        .find(|event| request_id_of(event) == Some(panic_id.as_str()))
        .map(|event| event["span"]["route"].clone());
    assert_eq!(route_of_panic, Some(Value::from("/test/panic")));
}

/// Logs in at debug level through every credential path, then searches everything logged for
/// the secrets that went by.
async fn secrets_never_reach_the_log(store: Arc<dyn Store>) {
    let captured = Captured::install();
    let app = app(store.clone());
    let email = format!("secret-{}@logs.test", Uuid::now_v7().simple());
    let password = format!("pw-{}-long-enough", Uuid::now_v7().simple());
    let body = json!({"email": email, "password": password}).to_string();
    assert_eq!(
        post_json(&app, "/v1/auth/register", body.clone())
            .await
            .status,
        StatusCode::CREATED
    );
    let wrong = json!({"email": email, "password": format!("{password}-wrong")}).to_string();
    assert_eq!(
        post_json(&app, "/v1/auth/login", wrong).await.status,
        StatusCode::UNAUTHORIZED
    );
    let pair = post_json(&app, "/v1/auth/login", body).await.json();
    let (access, refresh) = (
        pair["access_token"].as_str().unwrap().to_owned(),
        pair["refresh_token"].as_str().unwrap().to_owned(),
    );
    let me = Request::get("/v1/me")
        .header("authorization", format!("Bearer {access}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, me).await.status, StatusCode::OK);
    let refreshed = post_json(
        &app,
        "/v1/auth/refresh",
        json!({"refresh_token": refresh}).to_string(),
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let new_refresh = refreshed.json()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let login = store
        .find_login(&coffre_domain::user::Email::parse(&email).unwrap())
        .await
        .unwrap()
        .unwrap();

    let logged = captured.text();
    assert!(
        logged.contains("/v1/auth/login"),
        "the requests were logged at all"
    );
    let secret = String::from_utf8(settings().jwt_secret.as_bytes().to_vec()).unwrap();
    for (what, needle) in [
        ("password", password.as_str()),
        ("access token", access.as_str()),
        ("refresh token", refresh.as_str()),
        ("rotated refresh token", new_refresh.as_str()),
        ("password hash", login.password_hash.as_str()),
        ("JWT secret", secret.as_str()),
    ] {
        assert!(!logged.contains(needle), "the {what} reached the log");
    }
}

on_both_backends!(
    server_errors_are_logged_with_cause_and_request_id,
    secrets_never_reach_the_log,
);
