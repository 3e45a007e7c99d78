//! The audit chain's rules through its public API: the names of actions, the hash's spellings,
//! a READ event's shape, and the verifier refusing each of the three ways an event can fail to
//! link (wrong seq, wrong previous hash, wrong own hash) on its own.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use coffre_domain::audit::{
    AuditAction, AuditContext, AuditEvent, ChainHash, ChainHead, ChainReport, ChainVerifier,
    NewAuditEvent, ResourceType,
};
use coffre_domain::ids::UserId;
use coffre_domain::time::Timestamp;
use serde_json::json;

fn event(n: u32) -> NewAuditEvent {
    NewAuditEvent {
        action: AuditAction::Deposit,
        resource_type: ResourceType::Transfer,
        resource_id: Some(format!("t-{n}")),
        old_value: None,
        new_value: Some(json!({ "n": n })),
        context: AuditContext {
            actor_id: Some(UserId::new()),
            ip_address: Some("192.0.2.1".into()),
            user_agent: Some("test".into()),
            request_id: Some(format!("req-{n}")),
        },
    }
}

fn chain_after(head: ChainHead, count: u32) -> Vec<AuditEvent> {
    let events = (0..count).map(event).collect();
    AuditEvent::chain(head, events, Timestamp::now()).unwrap().0
}

fn verify(events: &[AuditEvent]) -> ChainReport {
    let mut verifier = ChainVerifier::new();
    for event in events {
        if !verifier.push(event) {
            break;
        }
    }
    verifier.finish()
}

#[test]
fn actions_print_as_their_names() {
    for action in AuditAction::ALL {
        assert_eq!(action.to_string(), action.as_str());
    }
    assert_eq!(AuditAction::PaymentExpired.to_string(), "PAYMENT_EXPIRED");
    assert_eq!(
        AuditAction::parse("PAYMENT_EXPIRED"),
        Some(AuditAction::PaymentExpired)
    );
}

#[test]
fn a_hash_is_32_bytes_spelled_in_lower_case_hex() {
    let bytes: Vec<u8> = (0..32).collect();
    let hash = ChainHash::from_slice(&bytes).unwrap();
    let hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    assert_eq!(hash.to_hex(), hex);
    assert_eq!(format!("{hash:?}"), format!("ChainHash({hex})"));
    assert_eq!(serde_json::to_value(hash).unwrap(), json!(hex));
    assert_eq!(ChainHash::from_slice(&bytes[..31]), None);
    assert_eq!(ChainHash::from_slice(&[0; 33]), None);
    assert_eq!(ChainHash::from_slice(&[0; 32]), Some(ChainHash::GENESIS));
}

#[test]
fn a_read_event_names_one_resource_or_the_ids_of_a_page() {
    let context = AuditContext {
        request_id: Some("req-9".into()),
        ..AuditContext::default()
    };
    let one = NewAuditEvent::read(
        ResourceType::Account,
        Some("a-1".into()),
        vec![],
        context.clone(),
    );
    assert_eq!(
        one,
        NewAuditEvent {
            action: AuditAction::Read,
            resource_type: ResourceType::Account,
            resource_id: Some("a-1".into()),
            old_value: None,
            new_value: None,
            context: context.clone(),
        }
    );
    let page = NewAuditEvent::read(
        ResourceType::Transfer,
        None,
        vec!["t-1".into(), "t-2".into()],
        context,
    );
    assert_eq!(page.resource_id, None);
    assert_eq!(page.resource_type, ResourceType::Transfer);
    assert_eq!(page.new_value, Some(json!({"ids": ["t-1", "t-2"]})));
}

#[test]
fn chaining_links_each_event_to_the_one_before() {
    let head = ChainHead {
        seq: 41,
        hash: ChainHash([7; 32]),
    };
    let events = (0..3).map(event).collect();
    let (chained, new_head) = AuditEvent::chain(head, events, Timestamp::now()).unwrap();
    assert_eq!(
        chained.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [42, 43, 44]
    );
    assert_eq!(chained[0].prev_hash, ChainHash([7; 32]));
    assert_eq!(chained[1].prev_hash, chained[0].hash);
    assert_eq!(chained[2].prev_hash, chained[1].hash);
    assert_eq!(
        new_head,
        ChainHead {
            seq: 44,
            hash: chained[2].hash
        }
    );
    for linked in &chained {
        assert_eq!(linked.compute_hash(), linked.hash);
        assert_ne!(linked.hash, ChainHash::GENESIS);
    }
    assert_eq!(chained[1].request_id.as_deref(), Some("req-1"));
    assert_eq!(chained[1].resource_id.as_deref(), Some("t-1"));
}

#[test]
fn a_wrong_seq_alone_breaks_the_chain() {
    // Hashes that link, but numbered from 6: seq 1 is missing.
    let events = chain_after(
        ChainHead {
            seq: 5,
            hash: ChainHash::GENESIS,
        },
        2,
    );
    assert_eq!(events[0].prev_hash, ChainHash::GENESIS);
    assert_eq!(
        verify(&events),
        ChainReport {
            ok: false,
            events_checked: 1,
            first_bad_seq: Some(1)
        }
    );
}

#[test]
fn a_wrong_previous_hash_alone_breaks_the_chain() {
    let events = chain_after(
        ChainHead {
            seq: 0,
            hash: ChainHash([1; 32]),
        },
        2,
    );
    assert_eq!(events[0].seq, 1);
    assert_eq!(events[0].compute_hash(), events[0].hash);
    assert_eq!(verify(&events).first_bad_seq, Some(1));
}

#[test]
fn a_wrong_own_hash_alone_breaks_the_chain() {
    let mut events = chain_after(ChainHead::EMPTY, 3);
    events[1].hash = ChainHash([9; 32]);
    assert_eq!(
        verify(&events),
        ChainReport {
            ok: false,
            events_checked: 2,
            first_bad_seq: Some(2)
        }
    );
}

#[test]
fn a_broken_verifier_refuses_everything_after() {
    let mut events = chain_after(ChainHead::EMPTY, 3);
    events[0].request_id = None;
    let mut verifier = ChainVerifier::default();
    assert!(!verifier.push(&events[0]));
    assert!(!verifier.push(&events[1]));
    assert!(!verifier.push(&events[2]));
    assert_eq!(
        verifier.finish(),
        ChainReport {
            ok: false,
            events_checked: 1,
            first_bad_seq: Some(1)
        }
    );

    let good = chain_after(ChainHead::EMPTY, 3);
    let mut verifier = ChainVerifier::new();
    assert!(good.iter().all(|event| verifier.push(event)));
    assert_eq!(
        verifier.finish(),
        ChainReport {
            ok: true,
            events_checked: 3,
            first_bad_seq: None
        }
    );
}
