//! The conformance suite: every backend runs these cases against a fresh database through
//! [`conformance_tests!`](crate::conformance_tests), so both backends are held to one behavior.
//!
//! Each case is an `async fn(&dyn Store)` that panics when the backend breaks the contract.

// This module is a test suite compiled into the library (behind the `conformance` feature):
// failing loudly on the first broken expectation is its job.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]

use std::collections::BTreeSet;

use coffre_domain::audit::{
    AuditAction, AuditContext, AuditEvent, ChainHash, ChainReport, NewAuditEvent, ResourceType,
};
use coffre_domain::ids::{AuditEventId, UserId};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::{AuditFilter, Page, PageLimit, Store};

mod identity;
mod ledger;
pub use identity::*;
pub use ledger::*;

/// Keys at and past each edge of [`crate::IdempotencyKey::parse`]'s rule, for each backend's own
/// test that its database accepts exactly the keys the rule accepts.
pub fn idempotency_key_edges() -> [String; 9] {
    [
        "!".to_owned(),
        "a-Z_0.9~".to_owned(),
        "~".repeat(255),
        String::new(),
        "a b".to_owned(),
        "tab\t".to_owned(),
        "caf\u{e9}".to_owned(),
        "del\u{7f}".to_owned(),
        "k".repeat(256),
    ]
}

/// What a backend's test maker returns: the store, possibly with whatever must outlive it
/// (a temporary directory, say) as the second member of a pair.
pub trait Fixture {
    fn store(&self) -> &dyn Store;
}

impl<S: Store> Fixture for S {
    fn store(&self) -> &dyn Store {
        self
    }
}

impl<S: Store, Guard> Fixture for (S, Guard) {
    fn store(&self) -> &dyn Store {
        &self.0
    }
}

/// Expands to one `#[tokio::test]` per conformance case. The argument is the path of an
/// `async fn` returning a fresh, migrated store (or a `(store, guard)` pair, see [`Fixture`]).
///
/// ```text
/// coffre_store::conformance_tests!(coffre_store_sqlite::testing::fresh_store);
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make_store:path) => {
        $crate::conformance_tests!(@cases $make_store;
            ping_answers_and_migrate_is_idempotent,
            audit_appends_gap_free_linked_events,
            audit_record_of_nothing_appends_nothing,
            audit_round_trips_every_field,
            audit_json_values_round_trip,
            audit_lists_newest_first_in_pages,
            audit_list_filters,
            audit_list_after_an_unknown_event_is_empty,
            audit_verify_walks_every_page,
            audit_concurrent_appends_form_one_chain,
            identity_create_user_and_email_taken,
            identity_find_login,
            identity_sessions_create_check_and_revoke,
            identity_refresh_rotation_and_reuse,
            identity_concurrent_rotation_has_one_winner,
            identity_login_throttle_grows,
            identity_parallel_login_claims_respect_the_throttle,
            identity_expired_logins_are_purged_in_batches,
            identity_update_user_audits_and_revokes,
            identity_last_admin_is_kept,
            identity_concurrent_demotions_keep_an_admin,
            identity_ensure_admin_creates_then_promotes,
            identity_list_users_newest_first,
            ledger_batch_refusals_leave_neighbours_alone,
            ledger_a_row_the_database_refuses_fails_only_its_command,
            ledger_idempotency_records_commit_with_their_effect,
            ledger_unkept_responses_store_no_key_and_old_keys_are_purged,
            ledger_sessions_are_checked_in_the_batch,
            ledger_concurrent_opposite_transfers_conserve,
            ledger_events_are_listed_filtered_and_purged,
        );
    };
    (@cases $make_store:path; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fixture = $make_store().await;
                let store = $crate::conformance::Fixture::store(&fixture);
                $crate::conformance::$case(store).await;
                store.close().await;
            }
        )+
    };
}

fn event(
    action: AuditAction,
    resource_type: ResourceType,
    resource_id: Option<&str>,
) -> NewAuditEvent {
    NewAuditEvent {
        action,
        resource_type,
        resource_id: resource_id.map(Into::into),
        old_value: None,
        new_value: None,
        context: AuditContext::default(),
    }
}

fn by(actor: UserId, event: NewAuditEvent) -> NewAuditEvent {
    NewAuditEvent {
        context: AuditContext {
            actor_id: Some(actor),
            ..event.context
        },
        ..event
    }
}

fn numbered(count: usize, batch: usize) -> Vec<NewAuditEvent> {
    (0..count)
        .map(|n| NewAuditEvent {
            new_value: Some(json!({"batch": batch, "n": n})),
            ..event(AuditAction::Transfer, ResourceType::Transfer, None)
        })
        .collect()
}

async fn page(
    store: &dyn Store,
    filter: &AuditFilter,
    limit: u64,
    starting_after: Option<AuditEventId>,
) -> Page<AuditEvent> {
    store
        .list_audit_events(filter, PageLimit::new(limit).unwrap(), starting_after)
        .await
        .expect("list audit events")
}

/// Every event matching `filter`, newest first, following the cursor page by page.
async fn list_all(store: &dyn Store, filter: &AuditFilter) -> Vec<AuditEvent> {
    let mut events: Vec<AuditEvent> = Vec::new();
    loop {
        let after = events.last().map(|event| event.id);
        let next = page(store, filter, u64::from(PageLimit::MAX), after).await;
        events.extend(next.data);
        if !next.has_more {
            return events;
        }
    }
}

fn seqs(events: &[AuditEvent]) -> Vec<i64> {
    events.iter().map(|event| event.seq).collect()
}

async fn verify(store: &dyn Store) -> ChainReport {
    store.verify_audit_chain().await.expect("verify the chain")
}

fn sound(events_checked: u64) -> ChainReport {
    ChainReport {
        ok: true,
        events_checked,
        first_bad_seq: None,
    }
}

pub async fn ping_answers_and_migrate_is_idempotent(store: &dyn Store) {
    store.ping().await.expect("ping");
    store
        .migrate()
        .await
        .expect("migrate an up-to-date database");
    store.ping().await.expect("ping after migrate");
}

pub async fn audit_appends_gap_free_linked_events(store: &dyn Store) {
    let first = store
        .record_audit(vec![
            event(AuditAction::Register, ResourceType::User, Some("u-1")),
            event(AuditAction::Login, ResourceType::Session, Some("s-1")),
            event(
                AuditAction::AccountCreated,
                ResourceType::Account,
                Some("a-1"),
            ),
        ])
        .await
        .expect("record three events");
    let second = store
        .record_audit(vec![
            event(AuditAction::Deposit, ResourceType::Transfer, Some("t-1")),
            event(AuditAction::Logout, ResourceType::Session, Some("s-1")),
        ])
        .await
        .expect("record two more");

    let recorded: Vec<AuditEvent> = first.into_iter().chain(second).collect();
    assert_eq!(seqs(&recorded), [1, 2, 3, 4, 5]);
    assert_eq!(recorded[0].prev_hash, ChainHash::GENESIS);
    for pair in recorded.windows(2) {
        assert_eq!(
            pair[1].prev_hash, pair[0].hash,
            "event {} links",
            pair[1].seq
        );
    }
    for event in &recorded {
        assert_eq!(event.compute_hash(), event.hash, "event {} hash", event.seq);
    }

    let mut stored = list_all(store, &AuditFilter::default()).await;
    stored.reverse();
    assert_eq!(stored, recorded);
    assert_eq!(verify(store).await, sound(5));
}

pub async fn audit_record_of_nothing_appends_nothing(store: &dyn Store) {
    let recorded = store
        .record_audit(Vec::new())
        .await
        .expect("record nothing");
    assert!(recorded.is_empty());
    assert!(list_all(store, &AuditFilter::default()).await.is_empty());
    assert_eq!(verify(store).await, sound(0));

    let recorded = store
        .record_audit(vec![event(AuditAction::Login, ResourceType::Session, None)])
        .await
        .expect("record after nothing");
    assert_eq!(seqs(&recorded), [1]);
}

pub async fn audit_round_trips_every_field(store: &dyn Store) {
    let full = NewAuditEvent {
        action: AuditAction::PermissionChanged,
        resource_type: ResourceType::User,
        resource_id: Some("0197a1b2-0000-7000-8000-000000000001".into()),
        old_value: Some(json!({"role": "customer"})),
        new_value: Some(json!({"role": "manager"})),
        context: AuditContext {
            actor_id: Some(UserId::new()),
            ip_address: Some("2001:db8::1".into()),
            user_agent: Some("curl/8.5.0 (x86_64) «quoted» 'single'".into()),
            request_id: Some("req-0123456789".into()),
        },
    };
    let empty = event(AuditAction::LoginFailed, ResourceType::Session, None);
    let with_empty_strings = NewAuditEvent {
        resource_id: Some(String::new()),
        context: AuditContext {
            actor_id: None,
            ip_address: Some(String::new()),
            user_agent: Some(String::new()),
            request_id: Some(String::new()),
        },
        ..event(AuditAction::Read, ResourceType::Account, None)
    };
    let recorded = store
        .record_audit(vec![full, empty, with_empty_strings])
        .await
        .expect("record");

    let mut stored = list_all(store, &AuditFilter::default()).await;
    stored.reverse();
    assert_eq!(stored, recorded);
    assert_eq!(stored[1].resource_id, None);
    assert_eq!(stored[2].resource_id.as_deref(), Some(""));
    assert_eq!(verify(store).await, sound(3));
}

pub async fn audit_json_values_round_trip(store: &dyn Store) {
    // Values a database may store differently from how it received them: key order, numbers
    // it normalizes (a float with an integral value, negative zero), escapes, JSON null.
    let values = [
        json!({"zeta": 1, "alpha": {"nested": [3, 2, 1], "b": true, "a": false}}),
        json!({"amount": "12.50", "currency": "EUR"}),
        json!([u64::MAX, i64::MIN, 0.1, 1e17, -0.0, 1.5e300, 2.5e-8, 3.0]),
        json!("é 😀 \" \\ \n \t \u{1} \u{0}"),
        json!({"": null, "empty": {}, "list": []}),
        Value::Null,
        json!(42),
    ];
    let events: Vec<NewAuditEvent> = values
        .iter()
        .map(|value| NewAuditEvent {
            old_value: Some(value.clone()),
            new_value: Some(json!({"wrapped": value})),
            ..event(AuditAction::Transfer, ResourceType::Transfer, None)
        })
        .collect();
    let recorded = store
        .record_audit(events)
        .await
        .expect("record json values");

    let mut stored = list_all(store, &AuditFilter::default()).await;
    stored.reverse();
    assert_eq!(stored, recorded);
    for (event, value) in stored.iter().zip(&values) {
        assert_eq!(event.old_value.as_ref(), Some(value));
        assert_eq!(
            event.old_value.as_ref().map(Value::to_string),
            Some(value.to_string()),
            "event {} keeps its exact JSON",
            event.seq
        );
    }
    // JSON null is a value, distinct from no value.
    assert_eq!(stored[5].old_value, Some(Value::Null));
    assert_eq!(verify(store).await, sound(values.len() as u64));
}

pub async fn audit_lists_newest_first_in_pages(store: &dyn Store) {
    let recorded = store
        .record_audit(numbered(5, 0))
        .await
        .expect("record five events");
    let all = AuditFilter::default();

    let first = page(store, &all, 2, None).await;
    assert_eq!(seqs(&first.data), [5, 4]);
    assert!(first.has_more);

    let second = page(store, &all, 2, Some(first.data[1].id)).await;
    assert_eq!(seqs(&second.data), [3, 2]);
    assert!(second.has_more);

    let third = page(store, &all, 2, Some(second.data[1].id)).await;
    assert_eq!(seqs(&third.data), [1]);
    assert!(!third.has_more);

    let exact = page(store, &all, 5, None).await;
    assert_eq!(seqs(&exact.data), [5, 4, 3, 2, 1]);
    assert!(!exact.has_more, "a page that holds everything has no more");

    let after_oldest = page(store, &all, 5, Some(recorded[0].id)).await;
    assert!(after_oldest.data.is_empty());
    assert!(!after_oldest.has_more);

    let default = store
        .list_audit_events(&all, PageLimit::default(), None)
        .await
        .expect("list with the default limit");
    assert_eq!(default.data.len(), 5);
}

pub async fn audit_list_filters(store: &dyn Store) {
    let alice = UserId::new();
    let bob = UserId::new();
    let alice_id = alice.to_string();
    store
        .record_audit(vec![
            by(
                alice,
                event(AuditAction::Deposit, ResourceType::Account, Some("a-1")),
            ),
            by(
                bob,
                event(AuditAction::Withdrawal, ResourceType::Account, Some("a-1")),
            ),
            by(
                alice,
                event(AuditAction::Deposit, ResourceType::Account, Some("a-2")),
            ),
            event(AuditAction::LoginFailed, ResourceType::Session, None),
            by(
                alice,
                event(AuditAction::Login, ResourceType::User, Some(&alice_id)),
            ),
        ])
        .await
        .expect("record");

    let cases = [
        (
            AuditFilter {
                actor_id: Some(alice),
                ..AuditFilter::default()
            },
            vec![5, 3, 1],
        ),
        (
            AuditFilter {
                resource_type: Some("account".into()),
                ..AuditFilter::default()
            },
            vec![3, 2, 1],
        ),
        (
            AuditFilter {
                resource_type: Some("account".into()),
                resource_id: Some("a-1".into()),
                ..AuditFilter::default()
            },
            vec![2, 1],
        ),
        (
            AuditFilter {
                resource_id: Some("a-2".into()),
                ..AuditFilter::default()
            },
            vec![3],
        ),
        (
            AuditFilter {
                action: Some(AuditAction::Deposit),
                ..AuditFilter::default()
            },
            vec![3, 1],
        ),
        (
            AuditFilter {
                actor_id: Some(alice),
                resource_id: Some("a-2".into()),
                action: Some(AuditAction::Deposit),
                ..AuditFilter::default()
            },
            vec![3],
        ),
        (
            AuditFilter {
                actor_id: Some(bob),
                action: Some(AuditAction::Deposit),
                ..AuditFilter::default()
            },
            vec![],
        ),
        (
            AuditFilter {
                resource_type: Some("ACCOUNT".into()),
                ..AuditFilter::default()
            },
            vec![],
        ),
    ];
    for (filter, expected) in cases {
        let found = list_all(store, &filter).await;
        assert_eq!(seqs(&found), expected, "{filter:?}");
    }

    let alice_only = AuditFilter {
        actor_id: Some(alice),
        ..AuditFilter::default()
    };
    let first = page(store, &alice_only, 2, None).await;
    assert_eq!(seqs(&first.data), [5, 3]);
    assert!(first.has_more);
    let second = page(store, &alice_only, 2, Some(first.data[1].id)).await;
    assert_eq!(seqs(&second.data), [1]);
    assert!(!second.has_more);
}

pub async fn audit_list_after_an_unknown_event_is_empty(store: &dyn Store) {
    store
        .record_audit(numbered(3, 0))
        .await
        .expect("record three events");
    let unknown = page(
        store,
        &AuditFilter::default(),
        10,
        Some(AuditEventId::new()),
    )
    .await;
    assert!(unknown.data.is_empty());
    assert!(!unknown.has_more);
}

pub async fn audit_verify_walks_every_page(store: &dyn Store) {
    assert_eq!(verify(store).await, sound(0));
    // More events than one page of the walk (backends read 1,000 at a time), ending mid-page.
    for (batch, count) in [1_200, 1_200, 100].into_iter().enumerate() {
        let recorded = store
            .record_audit(numbered(count, batch))
            .await
            .expect("record a batch");
        assert_eq!(recorded.len(), count);
    }
    assert_eq!(verify(store).await, sound(2_500));
}

pub async fn audit_concurrent_appends_form_one_chain(store: &dyn Store) {
    const WRITERS: usize = 20;
    const EVENTS_PER_WRITER: usize = 5;
    let results = join_all(
        (0..WRITERS).map(|writer| store.record_audit(numbered(EVENTS_PER_WRITER, writer))),
    )
    .await;

    let mut all_seqs = BTreeSet::new();
    for (writer, result) in results.into_iter().enumerate() {
        let recorded = result.unwrap_or_else(|error| panic!("writer {writer}: {error}"));
        let own = seqs(&recorded);
        assert_eq!(own.len(), EVENTS_PER_WRITER);
        assert!(
            own.windows(2).all(|pair| pair[1] == pair[0] + 1),
            "writer {writer} got consecutive seqs: {own:?}"
        );
        all_seqs.extend(own);
    }
    let total = WRITERS * EVENTS_PER_WRITER;
    assert_eq!(
        all_seqs.into_iter().collect::<Vec<_>>(),
        (1..=total as i64).collect::<Vec<_>>()
    );
    assert_eq!(verify(store).await, sound(total as u64));
}
