//! Prints how long a failed login takes for a known email versus an unknown one, through the real
//! router on a fresh embedded database: the two must not be told apart by timing.
//!
//! `cargo run --release -p coffre-api --example login_timing [ATTEMPTS]`
//!
//! Each attempt comes from its own client address so that the per-(email, IP) throttle, which
//! answers 429 without hashing, does not flatter the known-email figure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use coffre_api::{ApiSettings, AppState, JwtSecret, router};
use http::{Request, StatusCode};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery staple";

async fn attempt(app: &axum::Router, email: &str, n: u32) -> (Duration, StatusCode) {
    let body = serde_json::json!({"email": email, "password": "a wrong password 123"}).to_string();
    let mut request = Request::post("/v1/auth/login")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let peer = SocketAddr::from((Ipv4Addr::from(0x0a00_0000_u32 + n), 40_000));
    request.extensions_mut().insert(ConnectInfo(peer));
    let started = Instant::now();
    let response = app.clone().oneshot(request).await.unwrap();
    (started.elapsed(), response.status())
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples.get(samples.len() / 2).unwrap().as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let attempts: u32 = std::env::args()
        .nth(1)
        .map_or(20, |n| n.parse().expect("ATTEMPTS is a number"));
    let (store, _dir) = coffre_store_sqlite::testing::fresh_store().await;
    let settings = ApiSettings {
        jwt_secret: JwtSecret::new(vec![7; 32]).unwrap(),
        access_token_ttl_secs: 900,
        authorization_ttl_secs: 604_800,
        trusted_proxies: Vec::new(),
        rate_limit_auth: None,
        rate_limit_api: None,
        redis_url: None,
        webhook_allow_insecure: false,
    };
    let app = router(AppState::new(Arc::new(store), settings).unwrap());
    let register = Request::post("/v1/auth/register")
        .header("content-type", "application/json")
        .body(Body::from(
            serde_json::json!({"email": "known@example.com", "password": PASSWORD}).to_string(),
        ))
        .unwrap();
    assert_eq!(
        app.clone().oneshot(register).await.unwrap().status(),
        StatusCode::CREATED
    );

    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for n in 0..attempts {
        let (elapsed, status) = attempt(&app, "known@example.com", n * 2).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        known.push(elapsed);
        let (elapsed, status) = attempt(&app, &format!("nobody{n}@example.com"), n * 2 + 1).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        unknown.push(elapsed);
    }
    let (known, unknown) = (median_ms(known), median_ms(unknown));
    println!("failed logins, {attempts} each, alternating, median:");
    println!("  known email, wrong password: {known:8.2} ms");
    println!("  unknown email:               {unknown:8.2} ms");
    println!("  ratio known/unknown:         {:8.3}", known / unknown);
}
