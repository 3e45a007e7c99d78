//! `GET /console`: the operators' web console, a single page whose files (`crates/api/console/`)
//! are compiled into the binary, so a bare `coffre serve` shows it with nothing else installed.
//!
//! The console is a client of the public API and nothing else: these routes only hand out
//! static files. It has no build step (plain ES modules, charts drawn as SVG by its own code),
//! so what is served is what is committed and nothing can go stale.
//!
//! Every answer carries a strict Content-Security-Policy (scripts and styles from these files
//! only: no inline script or style, no `eval`; no framing), `X-Content-Type-Options: nosniff`
//! and `Referrer-Policy: no-referrer`. An unknown file is the API's enveloped 404.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// The console's policy: everything from this origin's files, API calls to this origin only,
/// nothing inline, no plugins, no framing, forms and `<base>` nowhere else.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; \
     manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
     object-src 'none'";

/// One embedded file: its name under `/console/`, its media type and its bytes.
#[derive(Debug)]
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($name:literal, $content_type:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_str!(concat!("../../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of `crates/api/console/` (a test fails on one left out).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("money.js", JS),
    asset!("chart.js", JS),
    asset!("forms.js", JS),
    asset!("overview.js", JS),
    asset!("accounts.js", JS),
    asset!("movements.js", JS),
    asset!("payments.js", JS),
    asset!("holds.js", JS),
    asset!("audit.js", JS),
    asset!("users.js", JS),
    asset!("webhooks.js", JS),
];

const INDEX: &str = "index.html";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(index))
        .route(
            "/console/",
            get(|| async { Redirect::permanent("/console") }),
        )
        .route("/console/{file}", get(file))
}

async fn index(headers: HeaderMap) -> Result<Response, ApiError> {
    serve(INDEX, &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    // The page itself has one address; its file name is not a second one.
    if name == INDEX {
        return Err(ApiError::NotFound);
    }
    serve(&name, &headers)
}

fn serve(name: &str, request: &HeaderMap) -> Result<Response, ApiError> {
    let (position, asset) = ASSETS
        .iter()
        .enumerate()
        .find(|(_, asset)| asset.name == name)
        .ok_or(ApiError::NotFound)?;
    let etag = etags().get(position).cloned();
    let fresh = etag.as_ref().is_some_and(|etag| {
        request
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|candidate| candidate.trim() == etag)
    });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let headers = response.headers_mut();
    if let Some(etag) = etag.and_then(|etag| HeaderValue::from_str(&etag).ok()) {
        headers.insert(ETAG, etag);
    }
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    Ok(response)
}

/// A file is revalidated on every use (its ETag changes with its bytes, so a new binary's
/// console is seen at once), and an answer that may show balances is not stored by proxies.
const SECURITY_HEADERS: [(HeaderName, &str); 6] = [
    (CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE),
    (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (REFERRER_POLICY, "no-referrer"),
    (X_FRAME_OPTIONS, "DENY"),
    (CACHE_CONTROL, "no-cache, private"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
];

/// Each asset's strong ETag, in [`ASSETS`]' order: a quoted prefix of its SHA-256.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let digest = Sha256::digest(asset.body.as_bytes());
                let hex: String = digest
                    .iter()
                    .take(16)
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}
