//! Transactions against `ledger::apply`: each posting a transfer of the transaction, applied in
//! order, all or nothing; a refusal names its posting and leaves the ledger and the effects as
//! they were; every currency still sums to zero and no customer account goes below zero.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use std::collections::BTreeMap;

use coffre_domain::access::Actor;
use coffre_domain::audit::{AuditAction, AuditContext, ResourceType};
use coffre_domain::ids::{AccountId, TransactionId, TransferId, UserId};
use coffre_domain::ledger::{
    Account, AccountStatus, Action, BalanceLimits, Command, CommandResult, Effects, Ledger,
    MAX_POSTINGS, NewPosting, Outcome, Postings, PostingsError, Refusal, TransactionLink,
    TransferKind, apply,
};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Amount, Currency, Money, SignedMinor};
use coffre_domain::time::Timestamp;
use coffre_domain::user::Role;
use proptest::prelude::*;

/// Customer accounts per currency; each has its own owner.
const PER_CURRENCY: usize = 3;
const STARTING_MINOR: i64 = 1_000;

fn currency(jpy: bool) -> Currency {
    Currency::parse(if jpy { "JPY" } else { "EUR" }).unwrap()
}

fn money(minor: i64, jpy: bool) -> Money {
    Money {
        amount: Amount::from_minor(minor).unwrap(),
        currency: currency(jpy),
    }
}

fn actor(role: Role) -> Actor {
    Actor {
        user_id: UserId::new(),
        role,
    }
}

/// Accounts 0..3 are EUR, 3..6 JPY, each holding [`STARTING_MINOR`] from its currency's
/// system account; account 6 is the EUR system account.
struct World {
    owners: Vec<Actor>,
    manager: Actor,
    admin: Actor,
    accounts: Vec<AccountId>,
    ledger: Ledger,
}

fn world() -> World {
    let now = Timestamp::now();
    let account = |owner_id, jpy, balance| Account {
        id: AccountId::new(),
        owner_id,
        currency: currency(jpy),
        name: None,
        balance: SignedMinor::new(balance),
        held: SignedMinor::ZERO,
        status: AccountStatus::Active,
        limits: BalanceLimits::DEFAULT,
        metadata: Metadata::default(),
        created_at: now,
        updated_at: now,
    };
    let owners: Vec<Actor> = (0..2 * PER_CURRENCY).map(|_| actor(Role::User)).collect();
    let mut all: Vec<Account> = owners
        .iter()
        .enumerate()
        .map(|(i, owner)| account(Some(owner.user_id), i >= PER_CURRENCY, STARTING_MINOR))
        .collect();
    let system_total = -STARTING_MINOR * i64::try_from(PER_CURRENCY).unwrap();
    all.push(account(None, false, system_total));
    all.push(account(None, true, system_total));
    World {
        owners,
        manager: actor(Role::Manager),
        admin: actor(Role::Admin),
        accounts: all.iter().map(|account| account.id).collect(),
        ledger: Ledger::new(all),
    }
}

fn posting(from: AccountId, to: AccountId, money: Money) -> NewPosting {
    NewPosting {
        transfer_id: TransferId::new(),
        from,
        to,
        money,
        description: None,
    }
}

fn transaction(actor: Actor, postings: Vec<NewPosting>) -> Command {
    Command {
        actor: Some(actor),
        context: AuditContext::default(),
        action: Action::PostTransaction {
            id: TransactionId::new(),
            postings: Postings::new(postings).unwrap(),
            description: None,
            metadata: Metadata::default(),
        },
    }
}

fn apply_one(ledger: &mut Ledger, command: &Command) -> (CommandResult, Effects) {
    let (mut results, effects) = apply(ledger, std::slice::from_ref(command), Timestamp::now());
    (results.remove(0), effects)
}

fn refused_at(result: CommandResult, expected_index: u8) -> Refusal {
    match result {
        Err(Refusal::Posting { index, reason }) if index == expected_index => *reason,
        other => panic!("expected a refusal of posting {expected_index}: {other:?}"),
    }
}

fn balance(ledger: &Ledger, id: AccountId) -> i64 {
    ledger.account(id).unwrap().balance.minor()
}

fn sums(ledger: &Ledger) -> BTreeMap<Currency, i128> {
    let mut sums = BTreeMap::new();
    for account in ledger.accounts() {
        *sums.entry(account.currency).or_insert(0) += i128::from(account.balance.minor());
    }
    sums
}

#[test]
fn postings_hold_one_to_sixty_four() {
    let w = world();
    let one = || posting(w.accounts[0], w.accounts[1], money(1, false));
    assert_eq!(Postings::new(Vec::new()), Err(PostingsError::Empty));
    assert_eq!(MAX_POSTINGS, 64);
    let full: Vec<NewPosting> = (0..MAX_POSTINGS).map(|_| one()).collect();
    assert_eq!(Postings::new(full.clone()).unwrap().as_slice(), &full[..]);
    let over: Vec<NewPosting> = (0..=MAX_POSTINGS).map(|_| one()).collect();
    assert_eq!(Postings::new(over), Err(PostingsError::TooMany));
}

#[test]
fn each_posting_becomes_a_transfer_of_the_transaction_in_order() {
    let mut w = world();
    let (a, b, c) = (w.accounts[0], w.accounts[1], w.accounts[2]);
    let command = transaction(
        w.owners[0],
        vec![
            posting(a, b, money(300, false)),
            posting(a, c, money(20, false)),
        ],
    );
    let Action::PostTransaction { id, .. } = command.action else {
        unreachable!()
    };
    let (result, effects) = apply_one(&mut w.ledger, &command);
    let Ok(Outcome::Transaction(posted)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(posted.id, id);
    assert_eq!(posted.postings.len(), 2);
    for (index, transfer) in (0_u8..).zip(&posted.postings) {
        assert_eq!(transfer.kind, TransferKind::Transfer);
        assert_eq!(
            transfer.transaction,
            Some(TransactionLink {
                id,
                posting_index: index
            })
        );
    }
    assert_eq!(
        (
            posted.postings[1].to_account_id,
            posted.postings[1].amount.minor()
        ),
        (c, 20)
    );
    assert_eq!(effects.transfers, posted.postings);
    assert_eq!(effects.transactions, vec![posted.clone()]);
    let lines: Vec<i64> = effects.entries.iter().map(|e| e.amount.minor()).collect();
    assert_eq!(lines, [-300, 300, -20, 20]);
    let after: Vec<i64> = effects
        .entries
        .iter()
        .map(|e| e.balance_after.minor())
        .collect();
    assert_eq!(after, [700, 1_300, 680, 1_020]);
    assert_eq!(
        [a, b, c].map(|id| balance(&w.ledger, id)),
        [680, 1_300, 1_020]
    );
    assert_eq!(effects.changed.len(), 3);
    assert!(effects.opened.is_empty());

    // One event for the whole transaction, naming each posting.
    assert_eq!(effects.audit.len(), 1);
    let event = &effects.audit[0];
    assert_eq!(event.action, AuditAction::Transaction);
    assert_eq!(event.resource_type, ResourceType::Transaction);
    assert_eq!(event.resource_id, Some(id.to_string()));
    let listed = &event.new_value.as_ref().unwrap()["postings"];
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[1]["transfer_id"], posted.postings[1].id.to_string());
    assert_eq!(listed[1]["amount"], "0.20");
    assert_eq!(listed[0]["from_account_id"], a.to_string());
}

#[test]
fn a_later_posting_spends_what_an_earlier_one_brought() {
    let mut w = world();
    let (a, b, c) = (w.accounts[0], w.accounts[1], w.accounts[2]);
    // b starts with 1 000 and sends 1 500: only after a's 600 has arrived.
    let command = transaction(
        w.admin,
        vec![
            posting(a, b, money(600, false)),
            posting(b, c, money(1_500, false)),
        ],
    );
    assert!(apply_one(&mut w.ledger, &command).0.is_ok());
    assert_eq!(
        [a, b, c].map(|id| balance(&w.ledger, id)),
        [400, 100, 2_500]
    );

    // In the other order, b cannot cover it.
    let mut w = world();
    let (a, b, c) = (w.accounts[0], w.accounts[1], w.accounts[2]);
    let command = transaction(
        w.admin,
        vec![
            posting(b, c, money(1_500, false)),
            posting(a, b, money(600, false)),
        ],
    );
    let (result, _) = apply_one(&mut w.ledger, &command);
    assert_eq!(refused_at(result, 0), Refusal::InsufficientFunds);
}

#[test]
fn an_exchange_moves_two_currencies_through_the_operator_and_each_nets_to_zero() {
    let mut w = world();
    let (customer_eur, operator_eur) = (w.accounts[0], w.accounts[1]);
    let (customer_jpy, operator_jpy) = (w.accounts[3], w.accounts[4]);
    let command = transaction(
        w.admin,
        vec![
            posting(customer_eur, operator_eur, money(100, false)),
            posting(operator_jpy, customer_jpy, money(160, true)),
        ],
    );
    assert!(apply_one(&mut w.ledger, &command).0.is_ok());
    assert_eq!(balance(&w.ledger, customer_eur), 900);
    assert_eq!(balance(&w.ledger, customer_jpy), 1_160);
    assert!(sums(&w.ledger).values().all(|sum| *sum == 0));
}

#[test]
fn the_caller_must_own_every_source_and_a_refusal_names_the_posting() {
    let w = world();
    let (a, b, c) = (w.accounts[0], w.accounts[1], w.accounts[2]);
    let (jpy, system) = (w.accounts[3], w.accounts[6]);
    let missing = AccountId::new();
    let alice = w.owners[0];
    let eur = |from, to| posting(from, to, money(1, false));
    let cases = [
        // Another user's account is, to alice, absent.
        (
            alice,
            vec![eur(a, c), eur(b, c)],
            1,
            Refusal::AccountNotFound(b),
        ),
        // A manager sees it, but moves no one's money.
        (w.manager, vec![eur(b, c)], 0, Refusal::Forbidden),
        (
            alice,
            vec![eur(a, c), eur(a, c), eur(a, a)],
            2,
            Refusal::SameAccount,
        ),
        (
            alice,
            vec![eur(a, missing)],
            0,
            Refusal::AccountNotFound(missing),
        ),
        (
            w.admin,
            vec![eur(missing, a)],
            0,
            Refusal::AccountNotFound(missing),
        ),
        // A currency's system account is no customer's account.
        (
            w.admin,
            vec![eur(b, c), eur(system, a)],
            1,
            Refusal::AccountNotFound(system),
        ),
        (
            w.admin,
            vec![eur(b, system)],
            0,
            Refusal::AccountNotFound(system),
        ),
        (
            alice,
            vec![eur(a, c), eur(a, jpy)],
            1,
            Refusal::CurrencyMismatch,
        ),
    ];
    for (actor, postings, index, expected) in cases {
        let mut ledger = w.ledger.clone();
        let (result, effects) = apply_one(&mut ledger, &transaction(actor, postings));
        assert_eq!(refused_at(result, index), expected, "{actor:?}");
        assert_eq!(ledger, w.ledger);
        assert_eq!(effects, Effects::default());
    }
}

#[test]
fn an_admin_may_spend_from_any_customer_account() {
    let mut w = world();
    let command = transaction(
        w.admin,
        vec![posting(w.accounts[1], w.accounts[2], money(5, false))],
    );
    assert!(apply_one(&mut w.ledger, &command).0.is_ok());
    assert_eq!(balance(&w.ledger, w.accounts[1]), 995);
}

#[test]
fn a_frozen_account_refuses_its_posting() {
    let mut w = world();
    let frozen = w.accounts[2];
    let freeze = Command {
        actor: Some(w.admin),
        context: AuditContext::default(),
        action: Action::SetStatus {
            account_id: frozen,
            status: AccountStatus::Frozen,
        },
    };
    assert!(apply_one(&mut w.ledger, &freeze).0.is_ok());
    let before = w.ledger.clone();
    let command = transaction(
        w.owners[0],
        vec![
            posting(w.accounts[0], w.accounts[1], money(5, false)),
            posting(w.accounts[0], w.accounts[1], money(5, false)),
            posting(w.accounts[0], frozen, money(5, false)),
        ],
    );
    let (result, effects) = apply_one(&mut w.ledger, &command);
    assert_eq!(refused_at(result, 2), Refusal::AccountFrozen(frozen));
    assert_eq!(w.ledger, before);
    assert_eq!(effects, Effects::default());
}

#[test]
fn a_refused_transaction_leaves_the_batch_around_it_intact() {
    let mut w = world();
    let (a, b) = (w.accounts[0], w.accounts[1]);
    let commands = [
        transaction(w.owners[0], vec![posting(a, b, money(100, false))]),
        transaction(
            w.owners[0],
            vec![
                posting(a, b, money(100, false)),
                posting(a, b, money(5_000, false)),
            ],
        ),
        transaction(w.owners[0], vec![posting(a, b, money(50, false))]),
    ];
    let (results, effects) = apply(&mut w.ledger, &commands, Timestamp::now());
    assert!(results[0].is_ok() && results[2].is_ok());
    assert_eq!(
        refused_at(results[1].clone(), 1),
        Refusal::InsufficientFunds
    );
    assert_eq!([balance(&w.ledger, a), balance(&w.ledger, b)], [850, 1_150]);
    assert_eq!(effects.transactions.len(), 2);
    assert_eq!(effects.transfers.len(), 2);
    assert_eq!(effects.entries.len(), 4);
    assert_eq!(effects.audit.len(), 2);
    assert_eq!(effects.changed.len(), 2);
}

/// A random transaction: who asks, and its postings as account indexes, amounts and
/// currencies (a currency other than the accounts' is refused).
#[derive(Debug, Clone)]
struct Draft {
    actor: usize,
    postings: Vec<(usize, usize, i64, bool)>,
}

/// Customer accounts only: 0..6.
fn draft() -> impl Strategy<Value = Draft> {
    let customer = 0..2 * PER_CURRENCY;
    let leg = (
        customer.clone(),
        customer,
        prop_oneof![1_i64..=400, 1_i64..=2_500],
        prop::bool::weighted(0.1),
    );
    // Actor 0..6: that account's owner; 6: the admin; 7: the manager.
    (0_usize..8, prop::collection::vec(leg, 1..6))
        .prop_map(|(actor, postings)| Draft { actor, postings })
}

fn command_of(w: &World, draft: &Draft) -> Command {
    let actor = match draft.actor {
        6 => w.admin,
        7 => w.manager,
        owner => w.owners[owner],
    };
    let postings = draft
        .postings
        .iter()
        .map(|&(from, to, minor, other_currency)| {
            let jpy = (from >= PER_CURRENCY) != other_currency;
            posting(w.accounts[from], w.accounts[to], money(minor, jpy))
        })
        .collect();
    transaction(actor, postings)
}

fn postings_of(command: &Command) -> &[NewPosting] {
    match &command.action {
        Action::PostTransaction { postings, .. } => postings.as_slice(),
        _ => unreachable!(),
    }
}

/// `command` with only its postings `range`, under a fresh id.
fn part_of(command: &Command, range: std::ops::Range<usize>) -> Command {
    let postings = postings_of(command)[range].to_vec();
    transaction(command.actor.unwrap(), postings)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Atomicity and order: an accepted transaction does what its postings do one after
    /// another; a refused one names the first posting that, after those before it, is
    /// refused, and changes nothing at all.
    #[test]
    fn a_transaction_is_its_postings_in_order_or_nothing(
        drafts in prop::collection::vec(draft(), 1..12),
    ) {
        let mut w = world();
        for draft in &drafts {
            let command = command_of(&w, draft);
            let before = w.ledger.clone();
            let (result, effects) = apply_one(&mut w.ledger, &command);
            let postings = postings_of(&command);

            // The model: each posting alone, in order, on a copy.
            let mut model = before.clone();
            let mut first_refusal = None;
            for index in 0..postings.len() {
                let (alone, _) = apply_one(&mut model, &part_of(&command, index..index + 1));
                if let Err(refusal) = alone {
                    first_refusal = Some((index, refusal));
                    break;
                }
            }
            match (result, first_refusal) {
                (Ok(Outcome::Transaction(posted)), None) => {
                    prop_assert_eq!(&w.ledger.accounts().map(|a| (a.id, a.balance)).collect::<Vec<_>>(),
                                    &model.accounts().map(|a| (a.id, a.balance)).collect::<Vec<_>>());
                    prop_assert_eq!(posted.postings.len(), postings.len());
                    prop_assert_eq!(&effects.transfers, &posted.postings);
                    prop_assert_eq!(effects.entries.len(), 2 * postings.len());
                    for pair in effects.entries.chunks(2) {
                        prop_assert_eq!(pair[0].amount.minor() + pair[1].amount.minor(), 0);
                    }
                    prop_assert_eq!(effects.audit.len(), 1);
                    prop_assert_eq!(effects.transactions.len(), 1);
                }
                (Err(Refusal::Posting { index, reason }), Some((model_index, model_refusal))) => {
                    prop_assert_eq!(usize::from(index), model_index);
                    let Refusal::Posting { index: 0, reason: model_reason } = model_refusal else {
                        return Err(TestCaseError::fail(format!("{model_refusal:?}")));
                    };
                    prop_assert_eq!(reason, model_reason);
                    prop_assert_eq!(&w.ledger, &before);
                    prop_assert_eq!(effects, Effects::default());
                }
                (result, model) => {
                    return Err(TestCaseError::fail(format!("{result:?} but alone: {model:?}")));
                }
            }

            // Conservation and limits, whatever happened.
            prop_assert!(sums(&w.ledger).values().all(|sum| *sum == 0));
            for account in w.ledger.accounts().filter(|account| !account.is_system()) {
                prop_assert!(!account.balance.is_negative(), "{:?}", account);
                prop_assert!(!account.available().is_negative(), "{:?}", account);
            }
        }
    }

    /// Several transactions in one batch: the accepted ones alone, replayed, give the same
    /// ledger, so the refused ones changed nothing.
    #[test]
    fn refused_transactions_change_nothing_in_a_batch(
        drafts in prop::collection::vec(draft(), 1..12),
    ) {
        let mut w = world();
        let commands: Vec<Command> = drafts.iter().map(|draft| command_of(&w, draft)).collect();
        let before = w.ledger.clone();
        let now = Timestamp::now();
        let (results, effects) = apply(&mut w.ledger, &commands, now);
        let accepted: Vec<Command> = commands
            .iter()
            .zip(&results)
            .filter(|(_, result)| result.is_ok())
            .map(|(command, _)| command.clone())
            .collect();
        let mut replay = before;
        let (replayed, replay_effects) = apply(&mut replay, &accepted, now);
        prop_assert!(replayed.iter().all(Result::is_ok));
        prop_assert_eq!(&replay, &w.ledger);
        prop_assert_eq!(effects.transfers.len(), replay_effects.transfers.len());
        prop_assert_eq!(effects.transactions.len(), accepted.len());
        prop_assert_eq!(effects.audit.len(), accepted.len());
        prop_assert!(sums(&w.ledger).values().all(|sum| *sum == 0));
    }
}
