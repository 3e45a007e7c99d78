//! User administration and the audit log over HTTP: roles, the last-admin guard, escalation
//! attempts, and changes that bite on the very next request.

use std::sync::Arc;

use axum::Router;
use coffre_store::Store;
use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TestResponse, admin, app, call, post_json, user};

async fn patch(app: &Router, token: &str, id: &str, body: Value) -> TestResponse {
    call(app, "PATCH", &format!("/v1/users/{id}"), token, Some(body)).await
}

async fn the_user_list_is_for_managers_and_up_and_pages(store: Arc<dyn Store>) {
    let app = app(Arc::clone(&store));
    let (_, root) = admin(&store, &app, "root@example.com").await;
    let (user_id, user_token) = user(&app, "user@example.com").await;
    let (manager_id, manager_token) = user(&app, "manager@example.com").await;

    call(&app, "GET", "/v1/users", &user_token, None)
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    let promoted = patch(&app, &root, &manager_id, json!({"role": "manager"})).await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text());
    assert_eq!(promoted.json()["role"], "manager");

    // The manager's token was issued while it was a user: its current role counts.
    let list = call(&app, "GET", "/v1/users", &manager_token, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    let list = list.json();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], manager_id, "newest first");
    assert_eq!(ids[1], user_id);

    let first = call(&app, "GET", "/v1/users?limit=1", &root, None)
        .await
        .json();
    assert_eq!(first["has_more"], true);
    let after = first["data"][0]["id"].as_str().unwrap();
    let second = call(
        &app,
        "GET",
        &format!("/v1/users?limit=1&starting_after={after}"),
        &root,
        None,
    )
    .await
    .json();
    assert_eq!(second["data"][0]["id"], user_id);
    call(&app, "GET", "/v1/users?limit=0", &root, None)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    call(&app, "GET", "/v1/users?limit=101", &root, None)
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
}

async fn only_admins_change_users_and_no_one_promotes_themselves(store: Arc<dyn Store>) {
    let app = app(Arc::clone(&store));
    let (_, root) = admin(&store, &app, "root@example.com").await;
    let (user_id, user_token) = user(&app, "mallory@example.com").await;
    let (manager_id, manager_token) = user(&app, "boss@example.com").await;
    patch(&app, &root, &manager_id, json!({"role": "manager"})).await;

    for token in [&user_token, &manager_token] {
        patch(&app, token, &user_id, json!({"role": "admin"}))
            .await
            .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
        patch(&app, token, &manager_id, json!({"role": "admin"}))
            .await
            .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    }
    let me = call(&app, "GET", "/v1/me", &user_token, None).await.json();
    assert_eq!(me["role"], "user");

    patch(
        &app,
        &root,
        "0192f3a4-0000-7000-8000-000000000000",
        json!({"disabled": true}),
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "USER_NOT_FOUND");
    patch(&app, &root, "not-a-uuid", json!({"disabled": true}))
        .await
        .assert_error(StatusCode::NOT_FOUND, "USER_NOT_FOUND");
    patch(&app, &root, &user_id, json!({"role": "superuser"}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
    patch(&app, &root, &user_id, json!({"email": "x@example.com"}))
        .await
        .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");
}

async fn demotion_and_disabling_bite_on_the_next_request(store: Arc<dyn Store>) {
    let app = app(Arc::clone(&store));
    let (_, root) = admin(&store, &app, "root@example.com").await;
    let (id, token) = user(&app, "temp@example.com").await;
    patch(&app, &root, &id, json!({"role": "manager"})).await;
    assert_eq!(
        call(&app, "GET", "/v1/users", &token, None).await.status,
        StatusCode::OK
    );
    patch(&app, &root, &id, json!({"role": "user"})).await;
    call(&app, "GET", "/v1/users", &token, None)
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");

    let disabled = patch(&app, &root, &id, json!({"disabled": true})).await;
    assert_eq!(disabled.json()["disabled"], true);
    call(&app, "GET", "/v1/me", &token, None)
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    post_json(
        &app,
        "/v1/auth/login",
        json!({"email": "temp@example.com", "password": PASSWORD}).to_string(),
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS");
}

async fn the_last_admin_cannot_be_removed(store: Arc<dyn Store>) {
    let app = app(Arc::clone(&store));
    let (root_id, root) = admin(&store, &app, "root@example.com").await;
    patch(&app, &root, &root_id, json!({"role": "manager"}))
        .await
        .assert_error(StatusCode::CONFLICT, "LAST_ADMIN");
    patch(&app, &root, &root_id, json!({"disabled": true}))
        .await
        .assert_error(StatusCode::CONFLICT, "LAST_ADMIN");
    let me = call(&app, "GET", "/v1/me", &root, None).await.json();
    assert_eq!(me["role"], "admin");
}

async fn two_admins_demoting_each_other_at_once_leave_one(store: Arc<dyn Store>) {
    let app = app(Arc::clone(&store));
    let (a_id, a) = admin(&store, &app, "a@example.com").await;
    let (b_id, b) = admin(&store, &app, "b@example.com").await;
    for round in 0..5 {
        let (by_a, by_b) = tokio::join!(
            patch(&app, &a, &b_id, json!({"role": "user"})),
            patch(&app, &b, &a_id, json!({"role": "user"})),
        );
        let (survivor, loser_id, refused) = match (by_a.status, by_b.status) {
            (StatusCode::OK, _) => (&a, &b_id, by_b),
            (_, StatusCode::OK) => (&b, &a_id, by_a),
            statuses => panic!("round {round}: neither demotion went through: {statuses:?}"),
        };
        // The loser either was demoted first (and so may no longer change roles) or hit the guard.
        let code = refused.json()["error"]["code"].as_str().unwrap().to_owned();
        assert!(
            code == "LAST_ADMIN" || code == "INSUFFICIENT_PERMISSIONS",
            "round {round}: {code}"
        );
        let users = call(&app, "GET", "/v1/users", survivor, None).await.json();
        let admins = users["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|user| user["role"] == "admin" && user["disabled"] == false)
            .count();
        assert_eq!(admins, 1, "round {round}");
        let restored = patch(&app, survivor, loser_id, json!({"role": "admin"})).await;
        assert_eq!(restored.status, StatusCode::OK, "{}", restored.text());
    }
}

async fn the_audit_log_is_for_admins_and_records_who_did_what(store: Arc<dyn Store>) {
    let app = app(Arc::clone(&store));
    let (root_id, root) = admin(&store, &app, "root@example.com").await;
    let (id, token) = user(&app, "watched@example.com").await;
    patch(&app, &root, &id, json!({"role": "manager"})).await;

    call(&app, "GET", "/v1/audit-events", &token, None)
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");
    call(&app, "GET", "/v1/audit-events/verify", &token, None)
        .await
        .assert_error(StatusCode::FORBIDDEN, "INSUFFICIENT_PERMISSIONS");

    let events = call(
        &app,
        "GET",
        "/v1/audit-events?action=PERMISSION_CHANGED",
        &root,
        None,
    )
    .await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.text());
    let events = events.json();
    let event = &events["data"][0];
    assert_eq!(events["data"].as_array().unwrap().len(), 1);
    assert_eq!(event["actor_id"], root_id);
    assert_eq!(event["resource_id"], id);
    assert_eq!(event["old_value"], json!({"role": "user"}));
    assert_eq!(event["new_value"], json!({"role": "manager"}));
    assert_eq!(event["user_agent"], "users-test");
    assert!(event["request_id"].is_string());

    let all = call(
        &app,
        "GET",
        &format!("/v1/audit-events?actor_id={root_id}"),
        &root,
        None,
    )
    .await
    .json();
    assert!(
        all["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor_id"] == root_id)
    );
    call(
        &app,
        "GET",
        "/v1/audit-events?action=NOT_AN_ACTION",
        &root,
        None,
    )
    .await
    .assert_error(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED");

    // A manager reading the user list is a read of other people's data: on the record.
    assert_eq!(
        call(&app, "GET", "/v1/users", &token, None).await.status,
        StatusCode::OK
    );
    let reads = call(&app, "GET", "/v1/audit-events?action=READ", &root, None)
        .await
        .json();
    assert_eq!(reads["data"][0]["actor_id"], id);
    assert_eq!(reads["data"][0]["resource_type"], "user");
    assert_eq!(
        reads["data"][0]["new_value"]["ids"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    let verify = call(&app, "GET", "/v1/audit-events/verify", &root, None).await;
    assert_eq!(verify.status, StatusCode::OK, "{}", verify.text());
    let report = verify.json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["first_bad_seq"], Value::Null);
    assert!(report["events_checked"].as_u64().unwrap() >= 5);
}

on_both_backends!(
    the_user_list_is_for_managers_and_up_and_pages,
    only_admins_change_users_and_no_one_promotes_themselves,
    demotion_and_disabling_bite_on_the_next_request,
    the_last_admin_cannot_be_removed,
    two_admins_demoting_each_other_at_once_leave_one,
    the_audit_log_is_for_admins_and_records_who_did_what,
);
