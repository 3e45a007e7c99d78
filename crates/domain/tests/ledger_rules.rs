//! The ledger's rules one at a time, through `ledger::apply`: for each action its exact outcome
//! or refusal, the balances and holds it leaves, the effects a backend must write and the audit
//! events it records. The property tests in `ledger_props.rs` check the invariants over random
//! sequences; these pin each rule at its edge (an amount equal to what is available, a deadline
//! reached to the microsecond, one side of a pair in the wrong currency).
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta};
use coffre_domain::access::Actor;
use coffre_domain::audit::{AuditAction, AuditContext, NewAuditEvent, ResourceType};
use coffre_domain::hold::{Hold, HoldState, HoldTerms, HoldView};
use coffre_domain::ids::{AccountId, HoldId, PaymentId, TransferId, UserId};
use coffre_domain::ledger::{
    Account, AccountCheck, AccountStatus, Action, BalanceLimits, Command, CommandResult, Effects,
    Ledger, LedgerReport, LimitsChange, MAX_BALANCE_MINOR, Outcome, Refusal, Transfer,
    TransferKind, apply, verify,
};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Amount, Currency, Money, SignedMinor};
use coffre_domain::payment::{
    AnyPayment, AuthorizationCode, FailureReason, Payment, PaymentState, PaymentView, Terms,
};
use coffre_domain::time::Timestamp;
use coffre_domain::user::Role;
use serde_json::json;

/// A fixed instant, `secs` after 2026-01-01T00:00:00Z.
fn at(secs: i64) -> Timestamp {
    Timestamp::from_datetime(
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc()
            + TimeDelta::seconds(secs),
    )
}

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn jpy() -> Currency {
    Currency::parse("JPY").unwrap()
}

fn amount(minor: i64) -> Amount {
    Amount::from_minor(minor).unwrap()
}

fn money(minor: i64, currency: Currency) -> Money {
    Money {
        amount: amount(minor),
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
        status: AccountStatus::Active,
        limits: BalanceLimits::DEFAULT,
        metadata: Metadata::default(),
        created_at: at(0),
        updated_at: at(0),
    }
}

const TTL_SECS: i64 = 60;

/// Alice owns `a` (1,000.00 EUR) and `aj` (JPY, empty); Bob owns `b` (EUR, empty) and `bj`
/// (JPY, empty). Customer accounts are made before the system accounts, so they sort first.
struct World {
    alice: Actor,
    bob: Actor,
    stranger: Actor,
    manager: Actor,
    admin: Actor,
    a: AccountId,
    aj: AccountId,
    b: AccountId,
    bj: AccountId,
    system_eur: AccountId,
    system_jpy: AccountId,
    ledger: Ledger,
}

fn world() -> World {
    let (alice, bob) = (actor(Role::User), actor(Role::User));
    let a = account(Some(alice.user_id), eur(), 100_000);
    let aj = account(Some(alice.user_id), jpy(), 0);
    let b = account(Some(bob.user_id), eur(), 0);
    let bj = account(Some(bob.user_id), jpy(), 0);
    let system_eur = account(None, eur(), -100_000);
    let system_jpy = account(None, jpy(), 0);
    World {
        alice,
        bob,
        stranger: actor(Role::User),
        manager: actor(Role::Manager),
        admin: actor(Role::Admin),
        a: a.id,
        aj: aj.id,
        b: b.id,
        bj: bj.id,
        system_eur: system_eur.id,
        system_jpy: system_jpy.id,
        ledger: Ledger::new([a, aj, b, bj, system_eur, system_jpy]),
    }
}

fn context() -> AuditContext {
    AuditContext {
        actor_id: None,
        ip_address: Some("203.0.113.7".into()),
        user_agent: None,
        request_id: Some("req-1".into()),
    }
}

fn command(actor: Actor, action: Action) -> Command {
    Command {
        actor: Some(actor),
        context: AuditContext {
            actor_id: Some(actor.user_id),
            ..context()
        },
        action,
    }
}

/// Applies one command at `now`.
fn run(ledger: &mut Ledger, command: Command, now: Timestamp) -> (CommandResult, Effects) {
    let (mut results, effects) = apply(ledger, &[command], now);
    assert_eq!(results.len(), 1);
    (results.remove(0), effects)
}

/// Applies a command that must be accepted.
fn accept(ledger: &mut Ledger, command: Command, now: Timestamp) -> Outcome {
    let (result, _) = run(ledger, command, now);
    result.unwrap()
}

/// Applies a command that must be refused with `refusal`, and checks that it changed nothing.
fn refused(ledger: &mut Ledger, command: Command, refusal: Refusal) {
    let before = ledger.clone();
    let (result, effects) = run(ledger, command, at(1));
    assert_eq!(result, Err(refusal));
    assert_eq!(effects, Effects::default());
    assert_eq!(*ledger, before);
}

fn balance(ledger: &Ledger, id: AccountId) -> i64 {
    ledger.account(id).unwrap().balance.minor()
}

fn held(ledger: &Ledger, id: AccountId) -> i64 {
    ledger.account(id).unwrap().held.minor()
}

fn actions(effects: &Effects) -> Vec<AuditAction> {
    effects.audit.iter().map(|event| event.action).collect()
}

fn transfer(actor: Actor, from: AccountId, to: AccountId, money: Money) -> Command {
    command(
        actor,
        Action::Transfer {
            id: TransferId::new(),
            from,
            to,
            money,
            description: None,
            metadata: Metadata::default(),
        },
    )
}

fn deposit(actor: Actor, account_id: AccountId, money: Money) -> Command {
    command(
        actor,
        Action::Deposit {
            id: TransferId::new(),
            account_id,
            money,
            description: None,
            metadata: Metadata::default(),
        },
    )
}

fn create(
    actor: Actor,
    id: PaymentId,
    payer: AccountId,
    payee: AccountId,
    money: Money,
) -> Command {
    command(
        actor,
        Action::CreatePayment {
            id,
            payer,
            payee,
            money,
            metadata: Metadata::default(),
        },
    )
}

fn authorize(actor: Actor, payment_id: PaymentId) -> Command {
    command(
        actor,
        Action::Authorize {
            payment_id,
            hold_id: HoldId::new(),
            code: AuthorizationCode::new("c0de".into()),
            ttl: TimeDelta::seconds(TTL_SECS),
        },
    )
}

fn capture(actor: Actor, payment_id: PaymentId, minor: Option<i64>) -> Command {
    command(
        actor,
        Action::Capture {
            payment_id,
            transfer_id: TransferId::new(),
            amount: minor.map(amount),
        },
    )
}

fn refund(actor: Actor, payment_id: PaymentId, minor: Option<i64>) -> Command {
    command(
        actor,
        Action::Refund {
            payment_id,
            transfer_id: TransferId::new(),
            amount: minor.map(amount),
        },
    )
}

fn cancel(actor: Actor, payment_id: PaymentId) -> Command {
    command(actor, Action::CancelPayment { payment_id })
}

fn payment_view(result: CommandResult) -> PaymentView {
    match result {
        Ok(Outcome::Payment(view)) => view,
        other => panic!("expected a payment, got {other:?}"),
    }
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

/// A payment of `minor` from Alice's `a` to Bob's `b`, created and authorized at `at(0)`.
fn authorized(w: &mut World, minor: i64) -> PaymentId {
    let id = PaymentId::new();
    let (created, _) = run(
        &mut w.ledger,
        create(w.alice, id, w.a, w.b, money(minor, eur())),
        at(0),
    );
    assert_eq!(payment_view(created).state, PaymentState::Pending);
    let (result, _) = run(&mut w.ledger, authorize(w.alice, id), at(0));
    assert_eq!(payment_view(result).state, PaymentState::Authorized);
    id
}

fn state(ledger: &Ledger, id: PaymentId) -> PaymentState {
    ledger.payment(id).unwrap().state()
}

// ---- names and what an action declares ----

#[test]
fn statuses_and_kinds_have_one_name_each() {
    for (status, name) in [
        (AccountStatus::Active, "active"),
        (AccountStatus::Frozen, "frozen"),
    ] {
        assert_eq!(status.as_str(), name);
        assert_eq!(AccountStatus::parse(name), Some(status));
    }
    assert_eq!(AccountStatus::parse("closed"), None);
    for (kind, name) in [
        (TransferKind::Transfer, "transfer"),
        (TransferKind::Deposit, "deposit"),
        (TransferKind::Withdrawal, "withdrawal"),
        (TransferKind::Capture, "capture"),
        (TransferKind::Refund, "refund"),
    ] {
        assert_eq!(kind.as_str(), name);
        assert_eq!(TransferKind::parse(name), Some(kind));
    }
    assert_eq!(TransferKind::parse("Transfer"), None);
}

/// An action, its name, and the accounts, payment and system currency it declares.
type Declared = (
    Action,
    &'static str,
    Vec<AccountId>,
    Option<PaymentId>,
    Option<Currency>,
);

/// A hold action, its name, and the accounts, hold and payment it declares.
type DeclaredHold = (
    Action,
    &'static str,
    Vec<AccountId>,
    Option<HoldId>,
    Option<PaymentId>,
);

#[test]
fn each_action_names_what_a_backend_must_load_and_lock() {
    let (a, b) = (AccountId::new(), AccountId::new());
    let (t, p) = (TransferId::new(), PaymentId::new());
    let m = money(1, jpy());
    let code = AuthorizationCode::new("c".into());
    let reason = FailureReason::parse("r".into()).unwrap();
    let table: Vec<Declared> = vec![
        (
            Action::OpenAccount {
                id: a,
                owner_id: UserId::new(),
                currency: eur(),
                name: None,
                metadata: Metadata::default(),
            },
            "open_account",
            vec![],
            None,
            None,
        ),
        (
            Action::SetStatus {
                account_id: a,
                status: AccountStatus::Frozen,
            },
            "set_account_status",
            vec![a],
            None,
            None,
        ),
        (
            Action::UpdateAccount {
                account_id: b,
                limits: LimitsChange::default(),
                metadata: None,
            },
            "update_account",
            vec![b],
            None,
            None,
        ),
        (
            Action::Transfer {
                id: t,
                from: a,
                to: b,
                money: m,
                description: None,
                metadata: Metadata::default(),
            },
            "transfer",
            vec![a, b],
            None,
            None,
        ),
        (
            Action::Deposit {
                id: t,
                account_id: a,
                money: m,
                description: None,
                metadata: Metadata::default(),
            },
            "deposit",
            vec![a],
            None,
            Some(jpy()),
        ),
        (
            Action::Withdrawal {
                id: t,
                account_id: b,
                money: m,
                description: None,
                metadata: Metadata::default(),
            },
            "withdrawal",
            vec![b],
            None,
            Some(jpy()),
        ),
        (
            Action::CreatePayment {
                id: p,
                payer: a,
                payee: b,
                money: m,
                metadata: Metadata::default(),
            },
            "create_payment",
            vec![a, b],
            None,
            None,
        ),
        (
            Action::Authorize {
                payment_id: p,
                hold_id: HoldId::new(),
                code,
                ttl: TimeDelta::seconds(1),
            },
            "authorize_payment",
            vec![],
            Some(p),
            None,
        ),
        (
            Action::Capture {
                payment_id: p,
                transfer_id: t,
                amount: None,
            },
            "capture_payment",
            vec![],
            Some(p),
            None,
        ),
        (
            Action::CancelPayment { payment_id: p },
            "cancel_payment",
            vec![],
            Some(p),
            None,
        ),
        (
            Action::FailPayment {
                payment_id: p,
                reason,
            },
            "fail_payment",
            vec![],
            Some(p),
            None,
        ),
        (
            Action::Refund {
                payment_id: p,
                transfer_id: t,
                amount: None,
            },
            "refund_payment",
            vec![],
            Some(p),
            None,
        ),
    ];
    for (action, name, accounts, payment, currency) in table {
        assert_eq!(action.name(), name);
        assert_eq!(action.accounts(), accounts, "{name}");
        assert_eq!(action.payment(), payment, "{name}");
        assert_eq!(action.system_currency(), currency, "{name}");
        assert_eq!(action.hold(), None, "{name}");
    }
    let h = HoldId::new();
    let holds: Vec<DeclaredHold> = vec![
        (
            Action::CreateHold {
                id: h,
                from: a,
                to: b,
                money: m,
                ttl: TimeDelta::seconds(1),
                metadata: Metadata::default(),
            },
            "create_hold",
            vec![a, b],
            None,
            None,
        ),
        (
            Action::PostHold {
                hold_id: h,
                transfer_id: t,
                amount: None,
            },
            "post_hold",
            vec![],
            Some(h),
            None,
        ),
        (
            Action::VoidHold { hold_id: h },
            "void_hold",
            vec![],
            Some(h),
            None,
        ),
        (
            Action::ExpireHold {
                hold_id: h,
                payment_id: None,
            },
            "expire_hold",
            vec![],
            Some(h),
            None,
        ),
        (
            Action::ExpireHold {
                hold_id: h,
                payment_id: Some(p),
            },
            "expire_hold",
            vec![],
            Some(h),
            Some(p),
        ),
    ];
    for (action, name, accounts, hold, payment) in holds {
        assert_eq!(action.name(), name);
        assert_eq!(action.accounts(), accounts, "{name}");
        assert_eq!(action.hold(), hold, "{name}");
        assert_eq!(action.payment(), payment, "{name}");
        assert_eq!(action.system_currency(), None, "{name}");
    }
}

#[test]
fn a_ledger_holds_what_it_was_given() {
    let a = account(Some(UserId::new()), eur(), 5);
    let b = account(None, eur(), -5);
    let payment = AnyPayment::Pending(Payment::new(Terms {
        id: PaymentId::new(),
        payer_account_id: a.id,
        payee_account_id: b.id,
        money: money(5, eur()),
        created_at: at(0),
        metadata: Metadata::default(),
    }));
    let id = payment.terms().id;
    let ledger = Ledger::new([a.clone(), b.clone()]).with_payments([payment.clone()]);
    assert_eq!(ledger.account(a.id), Some(&a));
    assert_eq!(ledger.account(AccountId::new()), None);
    assert_eq!(
        ledger.accounts().cloned().collect::<Vec<_>>(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(ledger.payment(id), Some(&payment));
    assert_eq!(ledger.payment(PaymentId::new()), None);
    assert!(!a.is_system());
    assert!(b.is_system());
}

#[test]
fn available_is_the_balance_less_the_holds() {
    let mut a = account(Some(UserId::new()), eur(), 1_000);
    a.held = SignedMinor::new(300);
    assert_eq!(a.available(), SignedMinor::new(700));
}

#[test]
fn a_batch_answers_every_command_in_order() {
    let mut w = world();
    let commands = [
        transfer(w.alice, w.a, w.b, money(100, eur())),
        transfer(w.bob, w.b, w.a, money(101, eur())),
        transfer(w.bob, w.b, w.a, money(100, eur())),
    ];
    let (results, effects) = apply(&mut w.ledger, &commands, at(1));
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok());
    assert_eq!(results[1], Err(Refusal::InsufficientFunds));
    assert!(results[2].is_ok());
    assert_eq!(effects.transfers.len(), 2);
    assert_eq!(balance(&w.ledger, w.a), 100_000);
    assert_eq!(balance(&w.ledger, w.b), 0);
}

// ---- accounts ----

#[test]
fn an_account_opened_and_frozen_in_one_batch_is_inserted_not_updated() {
    let mut w = world();
    let id = AccountId::new();
    let commands = [
        command(
            w.bob,
            Action::OpenAccount {
                id,
                owner_id: w.bob.user_id,
                currency: eur(),
                name: None,
                metadata: Metadata::default(),
            },
        ),
        command(
            w.manager,
            Action::SetStatus {
                account_id: id,
                status: AccountStatus::Frozen,
            },
        ),
    ];
    let (results, effects) = apply(&mut w.ledger, &commands, at(1));
    let Ok(Outcome::Account(opened)) = &results[0] else {
        panic!("{results:?}")
    };
    assert_eq!(opened.status, AccountStatus::Active);
    assert_eq!(opened.balance, SignedMinor::ZERO);
    let Ok(Outcome::Account(frozen)) = &results[1] else {
        panic!("{results:?}")
    };
    assert_eq!(frozen.status, AccountStatus::Frozen);
    assert_eq!(effects.opened, BTreeSet::from([id]));
    assert_eq!(effects.changed, BTreeSet::new());
    assert_eq!(
        actions(&effects),
        [AuditAction::AccountCreated, AuditAction::AccountFrozen]
    );
    assert_eq!(
        effects.audit[0].new_value,
        Some(json!({"owner_id": w.bob.user_id, "currency": "EUR", "name": null}))
    );
    assert_eq!(
        effects.audit[1].old_value,
        Some(json!({"status": "active"}))
    );
    assert_eq!(
        effects.audit[1].new_value,
        Some(json!({"status": "frozen"}))
    );
    assert_eq!(w.ledger.account(id).unwrap().status, AccountStatus::Frozen);
}

#[test]
fn unfreezing_changes_the_status_back_and_says_so() {
    let mut w = world();
    let set = |actor, status| {
        command(
            actor,
            Action::SetStatus {
                account_id: w.b,
                status,
            },
        )
    };
    accept(&mut w.ledger, set(w.manager, AccountStatus::Frozen), at(1));
    let (result, effects) = run(&mut w.ledger, set(w.manager, AccountStatus::Active), at(2));
    let Ok(Outcome::Account(account)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!(account.updated_at, at(2));
    assert_eq!(effects.changed, BTreeSet::from([w.b]));
    assert_eq!(actions(&effects), [AuditAction::AccountUnfrozen]);
    let missing = AccountId::new();
    refused(
        &mut w.ledger,
        command(
            w.admin,
            Action::SetStatus {
                account_id: missing,
                status: AccountStatus::Frozen,
            },
        ),
        Refusal::AccountNotFound(missing),
    );
}

// ---- transfers, deposits, withdrawals ----

#[test]
fn a_transfer_may_spend_exactly_what_is_available_and_not_a_cent_more() {
    let mut w = world();
    let id = authorized(&mut w, 60_000);
    assert_eq!(held(&w.ledger, w.a), 60_000);
    refused(
        &mut w.ledger,
        transfer(w.alice, w.a, w.b, money(40_001, eur())),
        Refusal::InsufficientFunds,
    );
    let (result, effects) = run(
        &mut w.ledger,
        transfer(w.alice, w.a, w.b, money(40_000, eur())),
        at(2),
    );
    let t = transfer_of(result);
    assert_eq!(
        (
            t.kind,
            t.from_account_id,
            t.to_account_id,
            t.amount,
            t.currency
        ),
        (TransferKind::Transfer, w.a, w.b, amount(40_000), eur())
    );
    assert_eq!(t.created_at, at(2));
    assert_eq!(balance(&w.ledger, w.a), 60_000);
    assert_eq!(
        w.ledger.account(w.a).unwrap().available(),
        SignedMinor::ZERO
    );
    assert_eq!(balance(&w.ledger, w.b), 40_000);
    assert_eq!(w.ledger.account(w.a).unwrap().updated_at, at(2));
    let lines: Vec<_> = effects
        .entries
        .iter()
        .map(|e| {
            (
                e.account_id,
                e.amount.minor(),
                e.balance_after.minor(),
                e.transfer_id,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [(w.a, -40_000, 60_000, t.id), (w.b, 40_000, 40_000, t.id)]
    );
    assert_eq!(effects.transfers, std::slice::from_ref(&t));
    assert_eq!(effects.changed, BTreeSet::from([w.a, w.b]));
    assert_eq!(
        effects.audit,
        [NewAuditEvent {
            action: AuditAction::Transfer,
            resource_type: ResourceType::Transfer,
            resource_id: Some(t.id.to_string()),
            old_value: None,
            new_value: Some(json!({
                "kind": "transfer",
                "from_account_id": w.a,
                "to_account_id": w.b,
                "amount": "400.00",
                "currency": "EUR",
            })),
            context: AuditContext {
                actor_id: Some(w.alice.user_id),
                ..context()
            },
        }]
    );
    // The hold is untouched by the transfer.
    assert_eq!(state(&w.ledger, id), PaymentState::Authorized);
    assert_eq!(held(&w.ledger, w.a), 60_000);
}

#[test]
fn both_sides_of_a_transfer_must_be_in_its_currency() {
    let mut w = world();
    // Alice's EUR account to her own JPY account: whichever currency is named, one side differs.
    refused(
        &mut w.ledger,
        transfer(w.alice, w.a, w.aj, money(1, eur())),
        Refusal::CurrencyMismatch,
    );
    refused(
        &mut w.ledger,
        transfer(w.alice, w.a, w.aj, money(1, jpy())),
        Refusal::CurrencyMismatch,
    );
    refused(
        &mut w.ledger,
        transfer(w.alice, w.a, w.a, money(1, eur())),
        Refusal::SameAccount,
    );
}

#[test]
fn deposits_come_from_the_system_account_of_their_own_currency() {
    let mut w = world();
    let (result, effects) = run(
        &mut w.ledger,
        deposit(w.admin, w.bj, money(500, jpy())),
        at(1),
    );
    let t = transfer_of(result);
    assert_eq!(
        (t.kind, t.from_account_id, t.to_account_id),
        (TransferKind::Deposit, w.system_jpy, w.bj)
    );
    assert_eq!(balance(&w.ledger, w.system_jpy), -500);
    assert_eq!(balance(&w.ledger, w.system_eur), -100_000);
    assert_eq!(balance(&w.ledger, w.bj), 500);
    assert_eq!(actions(&effects), [AuditAction::Deposit]);
    assert_eq!(
        effects.audit[0].new_value.as_ref().unwrap()["kind"],
        "deposit"
    );

    let (result, _) = run(&mut w.ledger, deposit(w.admin, w.b, money(7, eur())), at(1));
    assert_eq!(transfer_of(result).from_account_id, w.system_eur);
    // A deposit in a currency other than the account's.
    refused(
        &mut w.ledger,
        deposit(w.admin, w.b, money(7, jpy())),
        Refusal::CurrencyMismatch,
    );
}

#[test]
fn withdrawals_go_to_the_system_account_and_are_audited_as_such() {
    let mut w = world();
    let (result, effects) = run(
        &mut w.ledger,
        command(
            w.alice,
            Action::Withdrawal {
                id: TransferId::new(),
                account_id: w.a,
                money: money(100_000, eur()),
                description: None,
                metadata: Metadata::default(),
            },
        ),
        at(1),
    );
    let t = transfer_of(result);
    assert_eq!(
        (t.kind, t.from_account_id, t.to_account_id),
        (TransferKind::Withdrawal, w.a, w.system_eur)
    );
    assert_eq!(balance(&w.ledger, w.a), 0);
    assert_eq!(balance(&w.ledger, w.system_eur), 0);
    assert_eq!(actions(&effects), [AuditAction::Withdrawal]);
}

#[test]
fn an_account_opened_in_the_batch_that_funds_it_is_inserted_not_updated() {
    let mut w = world();
    let id = AccountId::new();
    let commands = [
        command(
            w.bob,
            Action::OpenAccount {
                id,
                owner_id: w.bob.user_id,
                currency: eur(),
                name: None,
                metadata: Metadata::default(),
            },
        ),
        deposit(w.admin, id, money(900, eur())),
        create(w.bob, PaymentId::new(), id, w.a, money(900, eur())),
    ];
    let (results, effects) = apply(&mut w.ledger, &commands, at(1));
    let Ok(Outcome::Payment(created)) = &results[2] else {
        panic!("{results:?}")
    };
    let (result, more) = run(&mut w.ledger, authorize(w.bob, created.id), at(1));
    assert_eq!(payment_view(result).state, PaymentState::Authorized);
    assert_eq!(effects.opened, BTreeSet::from([id]));
    assert_eq!(effects.changed, BTreeSet::from([w.system_eur]));
    assert_eq!(more.changed, BTreeSet::from([id]));

    // The same three and the authorization in one batch: the new account is only inserted.
    let mut w = world();
    let id = AccountId::new();
    let payment = PaymentId::new();
    let commands = [
        command(
            w.bob,
            Action::OpenAccount {
                id,
                owner_id: w.bob.user_id,
                currency: eur(),
                name: None,
                metadata: Metadata::default(),
            },
        ),
        deposit(w.admin, id, money(900, eur())),
        create(w.bob, payment, id, w.a, money(900, eur())),
        authorize(w.bob, payment),
    ];
    let (results, effects) = apply(&mut w.ledger, &commands, at(1));
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(effects.opened, BTreeSet::from([id]));
    assert_eq!(effects.changed, BTreeSet::from([w.system_eur]));
    assert_eq!(held(&w.ledger, id), 900);
    assert_eq!(effects.payments_opened, BTreeSet::from([payment]));
    assert_eq!(effects.payments_changed, BTreeSet::new());
}

#[test]
fn the_system_account_may_go_down_to_minus_the_limit_and_no_further() {
    let admin = actor(Role::Admin);
    let a = account(Some(UserId::new()), eur(), 0);
    let system = account(None, eur(), 1 - MAX_BALANCE_MINOR);
    let mut ledger = Ledger::new([a.clone(), system.clone()]);
    let (result, _) = run(&mut ledger, deposit(admin, a.id, money(1, eur())), at(1));
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(balance(&ledger, system.id), -MAX_BALANCE_MINOR);
    refused(
        &mut ledger,
        deposit(admin, a.id, money(1, eur())),
        Refusal::BalanceLimit(system.id),
    );
}

#[test]
fn a_customer_account_may_reach_the_limit_and_no_further() {
    let alice = actor(Role::User);
    let a = account(Some(alice.user_id), eur(), 2);
    let b = account(Some(UserId::new()), eur(), MAX_BALANCE_MINOR - 1);
    let mut ledger = Ledger::new([a.clone(), b.clone()]);
    let (result, _) = run(
        &mut ledger,
        transfer(alice, a.id, b.id, money(1, eur())),
        at(1),
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(balance(&ledger, b.id), MAX_BALANCE_MINOR);
    refused(
        &mut ledger,
        transfer(alice, a.id, b.id, money(1, eur())),
        Refusal::BalanceLimit(b.id),
    );
}

#[test]
fn a_corrupt_negative_hold_never_lets_a_customer_below_zero() {
    // Only an edit behind the engine's back makes a negative hold; the balance still may not
    // go below zero, whatever `available` says.
    let alice = actor(Role::User);
    let mut a = account(Some(alice.user_id), eur(), 10);
    a.held = SignedMinor::new(-100);
    let b = account(Some(UserId::new()), eur(), 0);
    let mut ledger = Ledger::new([a.clone(), b.clone()]);
    refused(
        &mut ledger,
        transfer(alice, a.id, b.id, money(50, eur())),
        Refusal::InsufficientFunds,
    );
}

// ---- payments: creation ----

#[test]
fn creating_a_payment_records_it_pending_and_moves_nothing() {
    let mut w = world();
    let id = PaymentId::new();
    let before = w.ledger.clone();
    let (result, effects) = run(
        &mut w.ledger,
        create(w.alice, id, w.a, w.b, money(2_500, eur())),
        at(3),
    );
    let view = payment_view(result);
    assert_eq!(view.id, id);
    assert_eq!((view.payer_account_id, view.payee_account_id), (w.a, w.b));
    assert_eq!(
        (view.amount, view.currency, view.state),
        (amount(2_500), eur(), PaymentState::Pending)
    );
    assert_eq!(view.created_at, at(3));
    assert_eq!(w.ledger.payment(id).map(AnyPayment::view), Some(view));
    assert_eq!(effects.payments_opened, BTreeSet::from([id]));
    assert!(effects.changed.is_empty() && effects.entries.is_empty());
    assert_eq!(actions(&effects), [AuditAction::PaymentCreated]);
    assert_eq!(effects.audit[0].resource_type, ResourceType::Payment);
    assert_eq!(effects.audit[0].resource_id, Some(id.to_string()));
    assert_eq!(effects.audit[0].old_value, None);
    assert_eq!(
        effects.audit[0].new_value,
        Some(json!({
            "state": "pending",
            "amount": "25.00",
            "currency": "EUR",
            "authorized_amount": "0.00",
            "captured_amount": "0.00",
            "refunded_amount": "0.00",
            "failure_reason": null,
        }))
    );
    assert_eq!(
        w.ledger.accounts().collect::<Vec<_>>(),
        before.accounts().collect::<Vec<_>>()
    );
}

#[test]
fn creating_a_payment_checks_in_the_contract_order() {
    let mut w = world();
    let missing = AccountId::new();
    let new = PaymentId::new;
    let cases = [
        (
            create(w.stranger, new(), w.a, w.b, money(1, eur())),
            Refusal::AccountNotFound(w.a),
        ),
        (
            create(w.manager, new(), w.a, w.b, money(1, eur())),
            Refusal::Forbidden,
        ),
        (
            create(w.alice, new(), w.a, missing, money(1, eur())),
            Refusal::AccountNotFound(missing),
        ),
        (
            create(w.alice, new(), w.a, w.system_eur, money(1, eur())),
            Refusal::AccountNotFound(w.system_eur),
        ),
        // Same account comes before the currency.
        (
            create(w.alice, new(), w.a, w.a, money(1, jpy())),
            Refusal::SameAccount,
        ),
        (
            create(w.alice, new(), w.a, w.a, money(1, eur())),
            Refusal::SameAccount,
        ),
        // The payer's account in another currency, then the payee's.
        (
            create(w.alice, new(), w.aj, w.b, money(1, eur())),
            Refusal::CurrencyMismatch,
        ),
        (
            create(w.alice, new(), w.a, w.bj, money(1, eur())),
            Refusal::CurrencyMismatch,
        ),
        (
            create(w.alice, new(), w.a, w.b, money(1, jpy())),
            Refusal::CurrencyMismatch,
        ),
    ];
    for (command, refusal) in cases {
        refused(&mut w.ledger, command, refusal);
    }
    // A payment may be larger than the balance: funds are checked on authorization.
    let (result, _) = run(
        &mut w.ledger,
        create(w.alice, new(), w.a, w.b, money(900_000, eur())),
        at(1),
    );
    assert_eq!(payment_view(result).state, PaymentState::Pending);
}

// ---- payments: authorization ----

#[test]
fn authorizing_exactly_the_available_amount_holds_it_all() {
    let mut w = world();
    let id = PaymentId::new();
    accept(
        &mut w.ledger,
        create(w.alice, id, w.a, w.b, money(100_000, eur())),
        at(0),
    );
    let (result, effects) = run(&mut w.ledger, authorize(w.alice, id), at(5));
    let view = payment_view(result);
    assert_eq!(view.state, PaymentState::Authorized);
    assert_eq!(view.authorized_minor, 100_000);
    assert_eq!(view.authorization_code.as_deref(), Some("c0de"));
    assert_eq!(view.expires_at, Some(at(5 + TTL_SECS)));
    let a = w.ledger.account(w.a).unwrap();
    assert_eq!((a.balance.minor(), a.held.minor()), (100_000, 100_000));
    assert_eq!(a.available(), SignedMinor::ZERO);
    assert_eq!(a.updated_at, at(5));
    assert_eq!(effects.changed, BTreeSet::from([w.a]));
    assert_eq!(effects.payments_changed, BTreeSet::from([id]));
    // The authorization is a hold of the payment's, from the payer to the payee.
    let hold = w.ledger.hold_of_payment(id).unwrap().view();
    assert_eq!(effects.holds_opened, BTreeSet::from([hold.id]));
    assert_eq!(
        (
            hold.state,
            hold.held_minor,
            hold.from_account_id,
            hold.to_account_id
        ),
        (HoldState::Held, 100_000, w.a, w.b)
    );
    assert_eq!(
        (hold.payment_id, hold.expires_at),
        (Some(id), at(5 + TTL_SECS))
    );
    assert!(effects.entries.is_empty() && effects.transfers.is_empty());
    assert_eq!(
        actions(&effects),
        [AuditAction::HoldCreated, AuditAction::PaymentAuthorized]
    );
    assert_eq!(effects.audit[0].old_value, None);
    assert_eq!(
        effects.audit[1].old_value,
        Some(json!({"state": "pending"}))
    );
    assert_eq!(
        effects.audit[1].new_value.as_ref().unwrap()["authorized_amount"],
        "1000.00"
    );

    // Nothing is left for a second one.
    let other = PaymentId::new();
    accept(
        &mut w.ledger,
        create(w.alice, other, w.a, w.b, money(1, eur())),
        at(5),
    );
    let (result, _) = run(&mut w.ledger, authorize(w.alice, other), at(5));
    assert!(
        matches!(result, Ok(Outcome::AuthorizationDeclined(_))),
        "{result:?}"
    );
}

#[test]
fn authorizing_more_than_is_available_fails_the_payment_and_holds_nothing() {
    let mut w = world();
    let id = PaymentId::new();
    accept(
        &mut w.ledger,
        create(w.alice, id, w.a, w.b, money(100_001, eur())),
        at(0),
    );
    let (result, effects) = run(&mut w.ledger, authorize(w.alice, id), at(5));
    let Ok(Outcome::AuthorizationDeclined(view)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(view.state, PaymentState::Failed);
    assert_eq!(view.failure_reason.as_deref(), Some("insufficient_funds"));
    assert_eq!(view.authorized_minor, 0);
    assert_eq!(w.ledger.payment(id).map(AnyPayment::view), Some(view));
    assert_eq!(held(&w.ledger, w.a), 0);
    assert_eq!(effects.changed, BTreeSet::new());
    assert_eq!(effects.payments_changed, BTreeSet::from([id]));
    assert_eq!(actions(&effects), [AuditAction::PaymentFailed]);
    // A failed payment is final.
    refused(
        &mut w.ledger,
        authorize(w.alice, id),
        Refusal::InvalidState {
            from: PaymentState::Failed,
            to: PaymentState::Authorized,
        },
    );
}

#[test]
fn authorization_is_the_payers_and_needs_an_active_payer_account() {
    let mut w = world();
    let id = PaymentId::new();
    accept(
        &mut w.ledger,
        create(w.alice, id, w.a, w.b, money(1, eur())),
        at(0),
    );
    refused(
        &mut w.ledger,
        authorize(w.stranger, id),
        Refusal::PaymentNotFound(id),
    );
    refused(&mut w.ledger, authorize(w.bob, id), Refusal::Forbidden);
    refused(&mut w.ledger, authorize(w.admin, id), Refusal::Forbidden);
    let missing = PaymentId::new();
    refused(
        &mut w.ledger,
        authorize(w.alice, missing),
        Refusal::PaymentNotFound(missing),
    );
    accept(
        &mut w.ledger,
        command(
            w.manager,
            Action::SetStatus {
                account_id: w.a,
                status: AccountStatus::Frozen,
            },
        ),
        at(1),
    );
    refused(
        &mut w.ledger,
        authorize(w.alice, id),
        Refusal::AccountFrozen(w.a),
    );
    assert_eq!(state(&w.ledger, id), PaymentState::Pending);
}

fn freeze(w: &mut World, account_id: AccountId, now: Timestamp) {
    accept(
        &mut w.ledger,
        command(
            w.manager,
            Action::SetStatus {
                account_id,
                status: AccountStatus::Frozen,
            },
        ),
        now,
    );
}

#[test]
fn a_frozen_payer_cannot_create_a_payment_after_the_currency_check() {
    let mut w = world();
    let payer = w.a;
    freeze(&mut w, payer, at(0));
    // Currency comes first, as for transfers.
    refused(
        &mut w.ledger,
        create(w.alice, PaymentId::new(), w.a, w.b, money(1, jpy())),
        Refusal::CurrencyMismatch,
    );
    refused(
        &mut w.ledger,
        create(w.alice, PaymentId::new(), w.a, w.b, money(1, eur())),
        Refusal::AccountFrozen(w.a),
    );
}

#[test]
fn a_payment_towards_a_frozen_payee_is_not_authorized_and_holds_nothing() {
    let mut w = world();
    let id = PaymentId::new();
    accept(
        &mut w.ledger,
        create(w.alice, id, w.a, w.b, money(100, eur())),
        at(0),
    );
    let payee = w.b;
    freeze(&mut w, payee, at(1));
    refused(
        &mut w.ledger,
        authorize(w.alice, id),
        Refusal::AccountFrozen(w.b),
    );
    assert_eq!(state(&w.ledger, id), PaymentState::Pending);
    assert_eq!(held(&w.ledger, w.a), 0);
}

#[test]
fn a_command_without_an_actor_is_refused() {
    let mut w = world();
    let mut command = transfer(w.alice, w.a, w.b, money(1, eur()));
    command.actor = None;
    refused(&mut w.ledger, command, Refusal::Forbidden);
}

// ---- payments: capture, cancel, fail, refund ----

#[test]
fn a_partial_capture_moves_that_part_and_releases_the_rest() {
    let mut w = world();
    let id = authorized(&mut w, 60_000);
    refused(
        &mut w.ledger,
        capture(w.bob, id, Some(60_001)),
        Refusal::AmountExceedsAuthorized,
    );
    refused(
        &mut w.ledger,
        capture(w.alice, id, None),
        Refusal::Forbidden,
    );
    let (result, effects) = run(&mut w.ledger, capture(w.bob, id, Some(25_000)), at(7));
    let view = payment_view(result);
    assert_eq!(view.state, PaymentState::Captured);
    assert_eq!((view.captured_minor, view.updated_at), (25_000, at(7)));
    let a = w.ledger.account(w.a).unwrap();
    assert_eq!((a.balance.minor(), a.held.minor()), (75_000, 0));
    assert_eq!(balance(&w.ledger, w.b), 25_000);
    let [t] = effects.transfers.as_slice() else {
        panic!("{effects:?}")
    };
    assert_eq!(
        (t.kind, t.from_account_id, t.to_account_id, t.amount),
        (TransferKind::Capture, w.a, w.b, amount(25_000))
    );
    assert_eq!(effects.entries.len(), 2);
    assert_eq!(effects.changed, BTreeSet::from([w.a, w.b]));
    // The capture posts the payment's hold once: the part captured, the rest released.
    let hold = w.ledger.hold_of_payment(id).unwrap().view();
    assert_eq!(t.hold_id, Some(hold.id));
    assert_eq!(effects.holds_changed, BTreeSet::from([hold.id]));
    assert_eq!(
        (
            hold.state,
            hold.posted_minor,
            hold.released_minor,
            hold.held_minor
        ),
        (HoldState::Posted, 25_000, 35_000, 0)
    );
    assert_eq!(
        actions(&effects),
        [AuditAction::HoldPosted, AuditAction::PaymentCaptured]
    );
    assert_eq!(
        effects.audit[0].new_value.as_ref().unwrap()["transfer_id"],
        json!(t.id)
    );
    let event = effects.audit[1].new_value.as_ref().unwrap();
    assert_eq!(event["transfer_id"], json!(t.id));
    assert_eq!(event["transfer_amount"], "250.00");
    assert_eq!(event["captured_amount"], "250.00");
    assert_eq!(
        effects.audit[1].old_value,
        Some(json!({"state": "authorized"}))
    );
}

#[test]
fn a_capture_the_payee_cannot_receive_keeps_the_whole_hold() {
    let mut w = world();
    let id = authorized(&mut w, 60_000);
    accept(
        &mut w.ledger,
        command(
            w.manager,
            Action::SetStatus {
                account_id: w.b,
                status: AccountStatus::Frozen,
            },
        ),
        at(1),
    );
    let before = w.ledger.clone();
    let (result, effects) = run(&mut w.ledger, capture(w.admin, id, Some(10)), at(2));
    assert_eq!(result, Err(Refusal::AccountFrozen(w.b)));
    // Checked before anything changed: not even the payer's account is touched.
    assert_eq!(w.ledger, before);
    assert_eq!(effects, Effects::default());
    assert_eq!(held(&w.ledger, w.a), 60_000);
    assert_eq!(balance(&w.ledger, w.a), 100_000);
    assert_eq!(state(&w.ledger, id), PaymentState::Authorized);
}

#[test]
fn cancel_releases_a_hold_and_only_pending_or_authorized_payments_cancel() {
    let mut w = world();
    let pending = PaymentId::new();
    accept(
        &mut w.ledger,
        create(w.alice, pending, w.a, w.b, money(10, eur())),
        at(0),
    );
    let (result, effects) = run(&mut w.ledger, cancel(w.bob, pending), at(1));
    let view = payment_view(result);
    assert_eq!(
        (view.state, view.failure_reason.clone()),
        (PaymentState::Canceled, None)
    );
    assert!(effects.changed.is_empty());
    assert_eq!(actions(&effects), [AuditAction::PaymentCanceled]);

    let id = authorized(&mut w, 60_000);
    refused(
        &mut w.ledger,
        cancel(w.stranger, id),
        Refusal::PaymentNotFound(id),
    );
    let (result, effects) = run(&mut w.ledger, cancel(w.manager, id), at(2));
    assert_eq!(payment_view(result).state, PaymentState::Canceled);
    assert_eq!(held(&w.ledger, w.a), 0);
    assert_eq!(balance(&w.ledger, w.a), 100_000);
    assert_eq!(effects.changed, BTreeSet::from([w.a]));
    assert_eq!(effects.payments_changed, BTreeSet::from([id]));
    assert_eq!(
        actions(&effects),
        [AuditAction::HoldVoided, AuditAction::PaymentCanceled]
    );
    let hold = w.ledger.hold_of_payment(id).unwrap().view();
    assert_eq!(
        (hold.state, hold.released_minor),
        (HoldState::Voided, 60_000)
    );
    refused(
        &mut w.ledger,
        cancel(w.alice, id),
        Refusal::InvalidState {
            from: PaymentState::Canceled,
            to: PaymentState::Canceled,
        },
    );

    let captured = authorized(&mut w, 100);
    accept(&mut w.ledger, capture(w.bob, captured, None), at(3));
    refused(
        &mut w.ledger,
        cancel(w.alice, captured),
        Refusal::InvalidState {
            from: PaymentState::Captured,
            to: PaymentState::Canceled,
        },
    );
}

#[test]
fn only_a_pending_payment_fails_and_only_by_a_manager() {
    let mut w = world();
    let fail = |actor, payment_id| {
        command(
            actor,
            Action::FailPayment {
                payment_id,
                reason: FailureReason::parse("fraud suspected".into()).unwrap(),
            },
        )
    };
    let id = PaymentId::new();
    accept(
        &mut w.ledger,
        create(w.alice, id, w.a, w.b, money(10, eur())),
        at(0),
    );
    refused(&mut w.ledger, fail(w.alice, id), Refusal::Forbidden);
    let (result, effects) = run(&mut w.ledger, fail(w.manager, id), at(1));
    let view = payment_view(result);
    assert_eq!(view.state, PaymentState::Failed);
    assert_eq!(view.failure_reason.as_deref(), Some("fraud suspected"));
    assert_eq!(actions(&effects), [AuditAction::PaymentFailed]);

    let id = authorized(&mut w, 10);
    refused(
        &mut w.ledger,
        fail(w.admin, id),
        Refusal::InvalidState {
            from: PaymentState::Authorized,
            to: PaymentState::Failed,
        },
    );
}

#[test]
fn refunds_go_back_to_the_payer_up_to_what_was_captured() {
    let mut w = world();
    let id = authorized(&mut w, 60_000);
    refused(
        &mut w.ledger,
        refund(w.bob, id, None),
        Refusal::InvalidState {
            from: PaymentState::Authorized,
            to: PaymentState::Refunded,
        },
    );
    accept(&mut w.ledger, capture(w.bob, id, Some(30_000)), at(1));
    refused(
        &mut w.ledger,
        refund(w.bob, id, Some(30_001)),
        Refusal::AmountExceedsRefundable,
    );
    refused(
        &mut w.ledger,
        refund(w.alice, id, Some(1)),
        Refusal::Forbidden,
    );

    let (result, effects) = run(&mut w.ledger, refund(w.bob, id, Some(10_000)), at(2));
    let t = transfer_of(result);
    assert_eq!(
        (t.kind, t.from_account_id, t.to_account_id, t.amount),
        (TransferKind::Refund, w.b, w.a, amount(10_000))
    );
    assert_eq!(balance(&w.ledger, w.a), 80_000);
    assert_eq!(balance(&w.ledger, w.b), 20_000);
    assert_eq!(state(&w.ledger, id), PaymentState::Captured);
    assert_eq!(w.ledger.payment(id).unwrap().view().refunded_minor, 10_000);
    assert_eq!(actions(&effects), [AuditAction::PaymentRefunded]);
    assert_eq!(
        effects.audit[0].new_value.as_ref().unwrap()["transfer_amount"],
        "100.00"
    );

    let (result, _) = run(&mut w.ledger, refund(w.admin, id, None), at(3));
    assert_eq!(transfer_of(result).amount, amount(20_000));
    assert_eq!(state(&w.ledger, id), PaymentState::Refunded);
    assert_eq!(
        (balance(&w.ledger, w.a), balance(&w.ledger, w.b)),
        (100_000, 0)
    );

    // The payee spent it: the refund is refused for funds and changes nothing.
    let id = authorized(&mut w, 500);
    accept(&mut w.ledger, capture(w.bob, id, None), at(4));
    accept(
        &mut w.ledger,
        transfer(w.bob, w.b, w.a, money(500, eur())),
        at(4),
    );
    refused(
        &mut w.ledger,
        refund(w.bob, id, None),
        Refusal::InsufficientFunds,
    );
}

// ---- payments: expiry ----

#[test]
fn an_authorization_reached_at_its_deadline_is_expired_before_the_command_runs() {
    let mut w = world();
    let id = authorized(&mut w, 60_000);
    let deadline = at(TTL_SECS);
    let mut late = capture(w.bob, id, None);
    late.context.request_id = Some("req-late".into());
    let (result, effects) = run(&mut w.ledger, late, deadline);
    assert_eq!(
        result,
        Err(Refusal::InvalidState {
            from: PaymentState::Canceled,
            to: PaymentState::Captured,
        })
    );
    let view = w.ledger.payment(id).unwrap().view();
    assert_eq!(view.state, PaymentState::Canceled);
    assert_eq!(view.failure_reason.as_deref(), Some("expired"));
    assert_eq!(view.updated_at, deadline);
    assert_eq!(held(&w.ledger, w.a), 0);
    assert_eq!(balance(&w.ledger, w.a), 100_000);
    assert_eq!(balance(&w.ledger, w.b), 0);
    assert!(effects.transfers.is_empty());
    assert_eq!(effects.changed, BTreeSet::from([w.a]));
    assert_eq!(effects.payments_changed, BTreeSet::from([id]));
    // The sweep expired it, not Bob: no actor, but the request that found it.
    assert_eq!(
        actions(&effects),
        [AuditAction::HoldExpired, AuditAction::PaymentExpired]
    );
    for event in &effects.audit {
        assert_eq!(
            event.context,
            AuditContext {
                actor_id: None,
                request_id: Some("req-late".into()),
                ..context()
            }
        );
    }
    assert_eq!(effects.audit[0].old_value, Some(json!({"state": "held"})));
    assert_eq!(
        effects.audit[1].old_value,
        Some(json!({"state": "authorized"}))
    );
    assert_eq!(
        effects.audit[1].new_value.as_ref().unwrap()["failure_reason"],
        "expired"
    );

    // Expired once: a later cancel finds it canceled and releases nothing twice.
    let (result, effects) = run(&mut w.ledger, cancel(w.alice, id), at(TTL_SECS + 1));
    assert_eq!(
        result,
        Err(Refusal::InvalidState {
            from: PaymentState::Canceled,
            to: PaymentState::Canceled,
        })
    );
    assert_eq!(effects, Effects::default());
    assert_eq!(held(&w.ledger, w.a), 0);
}

#[test]
fn an_authorization_a_microsecond_before_its_deadline_still_captures() {
    let mut w = world();
    let id = authorized(&mut w, 60_000);
    let just_before =
        Timestamp::from_datetime(at(TTL_SECS).as_datetime() - TimeDelta::microseconds(1));
    let (result, effects) = run(&mut w.ledger, capture(w.bob, id, None), just_before);
    assert_eq!(payment_view(result).state, PaymentState::Captured);
    assert_eq!(
        actions(&effects),
        [AuditAction::HoldPosted, AuditAction::PaymentCaptured]
    );
    assert_eq!(balance(&w.ledger, w.b), 60_000);
}

#[test]
fn the_sweep_expires_what_is_due_and_leaves_the_rest() {
    let mut w = world();
    let id = authorized(&mut w, 60_000);
    let hold = w.ledger.hold_of_payment(id).unwrap().terms().id;
    let sweep = |hold_id| Command {
        actor: None,
        context: AuditContext::default(),
        action: Action::ExpireHold {
            hold_id,
            payment_id: Some(id),
        },
    };
    let (result, effects) = run(&mut w.ledger, sweep(hold), at(TTL_SECS - 1));
    assert_eq!(hold_view(result).state, HoldState::Held);
    assert_eq!(effects, Effects::default());
    assert_eq!(held(&w.ledger, w.a), 60_000);

    let (result, effects) = run(&mut w.ledger, sweep(hold), at(TTL_SECS));
    assert_eq!(hold_view(result).state, HoldState::Expired);
    let view = w.ledger.payment(id).unwrap().view();
    assert_eq!(view.state, PaymentState::Canceled);
    assert_eq!(view.failure_reason.as_deref(), Some("expired"));
    assert_eq!(held(&w.ledger, w.a), 0);
    assert_eq!(
        actions(&effects),
        [AuditAction::HoldExpired, AuditAction::PaymentExpired]
    );

    let missing = HoldId::new();
    refused(
        &mut w.ledger,
        sweep(missing),
        Refusal::HoldNotFound(missing),
    );
}

#[test]
fn a_release_never_leaves_holds_above_the_balance() {
    // Two authorizations of 100.00 on an account whose balance is 50.00: only an edit behind
    // the engine's back makes one. Releasing one would still leave 100.00 held against 50.00,
    // so the cancel is refused rather than written back.
    let alice = actor(Role::User);
    let bob = actor(Role::User);
    let mut a = account(Some(alice.user_id), eur(), 5_000);
    a.held = SignedMinor::new(20_000);
    let b = account(Some(bob.user_id), eur(), 0);
    let (payer, payee) = (a.id, b.id);
    let payment = |id| {
        Payment::new(Terms {
            id,
            payer_account_id: payer,
            payee_account_id: payee,
            money: money(10_000, eur()),
            created_at: at(0),
            metadata: Metadata::default(),
        })
        .authorize(
            AuthorizationCode::new("c".into()),
            TimeDelta::hours(1),
            at(0),
        )
    };
    let hold = |payment_id| {
        Hold::new(HoldTerms {
            id: HoldId::new(),
            from_account_id: payer,
            to_account_id: payee,
            money: money(10_000, eur()),
            payment_id: Some(payment_id),
            metadata: Metadata::default(),
            expires_at: at(3_600),
            created_at: at(0),
        })
    };
    let (one, two) = (PaymentId::new(), PaymentId::new());
    let mut ledger = Ledger::new([a.clone(), b.clone()])
        .with_payments([
            AnyPayment::Authorized(payment(one)),
            AnyPayment::Authorized(payment(two)),
        ])
        .with_holds([hold(one), hold(two)]);
    refused(&mut ledger, cancel(alice, one), Refusal::InsufficientFunds);

    // And a hold the account does not carry cannot be released.
    let a = Account {
        held: SignedMinor::ZERO,
        balance: SignedMinor::new(100_000),
        ..a
    };
    let b = Account {
        balance: SignedMinor::ZERO,
        ..b
    };
    let mut ledger = Ledger::new([a.clone(), b])
        .with_payments([AnyPayment::Authorized(payment(one))])
        .with_holds([hold(one)]);
    refused(&mut ledger, cancel(alice, one), Refusal::BalanceLimit(a.id));

    // An authorization whose hold was not loaded is a bug, refused before anything changes.
    let mut ledger = Ledger::new([a.clone(), account(Some(bob.user_id), eur(), 0)])
        .with_payments([AnyPayment::Authorized(payment(two))]);
    refused(
        &mut ledger,
        cancel(alice, two),
        Refusal::PaymentHoldMissing(two),
    );
}

// ---- verification ----

fn check(owner: Option<UserId>, balance: i64, held: i64) -> AccountCheck {
    AccountCheck {
        id: AccountId::new(),
        owner_id: owner,
        currency: eur(),
        balance: SignedMinor::new(balance),
        held: SignedMinor::new(held),
        limits: BalanceLimits::DEFAULT,
        lines_sum: SignedMinor::new(balance),
        holds_sum: SignedMinor::new(held),
    }
}

#[test]
fn verify_flags_a_negative_hold_even_when_everything_else_adds_up() {
    let owner = Some(UserId::new());
    let negative_hold = check(owner, 100, -1);
    let system = check(None, -100, 0);
    let report = verify([negative_hold.clone(), system]);
    assert!(!report.ok);
    assert_eq!(report.mismatched_accounts, [negative_hold.id]);
    assert_eq!(report.currencies[0].sum, SignedMinor::ZERO);
}

#[test]
fn verify_flags_each_kind_of_staleness_alone() {
    let owner = Some(UserId::new());
    let stale_balance = AccountCheck {
        lines_sum: SignedMinor::new(99),
        ..check(owner, 100, 0)
    };
    let stale_holds = AccountCheck {
        holds_sum: SignedMinor::new(0),
        ..check(owner, 100, 10)
    };
    let overheld = check(owner, 100, 101);
    let fine = check(owner, 100, 100);
    let system = check(None, -400, 0);
    let report = verify([
        stale_balance.clone(),
        stale_holds.clone(),
        overheld.clone(),
        fine,
        system,
    ]);
    assert!(!report.ok);
    assert_eq!(
        report.mismatched_accounts,
        [stale_balance.id, stale_holds.id, overheld.id]
    );
    assert_eq!(report.accounts_checked, 5);
}

#[test]
fn a_report_prints_its_counts_sums_and_culprits() {
    let owner = Some(UserId::new());
    let good = verify([check(owner, 1_250, 0), check(None, -1_250, 0)]);
    assert!(good.ok);
    assert_eq!(good.to_string(), "2 accounts checked, EUR sums to 0.00");
    let bad = check(owner, -5, 0);
    let report = verify([bad.clone(), check(None, 5, 0)]);
    assert_eq!(
        report.to_string(),
        format!(
            "2 accounts checked, EUR sums to 0.00; mismatched accounts: {}",
            bad.id
        )
    );
    let empty = LedgerReport {
        ok: true,
        currencies: vec![],
        accounts_checked: 0,
        mismatched_accounts: vec![],
    };
    assert_eq!(empty.to_string(), "0 accounts checked");
}
