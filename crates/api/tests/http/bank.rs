//! A small bank for the ledger tests: an admin, a manager and two customers, and the calls
//! they make.

use std::sync::Arc;

use axum::Router;
use coffre_store::Store;
use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestResponse, admin, app, call, new_key, post_keyed, user};

pub struct Person {
    pub id: String,
    pub token: String,
}

pub struct Bank {
    pub app: Router,
    pub admin: Person,
    pub manager: Person,
    pub alice: Person,
    pub bob: Person,
}

pub async fn bank(store: Arc<dyn Store>) -> Bank {
    bank_on(store.clone(), app(store)).await
}

/// A bank on an app built with other settings.
pub async fn bank_on(store: Arc<dyn Store>, app: Router) -> Bank {
    let (id, token) = admin(&store, &app, "admin@bank.test").await;
    let admin = Person { id, token };
    let (id, token) = user(&app, "manager@bank.test").await;
    let promoted = call(
        &app,
        "PATCH",
        &format!("/v1/users/{id}"),
        &admin.token,
        Some(json!({"role": "manager"})),
    )
    .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text());
    let manager = Person { id, token };
    let (id, token) = user(&app, "alice@bank.test").await;
    let alice = Person { id, token };
    let (id, token) = user(&app, "bob@bank.test").await;
    let bob = Person { id, token };
    Bank {
        app,
        admin,
        manager,
        alice,
        bob,
    }
}

impl Bank {
    /// Opens an account for `who` in `currency`; its id.
    pub async fn open(&self, who: &Person, currency: &str) -> String {
        let response = call(
            &self.app,
            "POST",
            "/v1/accounts",
            &who.token,
            Some(json!({"currency": currency})),
        )
        .await;
        assert_eq!(response.status, StatusCode::CREATED, "{}", response.text());
        response.json()["id"].as_str().unwrap().to_owned()
    }

    pub async fn deposit(&self, account: &str, amount: &str, currency: &str) -> TestResponse {
        post_keyed(
            &self.app,
            "/v1/deposits",
            &self.admin.token,
            &new_key(),
            json!({"account_id": account, "amount": amount, "currency": currency}),
        )
        .await
    }

    /// An account funded by a deposit of `amount` EUR.
    pub async fn funded(&self, who: &Person, amount: &str) -> String {
        let account = self.open(who, "EUR").await;
        let deposit = self.deposit(&account, amount, "EUR").await;
        assert_eq!(deposit.status, StatusCode::CREATED, "{}", deposit.text());
        account
    }

    pub async fn transfer(
        &self,
        who: &Person,
        from: &str,
        to: &str,
        amount: &str,
        currency: &str,
    ) -> TestResponse {
        post_keyed(
            &self.app,
            "/v1/transfers",
            &who.token,
            &new_key(),
            json!({"from_account_id": from, "to_account_id": to, "amount": amount,
                   "currency": currency}),
        )
        .await
    }

    pub async fn withdraw(&self, who: &Person, account: &str, amount: &str) -> TestResponse {
        post_keyed(
            &self.app,
            "/v1/withdrawals",
            &who.token,
            &new_key(),
            json!({"account_id": account, "amount": amount, "currency": "EUR"}),
        )
        .await
    }

    /// A POST without a body.
    pub async fn post(&self, who: &Person, uri: &str) -> TestResponse {
        call(&self.app, "POST", uri, &who.token, None).await
    }

    pub async fn get(&self, who: &Person, uri: &str) -> TestResponse {
        call(&self.app, "GET", uri, &who.token, None).await
    }

    pub async fn account(&self, account: &str) -> Value {
        let response = self
            .get(&self.admin, &format!("/v1/accounts/{account}"))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        response.json()
    }

    /// The account's balance as the API prints it.
    pub async fn balance(&self, account: &str) -> String {
        self.account(account).await["balance"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `GET /v1/ledger/verify`, asserted sound.
    pub async fn assert_ledger_sound(&self) -> Value {
        let response = self.get(&self.admin, "/v1/ledger/verify").await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let report = response.json();
        assert_eq!(report["ok"], true, "{report}");
        assert_eq!(report["mismatched_accounts"], json!([]), "{report}");
        for currency in report["currencies"].as_array().unwrap() {
            let sum = currency["sum"].as_str().unwrap();
            assert!(sum.trim_start_matches(['0', '.']).is_empty(), "{report}");
        }
        report
    }

    /// Actions of the audit events about `resource_id`, oldest first.
    pub async fn audit_actions(&self, resource_id: &str) -> Vec<String> {
        let response = self
            .get(
                &self.admin,
                &format!("/v1/audit-events?resource_id={resource_id}&limit=100"),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        let mut actions: Vec<String> = response.json()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|event| event["action"].as_str().unwrap().to_owned())
            .collect();
        actions.reverse();
        actions
    }
}
