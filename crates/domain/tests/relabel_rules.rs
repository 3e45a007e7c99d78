//! `relabel`: who may change the metadata of a transfer, transaction, hold or payment, what a
//! patch leaves, and the audit event it records.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use coffre_domain::access::Actor;
use coffre_domain::audit::{AuditAction, AuditContext, ResourceType};
use coffre_domain::ids::{HoldId, PaymentId, TransactionId, TransferId, UserId};
use coffre_domain::metadata::{Metadata, MetadataPatch};
use coffre_domain::relabel::{Labelled, LabelledRow, RelabelRefused, relabel};
use coffre_domain::user::Role;
use serde_json::json;

fn actor(role: Role) -> Actor {
    Actor {
        user_id: UserId::new(),
        role,
    }
}

fn metadata(value: serde_json::Value) -> Metadata {
    Metadata::from_value(value).unwrap()
}

fn patch(pairs: &[(&str, Option<&str>)]) -> MetadataPatch {
    let map: BTreeMap<String, Option<String>> = pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.map(str::to_owned)))
        .collect();
    MetadataPatch::try_from(map).unwrap()
}

/// A resource whose money came from `source`'s account and went to `target`'s.
fn row(source: Option<UserId>, target: Option<UserId>, labels: serde_json::Value) -> LabelledRow {
    LabelledRow {
        metadata: metadata(labels),
        sources: vec![source],
        parties: vec![source, target],
    }
}

fn context(actor: &Actor) -> AuditContext {
    AuditContext {
        actor_id: Some(actor.user_id),
        request_id: Some("req-1".into()),
        ..AuditContext::default()
    }
}

#[test]
fn the_owner_of_the_source_merges_and_the_event_says_before_and_after() {
    let owner = actor(Role::User);
    let target = Labelled::Transfer(TransferId::new());
    let before = row(
        Some(owner.user_id),
        Some(UserId::new()),
        json!({"a": "1", "b": "2"}),
    );
    let changes = patch(&[("a", Some("one")), ("b", None), ("c", Some("3"))]);
    let (after, event) = relabel(&owner, target, &before, &changes, &context(&owner))
        .unwrap()
        .unwrap();
    assert_eq!(after, metadata(json!({"a": "one", "c": "3"})));
    assert_eq!(event.action, AuditAction::MetadataUpdated);
    assert_eq!(event.resource_type, ResourceType::Transfer);
    let Labelled::Transfer(id) = target else {
        unreachable!()
    };
    assert_eq!(event.resource_id, Some(id.to_string()));
    assert_eq!(
        event.old_value,
        Some(json!({"metadata": {"a": "1", "b": "2"}}))
    );
    assert_eq!(
        event.new_value,
        Some(json!({"metadata": {"a": "one", "c": "3"}}))
    );
    assert_eq!(event.context, context(&owner));
}

#[test]
fn each_resource_is_named_by_its_own_type_and_id() {
    let admin = actor(Role::Admin);
    let transaction = TransactionId::new();
    let hold = HoldId::new();
    let payment = PaymentId::new();
    let transfer = TransferId::new();
    for (target, kind, id) in [
        (
            Labelled::Transaction(transaction),
            ResourceType::Transaction,
            transaction.to_string(),
        ),
        (Labelled::Hold(hold), ResourceType::Hold, hold.to_string()),
        (
            Labelled::Payment(payment),
            ResourceType::Payment,
            payment.to_string(),
        ),
        (
            Labelled::Transfer(transfer),
            ResourceType::Transfer,
            transfer.to_string(),
        ),
    ] {
        assert_eq!(target.resource_type(), kind);
        assert_eq!(
            target.updated().as_str(),
            format!("{}.updated", kind.as_str())
        );
        let (_, event) = relabel(
            &admin,
            target,
            &row(None, None, json!({})),
            &patch(&[("k", Some("v"))]),
            &context(&admin),
        )
        .unwrap()
        .unwrap();
        assert_eq!(event.resource_type, kind);
        assert_eq!(event.resource_id, Some(id));
    }
}

#[test]
fn a_patch_that_changes_nothing_writes_nothing() {
    let owner = actor(Role::User);
    let before = row(Some(owner.user_id), None, json!({"a": "1"}));
    for unchanged in [
        patch(&[]),
        patch(&[("a", Some("1"))]),
        patch(&[("gone", None)]),
    ] {
        let decided = relabel(
            &owner,
            Labelled::Hold(HoldId::new()),
            &before,
            &unchanged,
            &context(&owner),
        );
        assert_eq!(decided, Ok(None));
    }
}

#[test]
fn past_the_key_limit_is_refused() {
    let owner = actor(Role::User);
    let full: serde_json::Map<String, serde_json::Value> =
        (0..50).map(|i| (format!("k{i}"), json!("v"))).collect();
    let before = row(Some(owner.user_id), None, serde_json::Value::Object(full));
    let target = Labelled::Payment(PaymentId::new());
    let one_more = patch(&[("extra", Some("v"))]);
    assert_eq!(
        relabel(&owner, target, &before, &one_more, &context(&owner)),
        Err(RelabelRefused::TooManyKeys)
    );
    // Replacing one key keeps 50: allowed.
    let swap = patch(&[("k0", None), ("extra", Some("v"))]);
    let (after, _) = relabel(&owner, target, &before, &swap, &context(&owner))
        .unwrap()
        .unwrap();
    assert_eq!(after.iter().count(), 50);
}

#[test]
fn only_the_owner_of_every_source_or_an_admin_may_label() {
    let alice = actor(Role::User);
    let bob = actor(Role::User);
    let stranger = actor(Role::User);
    let manager = actor(Role::Manager);
    let admin = actor(Role::Admin);
    let target = Labelled::Transaction(TransactionId::new());
    let changes = patch(&[("k", Some("v"))]);
    let decide =
        |who: &Actor, row: &LabelledRow| relabel(who, target, row, &changes, &context(who));

    let alice_to_bob = row(Some(alice.user_id), Some(bob.user_id), json!({}));
    assert!(decide(&alice, &alice_to_bob).unwrap().is_some());
    assert!(decide(&admin, &alice_to_bob).unwrap().is_some());
    // The receiver and a manager see it, so they are told no; a stranger is not told it exists.
    assert_eq!(decide(&bob, &alice_to_bob), Err(RelabelRefused::Forbidden));
    assert_eq!(
        decide(&manager, &alice_to_bob),
        Err(RelabelRefused::Forbidden)
    );
    assert_eq!(
        decide(&stranger, &alice_to_bob),
        Err(RelabelRefused::NotFound)
    );

    // Money from the system account (a deposit): an admin only.
    let deposit = row(None, Some(alice.user_id), json!({}));
    assert_eq!(decide(&alice, &deposit), Err(RelabelRefused::Forbidden));
    assert!(decide(&admin, &deposit).unwrap().is_some());

    // A transaction spending from alice's and bob's accounts: neither owns every source.
    let shared = LabelledRow {
        metadata: Metadata::default(),
        sources: vec![Some(alice.user_id), Some(bob.user_id)],
        parties: vec![
            Some(alice.user_id),
            Some(bob.user_id),
            Some(bob.user_id),
            Some(alice.user_id),
        ],
    };
    assert_eq!(decide(&alice, &shared), Err(RelabelRefused::Forbidden));
    assert_eq!(decide(&bob, &shared), Err(RelabelRefused::Forbidden));
    assert!(decide(&admin, &shared).unwrap().is_some());
    // Both postings from alice's accounts: hers to label.
    let alices = LabelledRow {
        metadata: Metadata::default(),
        sources: vec![Some(alice.user_id), Some(alice.user_id)],
        parties: vec![Some(alice.user_id), Some(bob.user_id)],
    };
    assert!(decide(&alice, &alices).unwrap().is_some());
    // A row naming no source (none can be stored; a transaction has postings) is no one's.
    let sourceless = LabelledRow {
        metadata: Metadata::default(),
        sources: Vec::new(),
        parties: vec![Some(alice.user_id)],
    };
    assert_eq!(decide(&alice, &sourceless), Err(RelabelRefused::Forbidden));
}
