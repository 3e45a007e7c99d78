//! The hold actions one rule at a time, through `ledger::apply` (API.md "Holds"): each check in
//! its order, the balances and holds each transition leaves, the transfer each post makes, the
//! effects a backend writes and the one audit event per transition.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::BTreeSet;

use chrono::TimeDelta;
use coffre_domain::access::Actor;
use coffre_domain::audit::{AuditAction, AuditContext, ResourceType};
use coffre_domain::hold::{HoldState, HoldView};
use coffre_domain::ids::{AccountId, HoldId, PaymentId, TransferId, UserId};
use coffre_domain::ledger::{
    Account, AccountStatus, Action, BalanceLimits, Command, CommandResult, Effects, Ledger,
    Outcome, Refusal, Transfer, TransferKind, apply,
};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Amount, Currency, Money, SignedMinor};
use coffre_domain::payment::AuthorizationCode;
use coffre_domain::time::Timestamp;
use coffre_domain::user::Role;
use serde_json::json;

const TTL_SECS: i64 = 600;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_datetime(chrono::DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap())
}

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn money(minor: i64, currency: Currency) -> Money {
    Money {
        amount: Amount::from_minor(minor).unwrap(),
        currency,
    }
}

fn actor(role: Role) -> Actor {
    Actor {
        user_id: UserId::new(),
        role,
    }
}

fn account(owner: Option<UserId>, currency: Currency, balance: i64) -> Account {
    Account {
        id: AccountId::new(),
        owner_id: owner,
        currency,
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

/// Alice's `a` (1000.00 EUR), Bob's `b` (nothing) and `bj` (JPY), and a stranger, a manager
/// and an admin.
struct World {
    alice: Actor,
    bob: Actor,
    stranger: Actor,
    manager: Actor,
    admin: Actor,
    a: AccountId,
    b: AccountId,
    bj: AccountId,
    ledger: Ledger,
}

fn world() -> World {
    let (alice, bob) = (actor(Role::User), actor(Role::User));
    let a = account(Some(alice.user_id), eur(), 100_000);
    let b = account(Some(bob.user_id), eur(), 0);
    let bj = account(Some(bob.user_id), Currency::parse("JPY").unwrap(), 0);
    let system = account(None, eur(), -100_000);
    World {
        alice,
        bob,
        stranger: actor(Role::User),
        manager: actor(Role::Manager),
        admin: actor(Role::Admin),
        a: a.id,
        b: b.id,
        bj: bj.id,
        ledger: Ledger::new([a, b, bj, system]),
    }
}

fn command(actor: Actor, action: Action) -> Command {
    Command {
        actor: Some(actor),
        context: AuditContext {
            actor_id: Some(actor.user_id),
            ip_address: None,
            user_agent: None,
            request_id: Some("req".into()),
        },
        action,
    }
}

fn run(ledger: &mut Ledger, command: Command, now: Timestamp) -> (CommandResult, Effects) {
    let (mut results, effects) = apply(ledger, &[command], now);
    (results.remove(0), effects)
}

fn accept(ledger: &mut Ledger, command: Command, now: Timestamp) -> Outcome {
    let (result, _) = run(ledger, command, now);
    result.unwrap()
}

fn refused(ledger: &mut Ledger, command: Command, refusal: Refusal) {
    let before = ledger.clone();
    let (result, effects) = run(ledger, command, at(1));
    assert_eq!(result, Err(refusal));
    assert_eq!(*ledger, before);
    assert_eq!(effects, Effects::default());
}

fn create(actor: Actor, from: AccountId, to: AccountId, minor: i64) -> Command {
    command(
        actor,
        Action::CreateHold {
            id: HoldId::new(),
            from,
            to,
            money: money(minor, eur()),
            ttl: TimeDelta::seconds(TTL_SECS),
            metadata: Metadata::default(),
        },
    )
}

fn post(actor: Actor, hold_id: HoldId, minor: Option<i64>) -> Command {
    command(
        actor,
        Action::PostHold {
            hold_id,
            transfer_id: TransferId::new(),
            amount: minor.map(|minor| Amount::from_minor(minor).unwrap()),
        },
    )
}

fn void(actor: Actor, hold_id: HoldId) -> Command {
    command(actor, Action::VoidHold { hold_id })
}

fn hold_view(result: CommandResult) -> HoldView {
    match result {
        Ok(Outcome::Hold(view)) => view,
        other => panic!("expected a hold, got {other:?}"),
    }
}

fn transfer_of(result: CommandResult) -> Transfer {
    match result {
        Ok(Outcome::Transfer(transfer)) => transfer,
        other => panic!("expected a transfer, got {other:?}"),
    }
}

fn actions(effects: &Effects) -> Vec<AuditAction> {
    effects.audit.iter().map(|event| event.action).collect()
}

fn held(ledger: &Ledger, id: AccountId) -> i64 {
    ledger.account(id).unwrap().held.minor()
}

fn balance(ledger: &Ledger, id: AccountId) -> i64 {
    ledger.account(id).unwrap().balance.minor()
}

/// A hold of `minor` from `a` to `b`, created by Alice at `at(0)`.
fn held_hold(w: &mut World, minor: i64) -> HoldId {
    let (result, _) = run(&mut w.ledger, create(w.alice, w.a, w.b, minor), at(0));
    hold_view(result).id
}

#[test]
fn a_hold_reserves_its_amount_and_records_one_event() {
    let mut w = world();
    let (result, effects) = run(&mut w.ledger, create(w.alice, w.a, w.b, 30_000), at(5));
    let view = hold_view(result);
    assert_eq!(
        (
            view.state,
            view.held_minor,
            view.posted_minor,
            view.released_minor
        ),
        (HoldState::Held, 30_000, 0, 0)
    );
    assert_eq!((view.from_account_id, view.to_account_id), (w.a, w.b));
    assert_eq!((view.payment_id, view.created_at), (None, at(5)));
    assert_eq!(view.expires_at, at(5 + TTL_SECS));
    assert_eq!(
        (balance(&w.ledger, w.a), held(&w.ledger, w.a)),
        (100_000, 30_000)
    );
    assert_eq!(w.ledger.account(w.a).unwrap().updated_at, at(5));
    assert_eq!(held(&w.ledger, w.b), 0);
    assert_eq!(effects.holds_opened, BTreeSet::from([view.id]));
    assert_eq!(effects.changed, BTreeSet::from([w.a]));
    assert!(effects.transfers.is_empty() && effects.holds_changed.is_empty());
    assert_eq!(actions(&effects), [AuditAction::HoldCreated]);
    let event = &effects.audit[0];
    assert_eq!(event.resource_type, ResourceType::Hold);
    assert_eq!(event.resource_id, Some(view.id.to_string()));
    assert_eq!(event.old_value, None);
    let new_value = event.new_value.as_ref().unwrap();
    assert_eq!(new_value["state"], "held");
    assert_eq!(new_value["held_amount"], "300.00");
    assert_eq!(new_value["from_account_id"], json!(w.a));
}

#[test]
fn a_hold_keeps_the_clients_metadata_and_records_it() {
    let mut w = world();
    let metadata: Metadata = serde_json::from_value(json!({"order": "A-17", "note": ""})).unwrap();
    let mut command = create(w.alice, w.a, w.b, 100);
    if let Action::CreateHold { metadata: m, .. } = &mut command.action {
        *m = metadata.clone();
    }
    let (result, effects) = run(&mut w.ledger, command, at(0));
    let view = hold_view(result);
    assert_eq!(view.metadata, metadata);
    assert_eq!(w.ledger.hold(view.id).unwrap().terms().metadata, metadata);
    assert_eq!(
        effects.audit[0].new_value.as_ref().unwrap()["metadata"],
        json!({"order": "A-17", "note": ""})
    );
}

#[test]
fn creating_a_hold_checks_in_the_contract_order() {
    let mut w = world();
    let missing = AccountId::new();
    refused(
        &mut w.ledger,
        create(w.alice, missing, w.b, 1),
        Refusal::AccountNotFound(missing),
    );
    refused(
        &mut w.ledger,
        create(w.stranger, w.a, w.b, 1),
        Refusal::AccountNotFound(w.a),
    );
    refused(
        &mut w.ledger,
        create(w.manager, w.a, w.b, 1),
        Refusal::Forbidden,
    );
    refused(
        &mut w.ledger,
        create(w.alice, w.a, missing, 1),
        Refusal::AccountNotFound(missing),
    );
    refused(
        &mut w.ledger,
        create(w.alice, w.a, w.a, 1),
        Refusal::SameAccount,
    );
    refused(
        &mut w.ledger,
        create(w.alice, w.a, w.bj, 1),
        Refusal::CurrencyMismatch,
    );
    refused(
        &mut w.ledger,
        create(w.alice, w.a, w.b, 100_001),
        Refusal::InsufficientFunds,
    );
    let system = w
        .ledger
        .accounts()
        .find(|account| account.is_system())
        .unwrap()
        .id;
    refused(
        &mut w.ledger,
        create(w.alice, w.a, system, 1),
        Refusal::AccountNotFound(system),
    );
    refused(
        &mut w.ledger,
        Command {
            actor: None,
            ..create(w.alice, w.a, w.b, 1)
        },
        Refusal::Forbidden,
    );
    // Exactly what is available, by an admin on Alice's behalf.
    let (result, _) = run(&mut w.ledger, create(w.admin, w.a, w.b, 100_000), at(1));
    assert_eq!(hold_view(result).held_minor, 100_000);
    assert_eq!(
        w.ledger.account(w.a).unwrap().available(),
        SignedMinor::ZERO
    );
    refused(
        &mut w.ledger,
        create(w.alice, w.a, w.b, 1),
        Refusal::InsufficientFunds,
    );
}

#[test]
fn a_hold_towards_or_from_a_frozen_account_is_refused() {
    let mut w = world();
    let freeze = |account_id| {
        command(
            actor(Role::Manager),
            Action::SetStatus {
                account_id,
                status: AccountStatus::Frozen,
            },
        )
    };
    accept(&mut w.ledger, freeze(w.b), at(0));
    refused(
        &mut w.ledger,
        create(w.alice, w.a, w.b, 1),
        Refusal::AccountFrozen(w.b),
    );
    let mut w = world();
    accept(&mut w.ledger, freeze(w.a), at(0));
    refused(
        &mut w.ledger,
        create(w.alice, w.a, w.b, 1),
        Refusal::AccountFrozen(w.a),
    );
}

#[test]
fn partial_posts_accumulate_and_the_last_one_posts_the_hold() {
    let mut w = world();
    let id = held_hold(&mut w, 30_000);
    refused(
        &mut w.ledger,
        post(w.stranger, id, None),
        Refusal::HoldNotFound(id),
    );
    refused(&mut w.ledger, post(w.manager, id, None), Refusal::Forbidden);
    refused(
        &mut w.ledger,
        post(w.bob, id, Some(30_001)),
        Refusal::AmountExceedsHeld,
    );
    let missing = HoldId::new();
    refused(
        &mut w.ledger,
        post(w.bob, missing, None),
        Refusal::HoldNotFound(missing),
    );

    // The receiver collects a part.
    let (result, effects) = run(&mut w.ledger, post(w.bob, id, Some(10_000)), at(3));
    let transfer = transfer_of(result);
    assert_eq!(
        (
            transfer.kind,
            transfer.from_account_id,
            transfer.to_account_id,
            transfer.amount.minor(),
            transfer.hold_id
        ),
        (TransferKind::Transfer, w.a, w.b, 10_000, Some(id))
    );
    assert_eq!(effects.entries.len(), 2);
    assert_eq!(effects.holds_changed, BTreeSet::from([id]));
    assert_eq!(effects.changed, BTreeSet::from([w.a, w.b]));
    assert_eq!(
        (balance(&w.ledger, w.a), held(&w.ledger, w.a)),
        (90_000, 20_000)
    );
    assert_eq!(balance(&w.ledger, w.b), 10_000);
    let view = w.ledger.hold(id).unwrap().view();
    assert_eq!(
        (
            view.state,
            view.held_minor,
            view.posted_minor,
            view.updated_at
        ),
        (HoldState::Held, 20_000, 10_000, at(3))
    );
    assert_eq!(actions(&effects), [AuditAction::HoldPosted]);
    assert_eq!(effects.audit[0].old_value, Some(json!({"state": "held"})));
    let event = effects.audit[0].new_value.as_ref().unwrap();
    assert_eq!(event["transfer_id"], json!(transfer.id));
    assert_eq!(event["transfer_amount"], "100.00");
    assert_eq!(event["posted_amount"], "100.00");

    // The sender pays the rest; then nothing is left to post.
    let (result, effects) = run(&mut w.ledger, post(w.alice, id, None), at(4));
    assert_eq!(transfer_of(result).amount.minor(), 20_000);
    let view = w.ledger.hold(id).unwrap().view();
    assert_eq!((view.state, view.posted_minor), (HoldState::Posted, 30_000));
    assert_eq!((balance(&w.ledger, w.a), held(&w.ledger, w.a)), (70_000, 0));
    assert_eq!(balance(&w.ledger, w.b), 30_000);
    assert_eq!(
        effects.audit[0].new_value.as_ref().unwrap()["state"],
        "posted"
    );
    for late in [post(w.admin, id, None), post(w.bob, id, Some(1))] {
        refused(
            &mut w.ledger,
            late,
            Refusal::HoldInvalidState {
                from: HoldState::Posted,
                to: HoldState::Posted,
            },
        );
    }
    refused(
        &mut w.ledger,
        void(w.alice, id),
        Refusal::HoldInvalidState {
            from: HoldState::Posted,
            to: HoldState::Voided,
        },
    );
}

#[test]
fn a_post_the_receiver_cannot_take_keeps_the_whole_hold() {
    let mut w = world();
    let id = held_hold(&mut w, 30_000);
    accept(
        &mut w.ledger,
        command(
            w.manager,
            Action::SetStatus {
                account_id: w.b,
                status: AccountStatus::Frozen,
            },
        ),
        at(0),
    );
    refused(
        &mut w.ledger,
        post(w.admin, id, None),
        Refusal::AccountFrozen(w.b),
    );
    assert_eq!(held(&w.ledger, w.a), 30_000);
    // It can still be voided: releasing moves nothing to the frozen account.
    let (result, _) = run(&mut w.ledger, void(w.bob, id), at(2));
    assert_eq!(hold_view(result).state, HoldState::Voided);
}

#[test]
fn void_releases_what_is_left_and_only_once() {
    let mut w = world();
    let id = held_hold(&mut w, 30_000);
    accept(&mut w.ledger, post(w.bob, id, Some(5_000)), at(1));
    refused(
        &mut w.ledger,
        void(w.stranger, id),
        Refusal::HoldNotFound(id),
    );
    let (result, effects) = run(&mut w.ledger, void(w.manager, id), at(2));
    let view = hold_view(result);
    assert_eq!(
        (
            view.state,
            view.held_minor,
            view.posted_minor,
            view.released_minor
        ),
        (HoldState::Voided, 0, 5_000, 25_000)
    );
    assert_eq!((balance(&w.ledger, w.a), held(&w.ledger, w.a)), (95_000, 0));
    assert!(effects.transfers.is_empty());
    assert_eq!(effects.changed, BTreeSet::from([w.a]));
    assert_eq!(actions(&effects), [AuditAction::HoldVoided]);
    assert_eq!(effects.audit[0].old_value, Some(json!({"state": "held"})));
    refused(
        &mut w.ledger,
        void(w.alice, id),
        Refusal::HoldInvalidState {
            from: HoldState::Voided,
            to: HoldState::Voided,
        },
    );
}

#[test]
fn a_hold_reached_at_its_deadline_expires_before_the_command_runs() {
    let mut w = world();
    let id = held_hold(&mut w, 30_000);
    let just_before =
        Timestamp::from_datetime(at(TTL_SECS).as_datetime() - TimeDelta::microseconds(1));
    let (result, _) = run(&mut w.ledger, post(w.bob, id, Some(1_000)), just_before);
    assert_eq!(transfer_of(result).amount.minor(), 1_000);

    let (result, effects) = run(&mut w.ledger, post(w.bob, id, None), at(TTL_SECS));
    assert_eq!(
        result,
        Err(Refusal::HoldInvalidState {
            from: HoldState::Expired,
            to: HoldState::Posted,
        })
    );
    let view = w.ledger.hold(id).unwrap().view();
    assert_eq!(
        (view.state, view.posted_minor, view.released_minor),
        (HoldState::Expired, 1_000, 29_000)
    );
    assert_eq!((balance(&w.ledger, w.a), held(&w.ledger, w.a)), (99_000, 0));
    assert!(effects.transfers.is_empty());
    // The sweep expired it, not Bob.
    assert_eq!(actions(&effects), [AuditAction::HoldExpired]);
    assert_eq!(effects.audit[0].context.actor_id, None);
    assert_eq!(effects.audit[0].context.request_id.as_deref(), Some("req"));

    let sweep = Command {
        actor: None,
        context: AuditContext::default(),
        action: Action::ExpireHold {
            hold_id: id,
            payment_id: None,
        },
    };
    let (result, effects) = run(&mut w.ledger, sweep, at(TTL_SECS + 1));
    assert_eq!(hold_view(result).state, HoldState::Expired);
    assert_eq!(effects, Effects::default());
}

#[test]
fn a_payments_hold_moves_only_through_its_payment() {
    let mut w = world();
    let payment_id = PaymentId::new();
    accept(
        &mut w.ledger,
        command(
            w.alice,
            Action::CreatePayment {
                id: payment_id,
                payer: w.a,
                payee: w.b,
                money: money(5_000, eur()),
                metadata: Metadata::default(),
            },
        ),
        at(0),
    );
    let hold_id = HoldId::new();
    accept(
        &mut w.ledger,
        command(
            w.alice,
            Action::Authorize {
                payment_id,
                hold_id,
                code: AuthorizationCode::new("c".into()),
                ttl: TimeDelta::seconds(TTL_SECS),
            },
        ),
        at(0),
    );
    assert_eq!(
        w.ledger.hold(hold_id).unwrap().terms().payment_id,
        Some(payment_id)
    );
    refused(
        &mut w.ledger,
        post(w.stranger, hold_id, None),
        Refusal::HoldNotFound(hold_id),
    );
    refused(
        &mut w.ledger,
        post(w.bob, hold_id, None),
        Refusal::HoldOfPayment(hold_id),
    );
    refused(
        &mut w.ledger,
        void(w.alice, hold_id),
        Refusal::HoldOfPayment(hold_id),
    );
    assert_eq!(held(&w.ledger, w.a), 5_000);

    // Due, but touched without its payment: it does not expire apart from the payment.
    let mut alone =
        Ledger::new(w.ledger.accounts().cloned()).with_holds(w.ledger.hold(hold_id).cloned());
    let before = alone.clone();
    let (result, effects) = run(&mut alone, post(w.bob, hold_id, None), at(TTL_SECS));
    assert_eq!(result, Err(Refusal::HoldOfPayment(hold_id)));
    assert_eq!((alone, effects), (before, Effects::default()));
    // With it, the hold and the authorization expire together.
    let sweep = Command {
        actor: None,
        context: AuditContext::default(),
        action: Action::ExpireHold {
            hold_id,
            payment_id: Some(payment_id),
        },
    };
    let (result, effects) = run(&mut w.ledger, sweep, at(TTL_SECS));
    assert_eq!(hold_view(result).state, HoldState::Expired);
    assert_eq!(
        actions(&effects),
        [AuditAction::HoldExpired, AuditAction::PaymentExpired]
    );
    assert_eq!(held(&w.ledger, w.a), 0);
}
