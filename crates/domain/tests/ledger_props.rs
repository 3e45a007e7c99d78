//! Random command sequences against `ledger::apply`: money is conserved per currency, no
//! customer account goes negative, every transfer's lines sum to zero, and a refused command
//! changes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::BTreeMap;

use coffre_domain::access::Actor;
use coffre_domain::audit::AuditContext;
use coffre_domain::ids::{AccountId, TransferId, UserId};
use coffre_domain::ledger::{
    Account, AccountStatus, Action, BalanceLimits, Command, Ledger, Outcome, apply,
};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Amount, Currency, Money, SignedMinor};
use coffre_domain::time::Timestamp;
use coffre_domain::user::Role;
use proptest::prelude::*;

const CUSTOMERS: usize = 4;

struct World {
    owners: Vec<Actor>,
    admin: Actor,
    accounts: Vec<AccountId>,
    ledger: Ledger,
}

/// Four customer accounts (two EUR, two JPY), each owned by its own user, and both system
/// accounts.
fn world() -> World {
    let currencies = [
        Currency::parse("EUR").unwrap(),
        Currency::parse("EUR").unwrap(),
        Currency::parse("JPY").unwrap(),
        Currency::parse("JPY").unwrap(),
    ];
    let now = Timestamp::now();
    let account = |owner_id, currency| Account {
        id: AccountId::new(),
        owner_id,
        currency,
        name: None,
        balance: SignedMinor::ZERO,
        held: SignedMinor::ZERO,
        status: AccountStatus::Active,
        limits: BalanceLimits::DEFAULT,
        metadata: Metadata::default(),
        created_at: now,
        updated_at: now,
    };
    let owners: Vec<Actor> = (0..CUSTOMERS)
        .map(|_| Actor {
            user_id: UserId::new(),
            role: Role::User,
        })
        .collect();
    let mut all: Vec<Account> = owners
        .iter()
        .zip(currencies)
        .map(|(owner, currency)| account(Some(owner.user_id), currency))
        .collect();
    let accounts = all.iter().map(|account| account.id).collect();
    all.push(account(None, currencies[0]));
    all.push(account(None, currencies[2]));
    World {
        owners,
        admin: Actor {
            user_id: UserId::new(),
            role: Role::Admin,
        },
        accounts,
        ledger: Ledger::new(all),
    }
}

#[derive(Debug, Clone)]
enum Step {
    Transfer {
        from: usize,
        to: usize,
        minor: i64,
        jpy: bool,
    },
    Deposit {
        to: usize,
        minor: i64,
        jpy: bool,
    },
    Withdrawal {
        from: usize,
        minor: i64,
        jpy: bool,
    },
    Freeze {
        account: usize,
        frozen: bool,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let index = 0..CUSTOMERS;
    let minor = prop_oneof![1_i64..=500, 1_i64..=Amount::MAX_MINOR];
    prop_oneof![
        4 => (index.clone(), index.clone(), minor.clone(), any::<bool>())
            .prop_map(|(from, to, minor, jpy)| Step::Transfer { from, to, minor, jpy }),
        2 => (index.clone(), minor.clone(), any::<bool>())
            .prop_map(|(to, minor, jpy)| Step::Deposit { to, minor, jpy }),
        2 => (index.clone(), minor, any::<bool>())
            .prop_map(|(from, minor, jpy)| Step::Withdrawal { from, minor, jpy }),
        1 => (index, any::<bool>()).prop_map(|(account, frozen)| Step::Freeze { account, frozen }),
    ]
}

fn command(world: &World, step: &Step) -> Command {
    let money = |minor, jpy: bool| Money {
        amount: Amount::from_minor(minor).unwrap(),
        currency: Currency::parse(if jpy { "JPY" } else { "EUR" }).unwrap(),
    };
    let (actor, action) = match *step {
        Step::Transfer {
            from,
            to,
            minor,
            jpy,
        } => (
            world.owners[from],
            Action::Transfer {
                id: TransferId::new(),
                from: world.accounts[from],
                to: world.accounts[to],
                money: money(minor, jpy),
                description: None,
                metadata: Metadata::default(),
            },
        ),
        Step::Deposit { to, minor, jpy } => (
            world.admin,
            Action::Deposit {
                id: TransferId::new(),
                account_id: world.accounts[to],
                money: money(minor, jpy),
                description: None,
                metadata: Metadata::default(),
            },
        ),
        Step::Withdrawal { from, minor, jpy } => (
            world.owners[from],
            Action::Withdrawal {
                id: TransferId::new(),
                account_id: world.accounts[from],
                money: money(minor, jpy),
                description: None,
                metadata: Metadata::default(),
            },
        ),
        Step::Freeze { account, frozen } => (
            world.admin,
            Action::SetStatus {
                account_id: world.accounts[account],
                status: if frozen {
                    AccountStatus::Frozen
                } else {
                    AccountStatus::Active
                },
            },
        ),
    };
    Command {
        actor: Some(actor),
        context: AuditContext::default(),
        action,
    }
}

fn sums(ledger: &Ledger) -> BTreeMap<Currency, i128> {
    let mut sums = BTreeMap::new();
    for account in ledger.accounts() {
        *sums.entry(account.currency).or_insert(0) += i128::from(account.balance.minor());
    }
    sums
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_sequences_conserve_money(
        steps in prop::collection::vec(step(), 1..60),
        batch in 1_usize..8,
    ) {
        let mut world = world();
        let commands: Vec<Command> = steps.iter().map(|step| command(&world, step)).collect();
        for chunk in commands.chunks(batch) {
            let before = world.ledger.clone();
            let (results, effects) = apply(&mut world.ledger, chunk, Timestamp::now());
            prop_assert_eq!(results.len(), chunk.len());

            // Replaying the accepted commands alone yields the same ledger: a refusal
            // changed nothing.
            let accepted: Vec<Command> = chunk
                .iter()
                .zip(&results)
                .filter(|(_, result)| result.is_ok())
                .map(|(command, _)| command.clone())
                .collect();
            let mut replay = before.clone();
            let (replayed, _) = apply(&mut replay, &accepted, Timestamp::now());
            prop_assert!(replayed.iter().all(Result::is_ok));
            let balances = |ledger: &Ledger| -> Vec<(AccountId, i64, AccountStatus)> {
                ledger.accounts().map(|a| (a.id, a.balance.minor(), a.status)).collect()
            };
            prop_assert_eq!(balances(&replay), balances(&world.ledger));

            let transfers = results
                .iter()
                .filter(|result| matches!(result, Ok(Outcome::Transfer(_))))
                .count();
            prop_assert_eq!(effects.transfers.len(), transfers);
            prop_assert_eq!(effects.entries.len(), 2 * transfers);
            for pair in effects.entries.chunks(2) {
                prop_assert_eq!(pair[0].transfer_id, pair[1].transfer_id);
                prop_assert_eq!(pair[0].amount.minor() + pair[1].amount.minor(), 0);
            }
            // The last line of each account carries its final balance.
            for entry in effects.entries.iter().rev() {
                let last = effects
                    .entries
                    .iter()
                    .rev()
                    .find(|e| e.account_id == entry.account_id)
                    .unwrap();
                prop_assert_eq!(
                    last.balance_after,
                    world.ledger.account(entry.account_id).unwrap().balance
                );
            }
            for account in world.ledger.accounts() {
                if !account.is_system() {
                    prop_assert!(!account.balance.is_negative(), "{account:?}");
                    prop_assert!(!account.available().is_negative(), "{account:?}");
                }
            }
            prop_assert!(sums(&world.ledger).values().all(|sum| *sum == 0));
        }
    }
}

mod payments {
    use super::*;
    use chrono::TimeDelta;
    use coffre_domain::ids::{HoldId, PaymentId};
    use coffre_domain::ledger::Refusal;
    use coffre_domain::payment::{AuthorizationCode, FailureReason, PaymentState};

    #[derive(Debug, Clone)]
    enum Move {
        Create { payer: usize, minor: i64 },
        Authorize(usize),
        Capture(usize, Option<i64>),
        Cancel(usize),
        Fail(usize),
        Refund(usize, Option<i64>),
        Spend { from: usize, minor: i64 },
        Wait(i64),
    }

    fn a_move() -> impl Strategy<Value = Move> {
        let index = 0_usize..6;
        let minor = 1_i64..=700;
        prop_oneof![
            3 => (0_usize..2, minor.clone()).prop_map(|(payer, minor)| Move::Create { payer, minor }),
            3 => index.clone().prop_map(Move::Authorize),
            3 => (index.clone(), prop::option::of(minor.clone())).prop_map(|(p, m)| Move::Capture(p, m)),
            1 => index.clone().prop_map(Move::Cancel),
            1 => index.clone().prop_map(Move::Fail),
            2 => (index, prop::option::of(minor.clone())).prop_map(|(p, m)| Move::Refund(p, m)),
            2 => (0_usize..2, minor).prop_map(|(from, minor)| Move::Spend { from, minor }),
            1 => (1_i64..90).prop_map(Move::Wait),
        ]
    }

    /// The arrows of API.md, plus staying put.
    fn allowed(from: PaymentState, to: PaymentState) -> bool {
        use PaymentState::*;
        from == to
            || matches!(
                (from, to),
                (Pending, Authorized | Failed | Canceled)
                    | (Authorized, Captured | Canceled)
                    | (Captured, Refunded)
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_payment_sequences_stay_on_the_arrows_and_conserve_money(
            moves in prop::collection::vec(a_move(), 1..50),
        ) {
            let eur = Currency::parse("EUR").unwrap();
            let start = Timestamp::now();
            let users: Vec<Actor> = (0..2)
                .map(|_| Actor { user_id: UserId::new(), role: Role::User })
                .collect();
            let admin = Actor { user_id: UserId::new(), role: Role::Admin };
            let account = |owner_id, balance| Account {
                id: AccountId::new(),
                owner_id,
                currency: eur,
                name: None,
                balance: SignedMinor::new(balance),
                held: SignedMinor::ZERO,
                status: AccountStatus::Active,
                limits: BalanceLimits::DEFAULT,
                metadata: Metadata::default(),
                created_at: start,
                updated_at: start,
            };
            let accounts = [
                account(Some(users[0].user_id), 1_000),
                account(Some(users[1].user_id), 1_000),
            ];
            let ids = [accounts[0].id, accounts[1].id];
            let mut all = accounts.to_vec();
            all.push(account(None, -2_000));
            let mut ledger = Ledger::new(all);
            let mut payments: Vec<(PaymentId, usize)> = Vec::new();
            let mut now = start;

            for step in &moves {
                let pick = |n: usize| payments.get(n % payments.len().max(1)).copied();
                let amount = |minor: i64| Amount::from_minor(minor).unwrap();
                let (actor, action) = match *step {
                    Move::Create { payer, minor } => {
                        let id = PaymentId::new();
                        payments.push((id, payer));
                        (users[payer], Action::CreatePayment {
                            id,
                            payer: ids[payer],
                            payee: ids[1 - payer],
                            money: Money { amount: amount(minor), currency: eur },
                            metadata: Metadata::default(),
                        })
                    }
                    Move::Authorize(n) => match pick(n) {
                        Some((payment_id, payer)) => (users[payer], Action::Authorize {
                            payment_id,
                            hold_id: HoldId::new(),
                            code: AuthorizationCode::new("C".into()),
                            ttl: TimeDelta::seconds(60),
                        }),
                        None => continue,
                    },
                    Move::Capture(n, minor) => match pick(n) {
                        Some((payment_id, payer)) => (users[1 - payer], Action::Capture {
                            payment_id,
                            transfer_id: TransferId::new(),
                            amount: minor.map(amount),
                        }),
                        None => continue,
                    },
                    Move::Cancel(n) => match pick(n) {
                        Some((payment_id, payer)) => (users[payer], Action::CancelPayment { payment_id }),
                        None => continue,
                    },
                    Move::Fail(n) => match pick(n) {
                        Some((payment_id, _)) => (admin, Action::FailPayment {
                            payment_id,
                            reason: FailureReason::parse("declined".into()).unwrap(),
                        }),
                        None => continue,
                    },
                    Move::Refund(n, minor) => match pick(n) {
                        Some((payment_id, payer)) => (users[1 - payer], Action::Refund {
                            payment_id,
                            transfer_id: TransferId::new(),
                            amount: minor.map(amount),
                        }),
                        None => continue,
                    },
                    Move::Spend { from, minor } => (users[from], Action::Transfer {
                        id: TransferId::new(),
                        from: ids[from],
                        to: ids[1 - from],
                        money: Money { amount: amount(minor), currency: eur },
                        description: None,
                        metadata: Metadata::default(),
                    }),
                    Move::Wait(seconds) => {
                        now = Timestamp::from_datetime(now.as_datetime() + TimeDelta::seconds(seconds));
                        continue;
                    }
                };
                let before = ledger.clone();
                let command = Command { actor: Some(actor), context: AuditContext::default(), action };
                let (results, _) = apply(&mut ledger, &[command], now);
                let refused = matches!(results[0], Err(Refusal::InvalidState { .. })
                    | Err(Refusal::AmountExceedsAuthorized)
                    | Err(Refusal::AmountExceedsRefundable));
                if refused {
                    // Only a due expiry may have happened on the way.
                    for (id, _) in &payments {
                        if let (Some(old), Some(new)) = (before.payment(*id), ledger.payment(*id)) {
                            prop_assert!(old == new || new.view().failure_reason.as_deref() == Some("expired"));
                        }
                    }
                }
                for (id, _) in &payments {
                    if let (Some(old), Some(new)) = (before.payment(*id), ledger.payment(*id)) {
                        prop_assert!(allowed(old.state(), new.state()), "{:?} -> {:?}", old.state(), new.state());
                        let view = new.view();
                        prop_assert!(view.refunded_minor <= view.captured_minor);
                        prop_assert!(view.captured_minor <= view.authorized_minor);
                    }
                }
                // Holds are exactly the authorized payments of each payer.
                for (index, id) in ids.iter().enumerate() {
                    let held: i64 = payments
                        .iter()
                        .filter(|(_, payer)| *payer == index)
                        .filter_map(|(payment, _)| ledger.payment(*payment))
                        .filter(|payment| payment.state() == PaymentState::Authorized)
                        .map(|payment| payment.terms().money.amount.minor())
                        .sum();
                    let account = ledger.account(*id).unwrap();
                    prop_assert_eq!(account.held.minor(), held);
                    // And each authorized payment's hold holds all of it, and no other does.
                    let by_holds: i64 = payments
                        .iter()
                        .filter(|(_, payer)| *payer == index)
                        .filter_map(|(payment, _)| ledger.hold_of_payment(*payment))
                        .filter_map(|hold| hold.held())
                        .map(|held| held.minor())
                        .sum();
                    prop_assert_eq!(by_holds, held);
                    prop_assert!(!account.balance.is_negative());
                    prop_assert!(!account.available().is_negative());
                }
                prop_assert!(sums(&ledger).values().all(|sum| *sum == 0));
            }
        }
    }
}
