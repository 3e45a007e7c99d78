//! Balance limits one rule at a time, through `ledger::apply`: the floor and the ceiling at
//! their edge, who may change them, what a change leaves and records, and `ledger/verify`
//! judging an account by its own limits; and the other half of an account's update, its
//! metadata. `limit_props.rs` checks the limits over random sequences.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use chrono::TimeDelta;
use coffre_domain::access::Actor;
use coffre_domain::audit::{AuditAction, AuditContext, ResourceType};
use coffre_domain::ids::{AccountId, HoldId, PaymentId, TransferId, UserId};
use coffre_domain::ledger::{
    Account, AccountCheck, AccountStatus, Action, BalanceLimits, Command, CommandResult, Effects,
    Ledger, LimitAmount, LimitsChange, Outcome, Refusal, apply, verify,
};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Amount, AmountError, Currency, Money, SignedMinor};
use coffre_domain::payment::AuthorizationCode;
use coffre_domain::time::Timestamp;
use coffre_domain::user::Role;
use serde_json::json;

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn money(minor: i64) -> Money {
    Money {
        amount: Amount::from_minor(minor).unwrap(),
        currency: eur(),
    }
}

fn limit(minor: i64) -> LimitAmount {
    LimitAmount::from_minor(minor).unwrap()
}

fn actor(role: Role) -> Actor {
    Actor {
        user_id: UserId::new(),
        role,
    }
}

fn account(owner: Option<UserId>, balance: i64, limits: BalanceLimits) -> Account {
    Account {
        id: AccountId::new(),
        owner_id: owner,
        currency: eur(),
        name: None,
        balance: SignedMinor::new(balance),
        held: SignedMinor::ZERO,
        status: AccountStatus::Active,
        limits,
        metadata: Metadata::default(),
        created_at: Timestamp::now(),
        updated_at: Timestamp::now(),
    }
}

fn limits(overdraft: i64, max: Option<i64>) -> BalanceLimits {
    BalanceLimits {
        overdraft_limit: limit(overdraft),
        max_balance: max.map(limit),
    }
}

/// Alice's account `a` (balance 100, overdraft 50, ceiling 300), Bob's `b` (balance 0, no
/// limits) and the system account, which carries the money they hold.
struct World {
    alice: Actor,
    bob: Actor,
    admin: Actor,
    a: AccountId,
    b: AccountId,
    system: AccountId,
    ledger: Ledger,
}

fn world() -> World {
    let (alice, bob, admin) = (actor(Role::User), actor(Role::User), actor(Role::Admin));
    let a = account(Some(alice.user_id), 100, limits(50, Some(300)));
    let b = account(Some(bob.user_id), 0, BalanceLimits::DEFAULT);
    let system = account(None, -100, BalanceLimits::DEFAULT);
    World {
        alice,
        bob,
        admin,
        a: a.id,
        b: b.id,
        system: system.id,
        ledger: Ledger::new([a, b, system]),
    }
}

fn run(ledger: &mut Ledger, actor: Actor, action: Action) -> (CommandResult, Effects) {
    let command = Command {
        actor: Some(actor),
        context: AuditContext::default(),
        action,
    };
    let (mut results, effects) = apply(ledger, &[command], Timestamp::now());
    (results.remove(0), effects)
}

fn transfer(from: AccountId, to: AccountId, minor: i64) -> Action {
    Action::Transfer {
        id: TransferId::new(),
        from,
        to,
        money: money(minor),
        description: None,
        metadata: Metadata::default(),
    }
}

fn deposit(to: AccountId, minor: i64) -> Action {
    Action::Deposit {
        id: TransferId::new(),
        account_id: to,
        money: money(minor),
        description: None,
        metadata: Metadata::default(),
    }
}

fn set(account_id: AccountId, overdraft: Option<i64>, max: Option<Option<i64>>) -> Action {
    Action::UpdateAccount {
        account_id,
        limits: LimitsChange {
            overdraft_limit: overdraft.map(limit),
            max_balance: max.map(|max| max.map(limit)),
        },
        metadata: None,
    }
}

fn balance(ledger: &Ledger, id: AccountId) -> i64 {
    ledger.account(id).unwrap().balance.minor()
}

#[test]
fn a_limit_is_zero_or_more_at_the_currency_scale() {
    assert_eq!(LimitAmount::parse("0", eur()).unwrap(), LimitAmount::ZERO);
    assert_eq!(
        LimitAmount::parse("0.00", eur()).unwrap(),
        LimitAmount::ZERO
    );
    assert_eq!(LimitAmount::parse("12.5", eur()).unwrap().minor(), 1_250);
    assert_eq!(LimitAmount::parse("-1", eur()), Err(AmountError::Negative));
    assert!(matches!(
        LimitAmount::parse("0.001", eur()),
        Err(AmountError::TooManyDecimals { .. })
    ));
    assert!(matches!(
        LimitAmount::parse("", eur()),
        Err(AmountError::Empty)
    ));
    assert_eq!(LimitAmount::from_minor(0).unwrap(), LimitAmount::ZERO);
    assert_eq!(
        LimitAmount::from_minor(Amount::MAX_MINOR).unwrap().minor(),
        Amount::MAX_MINOR
    );
    assert!(LimitAmount::from_minor(Amount::MAX_MINOR + 1).is_err());
    assert_eq!(LimitAmount::from_minor(-1), Err(AmountError::Negative));
    assert_eq!(limit(5).format(eur()), "0.05");
    assert_eq!(LimitAmount::ZERO.format(eur()), "0.00");
    assert_eq!(BalanceLimits::default(), BalanceLimits::DEFAULT);
    assert_eq!(BalanceLimits::DEFAULT, limits(0, None));
}

#[test]
fn the_rule_bounds_available_from_below_and_balance_from_above() {
    let id = AccountId::new();
    let rule = limits(50, Some(300));
    let at = |balance, held| rule.admit(id, SignedMinor::new(balance), SignedMinor::new(held));
    assert_eq!(at(-50, 0), Ok(()));
    assert_eq!(at(-51, 0), Err(Refusal::InsufficientFunds));
    assert_eq!(at(10, 60), Ok(()));
    assert_eq!(at(10, 61), Err(Refusal::InsufficientFunds));
    // A negative hold (only a corrupt row has one) does not lower the floor of the balance.
    assert_eq!(at(-50, -100), Ok(()));
    assert_eq!(at(-51, -100), Err(Refusal::InsufficientFunds));
    assert_eq!(at(300, 0), Ok(()));
    assert_eq!(at(301, 0), Err(Refusal::BalanceLimitExceeded(id)));
    // The ceiling is on the balance, holds or not.
    assert_eq!(at(301, 200), Err(Refusal::BalanceLimitExceeded(id)));
    assert_eq!(at(300, 350), Ok(()));
    // Both broken: the funds are named first.
    let tight = limits(0, Some(0));
    assert_eq!(
        tight.admit(id, SignedMinor::new(5), SignedMinor::new(10)),
        Err(Refusal::InsufficientFunds)
    );
    // A ceiling of zero is a ceiling.
    assert_eq!(
        tight.admit(id, SignedMinor::new(1), SignedMinor::ZERO),
        Err(Refusal::BalanceLimitExceeded(id))
    );
    assert_eq!(
        BalanceLimits::DEFAULT.admit(id, SignedMinor::new(i64::MAX), SignedMinor::ZERO),
        Ok(())
    );
    assert_eq!(
        BalanceLimits::DEFAULT.admit(id, SignedMinor::new(i64::MIN), SignedMinor::new(1)),
        Err(Refusal::BalanceLimit(id))
    );
}

#[test]
fn a_transfer_may_overdraw_down_to_the_limit_and_not_a_cent_more() {
    let mut w = world();
    let (result, _) = run(&mut w.ledger, w.alice, transfer(w.a, w.b, 151));
    assert_eq!(result, Err(Refusal::InsufficientFunds));
    assert_eq!(balance(&w.ledger, w.a), 100);

    let (result, effects) = run(&mut w.ledger, w.alice, transfer(w.a, w.b, 150));
    assert!(matches!(result, Ok(Outcome::Transfer(_))));
    assert_eq!(balance(&w.ledger, w.a), -50);
    assert_eq!(balance(&w.ledger, w.b), 150);
    let line = effects
        .entries
        .iter()
        .find(|e| e.account_id == w.a)
        .unwrap();
    assert_eq!(line.balance_after.minor(), -50);

    let (result, _) = run(&mut w.ledger, w.alice, transfer(w.a, w.b, 1));
    assert_eq!(result, Err(Refusal::InsufficientFunds));
    // Bob has no overdraft: his floor is zero.
    let (result, _) = run(&mut w.ledger, w.bob, transfer(w.b, w.a, 151));
    assert_eq!(result, Err(Refusal::InsufficientFunds));
    let (result, _) = run(
        &mut w.ledger,
        w.bob,
        Action::Withdrawal {
            id: TransferId::new(),
            account_id: w.b,
            money: money(150),
            description: None,
            metadata: Metadata::default(),
        },
    );
    assert!(result.is_ok());
    assert_eq!(balance(&w.ledger, w.b), 0);
}

#[test]
fn money_may_arrive_up_to_the_ceiling_and_not_a_cent_more() {
    let mut w = world();
    let (result, effects) = run(&mut w.ledger, w.admin, deposit(w.a, 201));
    assert_eq!(result, Err(Refusal::BalanceLimitExceeded(w.a)));
    assert!(effects.entries.is_empty() && effects.audit.is_empty());
    assert_eq!(balance(&w.ledger, w.a), 100);
    assert_eq!(balance(&w.ledger, w.system), -100);

    let (result, _) = run(&mut w.ledger, w.admin, deposit(w.a, 200));
    assert!(result.is_ok());
    assert_eq!(balance(&w.ledger, w.a), 300);
    let (result, _) = run(&mut w.ledger, w.admin, deposit(w.b, 5));
    assert!(result.is_ok());
    let (result, _) = run(&mut w.ledger, w.bob, transfer(w.b, w.a, 1));
    assert_eq!(result, Err(Refusal::BalanceLimitExceeded(w.a)));
    assert_eq!(balance(&w.ledger, w.b), 5);
}

#[test]
fn a_hold_may_reach_the_overdraft_limit_and_a_larger_one_fails_the_payment() {
    let mut w = world();
    let pay = |ledger: &mut Ledger, minor| {
        let id = PaymentId::new();
        let (created, _) = run(
            ledger,
            w.alice,
            Action::CreatePayment {
                id,
                payer: w.a,
                payee: w.b,
                money: money(minor),
                metadata: Metadata::default(),
            },
        );
        assert!(created.is_ok());
        let (result, _) = run(
            ledger,
            w.alice,
            Action::Authorize {
                payment_id: id,
                hold_id: HoldId::new(),
                code: AuthorizationCode::new("C".into()),
                ttl: TimeDelta::hours(1),
            },
        );
        result
    };
    assert!(matches!(
        pay(&mut w.ledger, 151),
        Ok(Outcome::AuthorizationDeclined(_))
    ));
    assert!(matches!(pay(&mut w.ledger, 150), Ok(Outcome::Payment(_))));
    let a = w.ledger.account(w.a).unwrap();
    assert_eq!((a.balance.minor(), a.available().minor()), (100, -50));
    // Held money is spent: nothing more may leave.
    let (result, _) = run(&mut w.ledger, w.alice, transfer(w.a, w.b, 1));
    assert_eq!(result, Err(Refusal::InsufficientFunds));
}

#[test]
fn only_an_admin_changes_limits_and_others_who_see_the_account_are_forbidden() {
    let mut w = world();
    let manager = actor(Role::Manager);
    for (who, refusal) in [
        (w.alice, Refusal::Forbidden),
        (manager, Refusal::Forbidden),
        (w.bob, Refusal::AccountNotFound(w.a)),
    ] {
        let (result, effects) = run(&mut w.ledger, who, set(w.a, Some(0), None));
        assert_eq!(result, Err(refusal));
        assert_eq!(effects, Effects::default());
    }
    let (result, _) = run(&mut w.ledger, w.admin, set(AccountId::new(), Some(0), None));
    assert!(matches!(result, Err(Refusal::AccountNotFound(_))));
    let (result, effects) = run(&mut w.ledger, w.admin, set(w.system, Some(5), None));
    assert_eq!(result, Err(Refusal::SystemAccountLimits(w.system)));
    assert_eq!(effects, Effects::default());
    assert_eq!(w.ledger.account(w.a).unwrap().limits, limits(50, Some(300)));
}

#[test]
fn a_change_merges_into_the_limits_is_audited_and_marks_the_account() {
    let mut w = world();
    let (result, effects) = run(&mut w.ledger, w.admin, set(w.a, Some(75), None));
    let Ok(Outcome::Account(account)) = result else {
        panic!("{result:?}");
    };
    assert_eq!(account.limits, limits(75, Some(300)));
    assert_eq!(w.ledger.account(w.a).unwrap().limits, limits(75, Some(300)));
    assert!(effects.changed.contains(&w.a));
    assert_eq!(effects.audit.len(), 1);
    let event = &effects.audit[0];
    assert_eq!(event.action, AuditAction::AccountLimitsChanged);
    assert_eq!(event.resource_type, ResourceType::Account);
    assert_eq!(event.resource_id, Some(w.a.to_string()));
    assert_eq!(
        event.old_value,
        Some(json!({"overdraft_limit": "0.50", "max_balance": "3.00"}))
    );
    assert_eq!(
        event.new_value,
        Some(json!({"overdraft_limit": "0.75", "max_balance": "3.00"}))
    );

    // `null` removes the ceiling; the overdraft limit is left as it is.
    let (_, effects) = run(&mut w.ledger, w.admin, set(w.a, None, Some(None)));
    assert_eq!(w.ledger.account(w.a).unwrap().limits, limits(75, None));
    assert_eq!(
        effects.audit[0].new_value,
        Some(json!({"overdraft_limit": "0.75", "max_balance": null}))
    );
    let (_, _) = run(&mut w.ledger, w.admin, set(w.a, None, Some(Some(1_000))));
    assert_eq!(
        w.ledger.account(w.a).unwrap().limits,
        limits(75, Some(1_000))
    );
}

#[test]
fn a_change_that_changes_nothing_writes_and_records_nothing() {
    let mut w = world();
    for action in [
        set(w.a, Some(50), Some(Some(300))),
        set(w.a, None, None),
        set(w.a, Some(50), None),
    ] {
        let (result, effects) = run(&mut w.ledger, w.admin, action);
        assert!(matches!(result, Ok(Outcome::Account(_))));
        assert_eq!(effects, Effects::default());
    }
}

#[test]
fn limits_the_account_already_breaks_are_refused() {
    let mut w = world();
    // Alice at -50 of her 50 overdraft, and Bob at 150.
    let (result, _) = run(&mut w.ledger, w.alice, transfer(w.a, w.b, 150));
    assert!(result.is_ok());
    for action in [set(w.a, Some(49), None), set(w.b, None, Some(Some(149)))] {
        let (result, effects) = run(&mut w.ledger, w.admin, action);
        assert!(
            matches!(result, Err(Refusal::LimitsBreached(_))),
            "{result:?}"
        );
        assert_eq!(effects, Effects::default());
    }
    assert_eq!(w.ledger.account(w.a).unwrap().limits, limits(50, Some(300)));
    assert_eq!(
        w.ledger.account(w.b).unwrap().limits,
        BalanceLimits::DEFAULT
    );
    // Exactly at the new limit is within it.
    let (result, _) = run(&mut w.ledger, w.admin, set(w.b, None, Some(Some(150))));
    assert!(result.is_ok());
    let (result, _) = run(&mut w.ledger, w.admin, set(w.a, Some(50), Some(Some(0))));
    assert!(result.is_ok());
}

#[test]
fn verify_judges_each_customer_account_by_its_own_limits() {
    let owner = Some(UserId::new());
    let check = |owner, balance: i64, held: i64, limits| AccountCheck {
        id: AccountId::new(),
        owner_id: owner,
        currency: eur(),
        balance: SignedMinor::new(balance),
        held: SignedMinor::new(held),
        limits,
        lines_sum: SignedMinor::new(balance),
        holds_sum: SignedMinor::new(held),
    };
    let overdrawn = check(owner, -50, 0, limits(50, None));
    let held_to_floor = check(owner, 10, 60, limits(50, None));
    let at_ceiling = check(owner, 300, 0, limits(0, Some(300)));
    let system = check(None, -260, 0, BalanceLimits::DEFAULT);
    let report = verify([overdrawn, held_to_floor, at_ceiling, system]);
    assert!(report.ok, "{report}");

    let too_low = check(owner, -51, 0, limits(50, None));
    let too_held = check(owner, 10, 61, limits(50, None));
    let too_high = check(owner, 301, 0, limits(0, Some(300)));
    let system = check(None, -260, 0, BalanceLimits::DEFAULT);
    let ids = vec![too_low.id, too_held.id, too_high.id];
    let report = verify([too_low, too_held, too_high, system]);
    assert!(!report.ok);
    assert_eq!(report.mismatched_accounts, ids);
}

// ---- metadata, the other half of an account's update ----

fn relabel(account_id: AccountId, patch: serde_json::Value) -> Action {
    Action::UpdateAccount {
        account_id,
        limits: LimitsChange::default(),
        metadata: Some(serde_json::from_value(patch).unwrap()),
    }
}

fn labels(ledger: &Ledger, id: AccountId) -> serde_json::Value {
    ledger.account(id).unwrap().metadata.to_json()
}

#[test]
fn the_owner_or_an_admin_merges_metadata_and_the_change_is_audited() {
    let mut w = world();
    let (result, effects) = run(
        &mut w.ledger,
        w.alice,
        relabel(w.a, json!({"a": "1", "b": "2"})),
    );
    assert!(matches!(result, Ok(Outcome::Account(_))), "{result:?}");
    assert_eq!(labels(&w.ledger, w.a), json!({"a": "1", "b": "2"}));
    assert!(effects.changed.contains(&w.a));
    assert_eq!(effects.audit.len(), 1);
    let event = &effects.audit[0];
    assert_eq!(event.action, AuditAction::MetadataUpdated);
    assert_eq!(event.resource_type, ResourceType::Account);
    assert_eq!(event.resource_id, Some(w.a.to_string()));
    assert_eq!(event.old_value, Some(json!({"metadata": {}})));
    assert_eq!(
        event.new_value,
        Some(json!({"metadata": {"a": "1", "b": "2"}}))
    );

    let (result, _) = run(
        &mut w.ledger,
        w.admin,
        relabel(w.a, json!({"a": null, "c": "3"})),
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(labels(&w.ledger, w.a), json!({"b": "2", "c": "3"}));

    // The same labels again, or removing what is absent: nothing to write or record.
    let (result, effects) = run(
        &mut w.ledger,
        w.alice,
        relabel(w.a, json!({"b": "2", "z": null})),
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(effects, Effects::default());

    let manager = actor(Role::Manager);
    for (who, refusal) in [
        (manager, Refusal::Forbidden),
        (w.bob, Refusal::AccountNotFound(w.a)),
    ] {
        let (result, effects) = run(&mut w.ledger, who, relabel(w.a, json!({"x": "y"})));
        assert_eq!(result, Err(refusal));
        assert_eq!(effects, Effects::default());
    }
    assert_eq!(labels(&w.ledger, w.a), json!({"b": "2", "c": "3"}));
}

#[test]
fn an_update_is_decided_whole_before_any_part_changes() {
    let mut w = world();
    let crowded: serde_json::Map<String, serde_json::Value> =
        (0..49).map(|i| (format!("k{i}"), json!("v"))).collect();
    let (result, _) = run(&mut w.ledger, w.alice, relabel(w.a, json!(crowded)));
    assert!(result.is_ok(), "{result:?}");
    // A 51st key is refused, and takes the limit change asked with it down too.
    let both = Action::UpdateAccount {
        account_id: w.a,
        limits: LimitsChange {
            overdraft_limit: Some(limit(10)),
            max_balance: None,
        },
        metadata: Some(serde_json::from_value(json!({"x": "1", "y": "2"})).unwrap()),
    };
    let (result, effects) = run(&mut w.ledger, w.admin, both);
    assert_eq!(result, Err(Refusal::TooManyMetadataKeys));
    assert_eq!(effects, Effects::default());
    assert_eq!(w.ledger.account(w.a).unwrap().limits, limits(50, Some(300)));
    // The owner may relabel, but not change limits in the same breath.
    let (result, _) = run(
        &mut w.ledger,
        w.alice,
        Action::UpdateAccount {
            account_id: w.a,
            limits: LimitsChange {
                overdraft_limit: Some(limit(10)),
                max_balance: None,
            },
            metadata: Some(serde_json::from_value(json!({"x": "1"})).unwrap()),
        },
    );
    assert_eq!(result, Err(Refusal::Forbidden));
    assert_eq!(labels(&w.ledger, w.a).as_object().unwrap().len(), 50 - 1);
    // Asking for nothing answers the account to whoever may read it.
    let nothing = |account_id| Action::UpdateAccount {
        account_id,
        limits: LimitsChange::default(),
        metadata: None,
    };
    let (result, effects) = run(&mut w.ledger, w.alice, nothing(w.a));
    assert!(matches!(result, Ok(Outcome::Account(_))));
    assert_eq!(effects, Effects::default());
    let (result, _) = run(&mut w.ledger, actor(Role::Manager), nothing(w.a));
    assert!(result.is_ok());
    let (result, _) = run(&mut w.ledger, w.bob, nothing(w.a));
    assert_eq!(result, Err(Refusal::AccountNotFound(w.a)));
    // Opening an account keeps the metadata it is given.
    let opened = AccountId::new();
    let (result, _) = run(
        &mut w.ledger,
        w.bob,
        Action::OpenAccount {
            id: opened,
            owner_id: w.bob.user_id,
            currency: eur(),
            name: None,
            metadata: serde_json::from_value(json!({"order": "7"})).unwrap(),
        },
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(labels(&w.ledger, opened), json!({"order": "7"}));
}
