//! The edge over HTTP: rate limits per IP and per user with their headers, spoofed and trusted
//! `X-Forwarded-For`, one budget shared through Redis by two apps, Redis failing, and the
//! metrics document.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use coffre_api::edge::rate_limit::RateQuota;
use coffre_api::{ApiSettings, RedisUrl};
use coffre_store::Store;
use http::{Request, StatusCode};
use serde_json::json;

use crate::support::{
    PASSWORD, TestResponse, app_and_metrics, app_with, get, send, settings, user,
};

on_both_backends!(
    auth_routes_are_limited_per_client_ip,
    the_rest_is_limited_per_user,
    forwarded_for_is_believed_only_from_trusted_proxies,
    two_apps_share_one_budget_through_redis,
    a_dead_redis_falls_back_to_local_limits,
    metrics_count_requests_commands_and_the_pool,
);

fn per_minute(count: u32) -> Option<RateQuota> {
    Some(RateQuota {
        count: NonZeroU32::new(count).unwrap(),
        period: Duration::from_secs(60),
    })
}

fn limited(auth: Option<RateQuota>, api: Option<RateQuota>) -> ApiSettings {
    ApiSettings {
        rate_limit_auth: auth,
        rate_limit_api: api,
        ..settings()
    }
}

/// A client address of its own per test run, so budgets kept in Redis by earlier runs do not
/// leak into this one.
fn fresh_ip() -> IpAddr {
    let bytes = uuid::Uuid::now_v7().into_bytes();
    IpAddr::from([198, 18, bytes[14], bytes[15]])
}

/// A login attempt from `peer`, with an optional `X-Forwarded-For`.
async fn login_from(app: &Router, peer: IpAddr, forwarded: Option<&str>) -> TestResponse {
    let mut request = Request::post("/v1/auth/login").header("content-type", "application/json");
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    let mut request = request
        .body(Body::from(
            json!({"email": "nobody@edge.test", "password": PASSWORD}).to_string(),
        ))
        .unwrap();
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::new(peer, 40_000)));
    send(app, request).await
}

async fn auth_routes_are_limited_per_client_ip(store: Arc<dyn Store>) {
    let app = app_with(store, limited(per_minute(3), None));
    let (client, other) = (fresh_ip(), fresh_ip());
    for remaining in ["2", "1", "0"] {
        let response = login_from(&app, client, None).await;
        assert_eq!(
            response.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            response.text()
        );
        assert_eq!(response.headers["ratelimit-limit"], "3");
        assert_eq!(response.headers["ratelimit-remaining"], remaining);
    }
    let refused = login_from(&app, client, None).await;
    refused.assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let retry_after: u64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.headers["ratelimit-remaining"], "0");
    // Another address has its own budget; probes are never limited.
    assert_eq!(
        login_from(&app, other, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
}

async fn the_rest_is_limited_per_user(store: Arc<dyn Store>) {
    let app = app_with(store, limited(None, per_minute(2)));
    let (_, alice) = user(&app, "alice@edge.test").await;
    let (_, bob) = user(&app, "bob@edge.test").await;
    let me = |token: &str| {
        Request::get("/v1/me")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    for _ in 0..2 {
        assert_eq!(send(&app, me(&alice)).await.status, StatusCode::OK);
    }
    send(&app, me(&alice))
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    // Bob, on the same address, is not held back by Alice.
    assert_eq!(send(&app, me(&bob)).await.status, StatusCode::OK);
}

async fn forwarded_for_is_believed_only_from_trusted_proxies(store: Arc<dyn Store>) {
    // Spoofing: an untrusted peer cannot escape its budget by inventing addresses.
    let app = app_with(store.clone(), limited(per_minute(2), None));
    let peer = fresh_ip();
    for spoofed in ["1.1.1.1", "2.2.2.2"] {
        assert_eq!(
            login_from(&app, peer, Some(spoofed)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    login_from(&app, peer, Some("3.3.3.3"))
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");

    // Behind a trusted proxy, each forwarded client has its own budget, whatever the client
    // itself wrote at the left of the header.
    let trusting = ApiSettings {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..limited(per_minute(2), None)
    };
    let app = app_with(store.clone(), trusting);
    let proxy: IpAddr = "10.1.2.3".parse().unwrap();
    let (first, second) = (fresh_ip(), fresh_ip());
    for _ in 0..2 {
        let forwarded = format!("6.6.6.6, {first}");
        assert_eq!(
            login_from(&app, proxy, Some(&forwarded)).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    login_from(&app, proxy, Some(&format!("7.7.7.7, {first}")))
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(
        login_from(&app, proxy, Some(&second.to_string()))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // The audit log records the forwarded client, not the proxy.
    let failures = store
        .list_audit_events(
            &coffre_store::AuditFilter {
                action: Some(coffre_domain::audit::AuditAction::LoginFailed),
                ..Default::default()
            },
            coffre_store::PageLimit::DEFAULT,
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        failures.data[0].ip_address.as_deref(),
        Some(second.to_string().as_str())
    );
}

const REDIS: &str = "redis://127.0.0.1:6379";

async fn two_apps_share_one_budget_through_redis(store: Arc<dyn Store>) {
    let shared = || ApiSettings {
        redis_url: Some(RedisUrl(REDIS.to_owned())),
        ..limited(per_minute(4), None)
    };
    let (one, two) = (app_with(store.clone(), shared()), app_with(store, shared()));
    let client = fresh_ip();
    for app in [&one, &two, &one, &two] {
        assert_eq!(
            login_from(app, client, None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    for app in [&one, &two] {
        login_from(app, client, None)
            .await
            .assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    }
}

async fn a_dead_redis_falls_back_to_local_limits(store: Arc<dyn Store>) {
    let dead = ApiSettings {
        // Nothing listens on port 1.
        redis_url: Some(RedisUrl("redis://127.0.0.1:1".to_owned())),
        ..limited(per_minute(2), None)
    };
    let app = app_with(store, dead);
    let client = fresh_ip();
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, client, None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    login_from(&app, client, None)
        .await
        .assert_error(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
}

async fn metrics_count_requests_commands_and_the_pool(store: Arc<dyn Store>) {
    let (app, metrics_app) = app_and_metrics(store.clone());
    let bank = crate::bank::bank_on(store, app.clone()).await;
    let account = bank.funded(&bank.alice, "1.00").await;
    bank.withdraw(&bank.alice, &account, "2.00").await;
    // Only on the metrics listener, which serves nothing else.
    assert_eq!(get(&app, "/metrics").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        get(&metrics_app, "/healthz").await.status,
        StatusCode::NOT_FOUND
    );
    let metrics = get(&metrics_app, "/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text();
    for needle in [
        r#"coffre_http_requests_total{method="POST",route="/v1/auth/login",status="200"}"#,
        r#"coffre_http_requests_total{method="POST",route="/v1/withdrawals",status="422"}"#,
        "coffre_http_request_duration_seconds_bucket{",
        r#"coffre_ledger_commands_total{action="deposit",outcome="ok"}"#,
        r#"coffre_ledger_commands_total{action="withdrawal",outcome="insufficient_funds"}"#,
        "coffre_engine_batch_size_bucket{",
        r#"coffre_db_pool_connections{state="idle"}"#,
        "coffre_db_pool_max_connections",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }
    // Routes are labelled by their pattern, never by the ids in the path.
    assert!(!text.contains(&account), "an id leaked into a label");
}
