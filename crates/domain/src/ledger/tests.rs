//! `apply` one command at a time: each action's outcome, refusals in the contract's order,
//! and what a refusal leaves (nothing).
#![allow(clippy::indexing_slicing)]

use std::collections::BTreeSet;

use crate::access::Actor;
use crate::audit::{AuditAction, AuditContext};
use crate::ids::{AccountId, TransferId, UserId};
use crate::metadata::Metadata;
use crate::money::{Amount, Currency, Money, SignedMinor};
use crate::time::Timestamp;
use crate::user::Role;

use super::{
    Account, AccountStatus, Action, BalanceLimits, Command, CommandResult, Effects, Ledger,
    MAX_BALANCE_MINOR, Outcome, Refusal, TransferKind, apply,
};

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
        status: AccountStatus::Active,
        limits: BalanceLimits::DEFAULT,
        metadata: Metadata::default(),
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
    }
}

fn command(actor: Actor, action: Action) -> Command {
    Command {
        actor: Some(actor),
        context: AuditContext::default(),
        action,
    }
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

struct World {
    alice: Actor,
    bob: Actor,
    manager: Actor,
    admin: Actor,
    a: AccountId,
    b: AccountId,
    system: AccountId,
    ledger: Ledger,
}

fn world() -> World {
    let (alice, bob) = (actor(Role::User), actor(Role::User));
    let a = account(Some(alice.user_id), eur(), 1_000);
    let b = account(Some(bob.user_id), eur(), 0);
    let system = account(None, eur(), -1_000);
    World {
        alice,
        bob,
        manager: actor(Role::Manager),
        admin: actor(Role::Admin),
        a: a.id,
        b: b.id,
        system: system.id,
        ledger: Ledger::new([a, b, system]),
    }
}

fn apply_one_command(ledger: &mut Ledger, command: Command) -> (CommandResult, Effects) {
    let (mut results, effects) = apply(ledger, &[command], Timestamp::now());
    (results.remove(0), effects)
}

#[test]
fn a_transfer_writes_two_lines_that_sum_to_zero() {
    let mut w = world();
    let cmd = transfer(w.alice, w.a, w.b, money(250, eur()));
    let (result, effects) = apply_one_command(&mut w.ledger, cmd);
    let Ok(Outcome::Transfer(transfer)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(transfer.kind, TransferKind::Transfer);
    let lines: Vec<i64> = effects.entries.iter().map(|e| e.amount.minor()).collect();
    assert_eq!(lines, vec![-250, 250]);
    let after: Vec<i64> = effects
        .entries
        .iter()
        .map(|e| e.balance_after.minor())
        .collect();
    assert_eq!(after, vec![750, 250]);
    assert_eq!(w.ledger.account(w.a).unwrap().balance.minor(), 750);
    assert_eq!(w.ledger.account(w.b).unwrap().balance.minor(), 250);
    assert_eq!(effects.changed, BTreeSet::from([w.a, w.b]));
    assert_eq!(effects.audit.len(), 1);
    assert_eq!(effects.audit[0].action, AuditAction::Transfer);
}

#[test]
fn checks_run_in_the_contract_order() {
    let mut w = world();
    let usd = Currency::parse("USD").unwrap();
    let missing = AccountId::new();
    let cases = [
        // Someone else's account is invisible to a user, and forbidden to a manager.
        (
            transfer(w.bob, w.a, w.b, money(1, eur())),
            Refusal::AccountNotFound(w.a),
        ),
        (
            transfer(w.manager, w.a, w.b, money(1, eur())),
            Refusal::Forbidden,
        ),
        (
            transfer(w.alice, w.a, missing, money(1, eur())),
            Refusal::AccountNotFound(missing),
        ),
        // The system account is not a transfer party.
        (
            transfer(w.alice, w.a, w.system, money(1, eur())),
            Refusal::AccountNotFound(w.system),
        ),
        // Same account comes before currency and funds.
        (
            transfer(w.alice, w.a, w.a, money(5_000, usd)),
            Refusal::SameAccount,
        ),
        (
            transfer(w.alice, w.a, w.b, money(5_000, usd)),
            Refusal::CurrencyMismatch,
        ),
        (
            transfer(w.alice, w.a, w.b, money(1_001, eur())),
            Refusal::InsufficientFunds,
        ),
    ];
    let before = w.ledger.clone();
    for (cmd, refusal) in cases {
        let (result, effects) = apply_one_command(&mut w.ledger, cmd);
        assert_eq!(result, Err(refusal));
        assert_eq!(effects, Effects::default());
        assert_eq!(w.ledger, before);
    }
}

#[test]
fn frozen_accounts_neither_send_nor_receive() {
    let mut w = world();
    let freeze = command(
        w.manager,
        Action::SetStatus {
            account_id: w.b,
            status: AccountStatus::Frozen,
        },
    );
    let (result, effects) = apply_one_command(&mut w.ledger, freeze);
    assert!(matches!(result, Ok(Outcome::Account(ref a)) if a.status == AccountStatus::Frozen));
    assert_eq!(effects.audit[0].action, AuditAction::AccountFrozen);

    let (result, _) =
        apply_one_command(&mut w.ledger, transfer(w.alice, w.a, w.b, money(1, eur())));
    assert_eq!(result, Err(Refusal::AccountFrozen(w.b)));
    let (result, _) = apply_one_command(&mut w.ledger, transfer(w.bob, w.b, w.a, money(1, eur())));
    assert_eq!(result, Err(Refusal::AccountFrozen(w.b)));

    // Freezing again changes nothing and writes nothing.
    let again = command(
        w.admin,
        Action::SetStatus {
            account_id: w.b,
            status: AccountStatus::Frozen,
        },
    );
    let (result, effects) = apply_one_command(&mut w.ledger, again);
    assert!(result.is_ok());
    assert_eq!(effects, Effects::default());

    let by_user = command(
        w.bob,
        Action::SetStatus {
            account_id: w.b,
            status: AccountStatus::Active,
        },
    );
    assert_eq!(
        apply_one_command(&mut w.ledger, by_user).0,
        Err(Refusal::Forbidden)
    );
}

#[test]
fn a_system_account_cannot_be_frozen_but_can_be_unfrozen() {
    let mut w = world();
    for actor in [w.manager, w.admin] {
        let freeze = command(
            actor,
            Action::SetStatus {
                account_id: w.system,
                status: AccountStatus::Frozen,
            },
        );
        let before = w.ledger.clone();
        let (result, effects) = apply_one_command(&mut w.ledger, freeze);
        assert_eq!(result, Err(Refusal::SystemAccountFreeze(w.system)));
        assert_eq!(effects, Effects::default());
        assert_eq!(w.ledger, before);
    }
    let unfreeze = command(
        w.manager,
        Action::SetStatus {
            account_id: w.system,
            status: AccountStatus::Active,
        },
    );
    assert!(apply_one_command(&mut w.ledger, unfreeze).0.is_ok());
}

#[test]
fn deposits_and_withdrawals_go_through_the_system_account() {
    let mut w = world();
    let deposit = |actor| {
        command(
            actor,
            Action::Deposit {
                id: TransferId::new(),
                account_id: w.b,
                money: money(300, eur()),
                description: None,
                metadata: Metadata::default(),
            },
        )
    };
    assert_eq!(
        apply_one_command(&mut w.ledger, deposit(w.manager)).0,
        Err(Refusal::Forbidden)
    );
    let (result, effects) = apply_one_command(&mut w.ledger, deposit(w.admin));
    let Ok(Outcome::Transfer(t)) = result else {
        panic!("{result:?}")
    };
    assert_eq!((t.from_account_id, t.to_account_id), (w.system, w.b));
    assert_eq!(effects.audit[0].action, AuditAction::Deposit);
    assert_eq!(w.ledger.account(w.system).unwrap().balance.minor(), -1_300);

    let withdrawal = |actor, minor| {
        command(
            actor,
            Action::Withdrawal {
                id: TransferId::new(),
                account_id: w.b,
                money: money(minor, eur()),
                description: None,
                metadata: Metadata::default(),
            },
        )
    };
    assert_eq!(
        apply_one_command(&mut w.ledger, withdrawal(w.alice, 1)).0,
        Err(Refusal::AccountNotFound(w.b))
    );
    assert_eq!(
        apply_one_command(&mut w.ledger, withdrawal(w.manager, 1)).0,
        Err(Refusal::Forbidden)
    );
    assert_eq!(
        apply_one_command(&mut w.ledger, withdrawal(w.bob, 301)).0,
        Err(Refusal::InsufficientFunds)
    );
    let (result, _) = apply_one_command(&mut w.ledger, withdrawal(w.admin, 300));
    assert!(result.is_ok());
    assert_eq!(w.ledger.account(w.b).unwrap().balance.minor(), 0);
    assert_eq!(w.ledger.account(w.system).unwrap().balance.minor(), -1_000);
}

#[test]
fn a_missing_system_account_is_reported_not_invented() {
    let alice = actor(Role::Admin);
    let a = account(Some(alice.user_id), eur(), 0);
    let mut ledger = Ledger::new([a.clone()]);
    let cmd = command(
        alice,
        Action::Deposit {
            id: TransferId::new(),
            account_id: a.id,
            money: money(1, eur()),
            description: None,
            metadata: Metadata::default(),
        },
    );
    assert_eq!(
        apply_one_command(&mut ledger, cmd).0,
        Err(Refusal::SystemAccountMissing(eur()))
    );
}

#[test]
fn balances_stop_at_the_limit() {
    let alice = actor(Role::User);
    let a = account(Some(alice.user_id), eur(), Amount::MAX_MINOR);
    let b = account(Some(UserId::new()), eur(), MAX_BALANCE_MINOR);
    let mut ledger = Ledger::new([a.clone(), b.clone()]);
    let cmd = transfer(alice, a.id, b.id, money(1, eur()));
    assert_eq!(
        apply_one_command(&mut ledger, cmd).0,
        Err(Refusal::BalanceLimit(b.id))
    );
}

#[test]
fn opening_an_account_for_someone_else_takes_an_admin() {
    let mut ledger = Ledger::default();
    let user = actor(Role::User);
    let open = |actor: Actor, owner_id| {
        command(
            actor,
            Action::OpenAccount {
                id: AccountId::new(),
                owner_id,
                currency: eur(),
                name: None,
                metadata: Metadata::default(),
            },
        )
    };
    let (result, _) = apply_one_command(&mut ledger, open(actor(Role::Manager), user.user_id));
    assert_eq!(result, Err(Refusal::Forbidden));
    let (result, effects) = apply_one_command(&mut ledger, open(user, user.user_id));
    let Ok(Outcome::Account(account)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(account.owner_id, Some(user.user_id));
    assert_eq!(effects.opened, BTreeSet::from([account.id]));
    assert_eq!(effects.audit[0].action, AuditAction::AccountCreated);
}
