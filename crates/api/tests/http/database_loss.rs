//! Losing PostgreSQL under a running app: requests answer 503 `SERVICE_UNAVAILABLE`,
//! `/readyz` 503 and `/healthz` 200; once the database is back, the same app serves again,
//! with no restart.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use coffre_store_postgres::testing::{fresh_database, server_url};
use http::{Request, StatusCode};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

use crate::support::{TestResponse, app, get, send, user};

async fn admin_sql(sql: String) {
    let mut connection = PgConnection::connect(&server_url()).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
}

async fn me(app: &axum::Router, token: &str) -> TestResponse {
    let request = Request::get("/v1/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    send(app, request).await
}

#[tokio::test]
async fn the_app_survives_losing_the_database() {
    let (store, url) = fresh_database().await;
    let name = url
        .rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .unwrap()
        .to_owned();
    let app = app(Arc::new(store));
    let (_, token) = user(&app, "survivor@loss.test").await;
    assert_eq!(me(&app, &token).await.status, StatusCode::OK);

    // The database goes away: no new connections, the open ones cut, the name gone.
    admin_sql(format!(
        r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS false;
           SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';
           ALTER DATABASE "{name}" RENAME TO "{name}_gone";"#
    ))
    .await;
    assert_eq!(get(&app, "/healthz").await.status, StatusCode::OK);
    get(&app, "/readyz")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    for _ in 0..3 {
        me(&app, &token)
            .await
            .assert_error(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE");
    }

    admin_sql(format!(
        r#"ALTER DATABASE "{name}_gone" RENAME TO "{name}";
           ALTER DATABASE "{name}" ALLOW_CONNECTIONS true;"#
    ))
    .await;
    let mut ready = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..50 {
        ready = get(&app, "/readyz").await.status;
        if ready == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ready, StatusCode::OK);
    assert_eq!(me(&app, &token).await.status, StatusCode::OK);
}
