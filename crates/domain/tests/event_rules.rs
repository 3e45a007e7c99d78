//! The public events each command emits through `ledger::apply` (API.md "Events"): their types
//! in order, the resource each carries as it stands right after the change, the batch's time,
//! and none for a refusal or a change that changes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::BTreeSet;

use chrono::TimeDelta;
use coffre_domain::access::Actor;
use coffre_domain::audit::AuditContext;
use coffre_domain::event::{EventObject, EventType, NewEvent};
use coffre_domain::hold::HoldState;
use coffre_domain::ids::{AccountId, HoldId, PaymentId, TransactionId, TransferId, UserId};
use coffre_domain::ledger::{
    Account, AccountStatus, Action, BalanceLimits, Command, Effects, Ledger, LimitAmount,
    LimitsChange, NewPosting, Outcome, Postings, Refusal, TransferKind, apply,
};
use coffre_domain::metadata::{Metadata, MetadataPatch};
use coffre_domain::money::{Amount, Currency, Money, SignedMinor};
use coffre_domain::payment::{AuthorizationCode, FailureReason, PaymentState};
use coffre_domain::time::Timestamp;
use coffre_domain::user::Role;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_datetime(chrono::DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap())
}

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn eur_cents(minor: i64) -> Money {
    Money {
        amount: Amount::from_minor(minor).unwrap(),
        currency: eur(),
    }
}

fn cents(minor: i64) -> Amount {
    Amount::from_minor(minor).unwrap()
}

fn account(owner: Option<UserId>, balance: i64) -> Account {
    Account {
        id: AccountId::new(),
        owner_id: owner,
        currency: eur(),
        name: None,
        balance: SignedMinor::new(balance),
        held: SignedMinor::ZERO,
        limits: BalanceLimits::DEFAULT,
        metadata: Metadata::default(),
        status: AccountStatus::Active,
        created_at: at(0),
        updated_at: at(0),
    }
}

/// Alice's `a` (100.00 EUR) and Bob's `b` (nothing), and an admin.
struct World {
    alice: Actor,
    bob: Actor,
    admin: Actor,
    a: AccountId,
    b: AccountId,
    ledger: Ledger,
}

fn world() -> World {
    let actor = |role| Actor {
        user_id: UserId::new(),
        role,
    };
    let (alice, bob, admin) = (actor(Role::User), actor(Role::User), actor(Role::Admin));
    let a = account(Some(alice.user_id), 10_000);
    let b = account(Some(bob.user_id), 0);
    let system = account(None, -10_000);
    World {
        alice,
        bob,
        admin,
        a: a.id,
        b: b.id,
        ledger: Ledger::new([a, b, system]),
    }
}

fn command(actor: Actor, action: Action) -> Command {
    Command {
        actor: Some(actor),
        context: AuditContext::default(),
        action,
    }
}

/// Runs one command at `now`; its result and the events it emitted.
fn run(
    ledger: &mut Ledger,
    actor: Actor,
    action: Action,
    now: Timestamp,
) -> (Result<Outcome, Refusal>, Vec<NewEvent>) {
    let (mut results, effects) = apply(ledger, &[command(actor, action)], now);
    for event in &effects.events {
        assert_eq!(event.created_at, now, "{event:?}");
    }
    (results.remove(0), effects.events)
}

fn types(events: &[NewEvent]) -> Vec<EventType> {
    events.iter().map(|event| event.event_type).collect()
}

fn account_of(event: &NewEvent) -> &Account {
    match &event.object {
        EventObject::Account(account) => account,
        other => panic!("{other:?}"),
    }
}

#[test]
fn account_changes_carry_the_account_as_it_then_stands() {
    let mut w = world();
    let id = AccountId::new();
    let open = Action::OpenAccount {
        id,
        owner_id: w.alice.user_id,
        currency: eur(),
        name: None,
        metadata: Metadata::default(),
    };
    let (result, events) = run(&mut w.ledger, w.alice, open, at(1));
    let Ok(Outcome::Account(opened)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(types(&events), [EventType::AccountCreated]);
    assert_eq!(account_of(&events[0]), &opened);

    let freeze = |status| Action::SetStatus {
        account_id: id,
        status,
    };
    let (_, events) = run(&mut w.ledger, w.admin, freeze(AccountStatus::Frozen), at(2));
    assert_eq!(types(&events), [EventType::AccountUpdated]);
    assert_eq!(account_of(&events[0]).status, AccountStatus::Frozen);
    assert_eq!(account_of(&events[0]).updated_at, at(2));
    let (_, events) = run(&mut w.ledger, w.admin, freeze(AccountStatus::Frozen), at(3));
    assert!(events.is_empty(), "nothing changed: {events:?}");
    let (_, events) = run(&mut w.ledger, w.admin, freeze(AccountStatus::Active), at(4));
    assert_eq!(types(&events), [EventType::AccountUpdated]);
    assert_eq!(account_of(&events[0]), w.ledger.account(id).unwrap());

    let patch: MetadataPatch = serde_json::from_str(r#"{"team": "north"}"#).unwrap();
    let update = |limits, metadata: Option<MetadataPatch>| Action::UpdateAccount {
        account_id: id,
        limits,
        metadata,
    };
    let (_, events) = run(
        &mut w.ledger,
        w.admin,
        update(LimitsChange::default(), Some(patch.clone())),
        at(5),
    );
    assert_eq!(types(&events), [EventType::AccountUpdated]);
    assert_eq!(account_of(&events[0]).metadata.to_json()["team"], "north");
    let (_, events) = run(
        &mut w.ledger,
        w.admin,
        update(LimitsChange::default(), Some(patch.clone())),
        at(6),
    );
    assert!(events.is_empty(), "nothing changed: {events:?}");
    let both = LimitsChange {
        overdraft_limit: Some(LimitAmount::from_minor(500).unwrap()),
        max_balance: None,
    };
    let other: MetadataPatch = serde_json::from_str(r#"{"team": "south"}"#).unwrap();
    let (_, events) = run(&mut w.ledger, w.admin, update(both, Some(other)), at(7));
    assert_eq!(
        types(&events),
        [EventType::AccountUpdated],
        "one per change"
    );
    assert_eq!(account_of(&events[0]), w.ledger.account(id).unwrap());
    let limits_only = LimitsChange {
        overdraft_limit: Some(LimitAmount::from_minor(700).unwrap()),
        max_balance: None,
    };
    let (_, events) = run(&mut w.ledger, w.admin, update(limits_only, None), at(8));
    assert_eq!(types(&events), [EventType::AccountUpdated]);
    assert_eq!(
        account_of(&events[0]).limits.overdraft_limit,
        LimitAmount::from_minor(700).unwrap()
    );
    // A refusal emits nothing.
    let (result, events) = run(&mut w.ledger, w.bob, freeze(AccountStatus::Frozen), at(9));
    assert!(result.is_err());
    assert!(events.is_empty());
}

#[test]
fn every_movement_is_a_transfer_created() {
    let mut w = world();
    let movements = [
        (
            w.alice,
            Action::Transfer {
                id: TransferId::new(),
                from: w.a,
                to: w.b,
                money: eur_cents(100),
                description: None,
                metadata: Metadata::default(),
            },
        ),
        (
            w.admin,
            Action::Deposit {
                id: TransferId::new(),
                account_id: w.b,
                money: eur_cents(200),
                description: None,
                metadata: Metadata::default(),
            },
        ),
        (
            w.bob,
            Action::Withdrawal {
                id: TransferId::new(),
                account_id: w.b,
                money: eur_cents(50),
                description: None,
                metadata: Metadata::default(),
            },
        ),
    ];
    for (actor, action) in movements {
        let (result, events) = run(&mut w.ledger, actor, action, at(1));
        let Ok(Outcome::Transfer(transfer)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(types(&events), [EventType::TransferCreated]);
        assert_eq!(events[0].object, EventObject::Transfer(transfer));
    }
    let (result, events) = run(
        &mut w.ledger,
        w.alice,
        Action::Transfer {
            id: TransferId::new(),
            from: w.a,
            to: w.b,
            money: eur_cents(1_000_000),
            description: None,
            metadata: Metadata::default(),
        },
        at(2),
    );
    assert_eq!(result, Err(Refusal::InsufficientFunds));
    assert!(events.is_empty());
}

#[test]
fn a_batch_emits_its_events_in_order_with_distinct_ids() {
    let mut w = world();
    let transfer = |cents| {
        command(
            w.alice,
            Action::Transfer {
                id: TransferId::new(),
                from: w.a,
                to: w.b,
                money: eur_cents(cents),
                description: None,
                metadata: Metadata::default(),
            },
        )
    };
    let batch = [transfer(1), transfer(1_000_000), transfer(2)];
    let (
        _,
        Effects {
            events, transfers, ..
        },
    ) = apply(&mut w.ledger, &batch, at(1));
    let carried: Vec<EventObject> = events.iter().map(|event| event.object.clone()).collect();
    let made: Vec<EventObject> = transfers.into_iter().map(EventObject::Transfer).collect();
    assert_eq!(carried, made);
    let ids: BTreeSet<_> = events.iter().map(|event| event.id).collect();
    assert_eq!(ids.len(), 2);
}

fn payment_of(event: &NewEvent) -> PaymentState {
    match &event.object {
        EventObject::Payment(view) => view.state,
        other => panic!("{other:?}"),
    }
}

fn hold_of(event: &NewEvent) -> (HoldState, i64) {
    match &event.object {
        EventObject::Hold(view) => (view.state, view.posted_minor),
        other => panic!("{other:?}"),
    }
}

/// A pending payment of `cents` from `a` to `b`.
fn pending(w: &mut World, cents: i64) -> PaymentId {
    let id = PaymentId::new();
    let create = Action::CreatePayment {
        id,
        payer: w.a,
        payee: w.b,
        money: eur_cents(cents),
        metadata: Metadata::default(),
    };
    let (result, events) = run(&mut w.ledger, w.alice, create, at(1));
    let Ok(Outcome::Payment(view)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(types(&events), [EventType::PaymentCreated]);
    assert_eq!(events[0].object, EventObject::Payment(view));
    id
}

fn authorize(payment_id: PaymentId) -> Action {
    Action::Authorize {
        payment_id,
        hold_id: HoldId::new(),
        code: AuthorizationCode::new("c0de".into()),
        ttl: TimeDelta::seconds(600),
    }
}

#[test]
fn payment_transitions_emit_their_events_with_their_holds_and_transfers() {
    let mut w = world();
    let p = pending(&mut w, 1_000);
    let (_, events) = run(&mut w.ledger, w.alice, authorize(p), at(2));
    assert_eq!(
        types(&events),
        [EventType::HoldCreated, EventType::PaymentAuthorized]
    );
    assert_eq!(hold_of(&events[0]), (HoldState::Held, 0));
    assert_eq!(payment_of(&events[1]), PaymentState::Authorized);

    let capture = Action::Capture {
        payment_id: p,
        transfer_id: TransferId::new(),
        amount: Some(cents(600)),
    };
    let (result, events) = run(&mut w.ledger, w.bob, capture, at(3));
    let Ok(Outcome::Payment(view)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        types(&events),
        [
            EventType::TransferCreated,
            EventType::HoldPosted,
            EventType::PaymentCaptured
        ]
    );
    let EventObject::Transfer(made) = &events[0].object else {
        panic!("{events:?}")
    };
    assert_eq!(made.kind, TransferKind::Capture);
    assert_eq!(hold_of(&events[1]), (HoldState::Posted, 600));
    assert_eq!(events[2].object, EventObject::Payment(view));

    for (amount, state) in [(100, PaymentState::Captured), (500, PaymentState::Refunded)] {
        let refund = Action::Refund {
            payment_id: p,
            transfer_id: TransferId::new(),
            amount: Some(cents(amount)),
        };
        let (result, events) = run(&mut w.ledger, w.bob, refund, at(4));
        let Ok(Outcome::Transfer(refunded)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(
            types(&events),
            [EventType::TransferCreated, EventType::PaymentRefunded]
        );
        assert_eq!(events[0].object, EventObject::Transfer(refunded));
        assert_eq!(payment_of(&events[1]), state);
    }
    let (result, events) = run(
        &mut w.ledger,
        w.bob,
        Action::CancelPayment { payment_id: p },
        at(5),
    );
    assert!(result.is_err());
    assert!(events.is_empty());
}

#[test]
fn cancels_failures_and_declines_emit_theirs() {
    let mut w = world();
    let p = pending(&mut w, 100);
    let (_, events) = run(
        &mut w.ledger,
        w.alice,
        Action::CancelPayment { payment_id: p },
        at(2),
    );
    assert_eq!(types(&events), [EventType::PaymentCanceled]);

    let p = pending(&mut w, 100);
    let (authorized, _) = run(&mut w.ledger, w.alice, authorize(p), at(2));
    assert!(authorized.is_ok(), "{authorized:?}");
    let (_, events) = run(
        &mut w.ledger,
        w.bob,
        Action::CancelPayment { payment_id: p },
        at(3),
    );
    assert_eq!(
        types(&events),
        [EventType::HoldVoided, EventType::PaymentCanceled]
    );
    assert_eq!(hold_of(&events[0]), (HoldState::Voided, 0));
    assert_eq!(payment_of(&events[1]), PaymentState::Canceled);

    let p = pending(&mut w, 100);
    let fail = Action::FailPayment {
        payment_id: p,
        reason: FailureReason::parse("declined".into()).unwrap(),
    };
    let (_, events) = run(&mut w.ledger, w.admin, fail, at(2));
    assert_eq!(types(&events), [EventType::PaymentFailed]);
    assert_eq!(payment_of(&events[0]), PaymentState::Failed);

    let p = pending(&mut w, 1_000_000);
    let (result, events) = run(&mut w.ledger, w.alice, authorize(p), at(2));
    assert!(matches!(result, Ok(Outcome::AuthorizationDeclined(_))));
    assert_eq!(types(&events), [EventType::PaymentFailed]);
}

#[test]
fn an_expired_authorization_emits_the_holds_and_the_payments_expiry() {
    let mut w = world();
    let p = pending(&mut w, 100);
    let (authorized, _) = run(&mut w.ledger, w.alice, authorize(p), at(2));
    assert!(authorized.is_ok(), "{authorized:?}");
    let hold = w.ledger.hold_of_payment(p).unwrap().terms().id;
    let sweep = Command {
        actor: None,
        context: AuditContext::default(),
        action: Action::ExpireHold {
            hold_id: hold,
            payment_id: Some(p),
        },
    };
    let (_, effects) = apply(&mut w.ledger, &[sweep], at(700));
    assert_eq!(
        types(&effects.events),
        [EventType::HoldExpired, EventType::PaymentExpired]
    );
    assert_eq!(hold_of(&effects.events[0]), (HoldState::Expired, 0));
    assert_eq!(payment_of(&effects.events[1]), PaymentState::Canceled);
    assert!(
        effects
            .events
            .iter()
            .all(|event| event.created_at == at(700))
    );
}

#[test]
fn hold_transitions_emit_their_events() {
    let mut w = world();
    let create = |ttl| Action::CreateHold {
        id: HoldId::new(),
        from: w.a,
        to: w.b,
        money: eur_cents(300),
        ttl: TimeDelta::seconds(ttl),
        metadata: Metadata::default(),
    };
    let (result, events) = run(&mut w.ledger, w.alice, create(600), at(1));
    let Ok(Outcome::Hold(view)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(types(&events), [EventType::HoldCreated]);
    assert_eq!(events[0].object, EventObject::Hold(view.clone()));
    let post = |amount| Action::PostHold {
        hold_id: view.id,
        transfer_id: TransferId::new(),
        amount: Some(cents(amount)),
    };
    let (result, events) = run(&mut w.ledger, w.bob, post(100), at(2));
    let Ok(Outcome::Transfer(made)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        types(&events),
        [EventType::TransferCreated, EventType::HoldPosted]
    );
    assert_eq!(events[0].object, EventObject::Transfer(made));
    assert_eq!(hold_of(&events[1]), (HoldState::Held, 100), "a part posted");
    let (_, events) = run(&mut w.ledger, w.bob, post(200), at(3));
    assert_eq!(hold_of(&events[1]), (HoldState::Posted, 300));

    let (result, _) = run(&mut w.ledger, w.alice, create(600), at(4));
    let Ok(Outcome::Hold(voided)) = result else {
        panic!("{result:?}")
    };
    let (_, events) = run(
        &mut w.ledger,
        w.alice,
        Action::VoidHold { hold_id: voided.id },
        at(5),
    );
    assert_eq!(types(&events), [EventType::HoldVoided]);
    assert_eq!(hold_of(&events[0]), (HoldState::Voided, 0));

    // Touched past its deadline, a hold expires first, and that expiry is an event of its own,
    // even though the post is refused.
    let (result, _) = run(&mut w.ledger, w.alice, create(10), at(6));
    let Ok(Outcome::Hold(due)) = result else {
        panic!("{result:?}")
    };
    let late = Action::PostHold {
        hold_id: due.id,
        transfer_id: TransferId::new(),
        amount: None,
    };
    let (result, events) = run(&mut w.ledger, w.bob, late, at(100));
    assert!(result.is_err());
    assert_eq!(types(&events), [EventType::HoldExpired]);
    assert_eq!(hold_of(&events[0]), (HoldState::Expired, 0));
}

#[test]
fn a_transaction_emits_its_postings_then_itself_and_a_refused_one_nothing() {
    let mut w = world();
    let posting = |from, to, minor| NewPosting {
        transfer_id: TransferId::new(),
        from,
        to,
        money: eur_cents(minor),
        description: None,
    };
    let post = |postings| Action::PostTransaction {
        id: TransactionId::new(),
        postings: Postings::new(postings).unwrap(),
        description: None,
        metadata: Metadata::default(),
    };
    let (result, events) = run(
        &mut w.ledger,
        w.alice,
        post(vec![posting(w.a, w.b, 100), posting(w.a, w.b, 200)]),
        at(1),
    );
    let Ok(Outcome::Transaction(transaction)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        types(&events),
        [
            EventType::TransferCreated,
            EventType::TransferCreated,
            EventType::TransactionCreated
        ]
    );
    let carried: Vec<EventObject> = events.iter().map(|event| event.object.clone()).collect();
    let mut made: Vec<EventObject> = transaction
        .postings
        .iter()
        .cloned()
        .map(EventObject::Transfer)
        .collect();
    made.push(EventObject::Transaction(transaction));
    assert_eq!(carried, made);

    // The first posting would pass, the second cannot: nothing of either is announced.
    let (result, events) = run(
        &mut w.ledger,
        w.alice,
        post(vec![posting(w.a, w.b, 100), posting(w.a, w.b, 1_000_000)]),
        at(2),
    );
    assert!(result.is_err());
    assert!(events.is_empty(), "{events:?}");
}
