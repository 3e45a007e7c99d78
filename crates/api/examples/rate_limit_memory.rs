//! Measures what a flood of distinct client addresses costs the in-memory rate limiter, and
//! what eviction gives back: sends N requests, each from its own address, through the real
//! router, then prints the keys held and the process's resident memory before and after
//! eviction.
//!
//! ```text
//! cargo run --release -p coffre-api --example rate_limit_memory [N]
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::arithmetic_side_effects
)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use coffre_api::edge::rate_limit::RateQuota;
use coffre_api::{ApiSettings, AppState, JwtSecret, router};
use http::Request;
use tower::ServiceExt;

/// Resident set size in MiB, from /proc (Linux).
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() {
    let flood: u32 = std::env::args()
        .nth(1)
        .map_or(200_000, |n| n.parse().expect("N is a number"));
    let (store, _dir) = coffre_store_sqlite::testing::fresh_store().await;
    let settings = ApiSettings {
        jwt_secret: JwtSecret::new(vec![7; 32]).unwrap(),
        access_token_ttl_secs: 900,
        authorization_ttl_secs: 604_800,
        trusted_proxies: Vec::new(),
        rate_limit_auth: None,
        // The default API budget: a key is idle again 10 ms after its one request.
        rate_limit_api: Some(RateQuota {
            count: NonZeroU32::new(100).unwrap(),
            period: Duration::from_secs(1),
        }),
        redis_url: None,
        webhook_allow_insecure: false,
    };
    let state = AppState::new(Arc::new(store), settings).unwrap();
    let app = router(state.clone());
    let before = rss_mib();
    println!("requests per round, each from its own address: {flood}");
    println!("resident memory at start: {before:.1} MiB");
    // Two rounds of fresh addresses: with eviction between them, the second reuses the memory
    // the first took instead of adding to it.
    for round in 0..2_u32 {
        for n in 0..flood {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000_u32 + round * flood + n));
            let mut request = Request::get("/v1/me").body(Body::empty()).unwrap();
            request
                .extensions_mut()
                .insert(ConnectInfo(SocketAddr::new(ip, 40_000)));
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 401);
        }
        let keys = state.rate_limits().keys();
        let flooded = rss_mib();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let kept = state.rate_limits().evict_idle();
        println!(
            "round {}: {keys} keys and {flooded:.1} MiB after the flood; {kept} keys and \
             {:.1} MiB after eviction",
            round + 1,
            rss_mib()
        );
    }
}
