//! Random limits, movements, holds and limit changes against `ledger::apply`: every customer
//! account stays within `[-overdraft_limit, max_balance]` (its available balance counted with
//! its holds), each movement is refused exactly when it would cross a limit, and a limit change
//! the account already breaks is refused.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use chrono::TimeDelta;
use coffre_domain::access::Actor;
use coffre_domain::audit::AuditContext;
use coffre_domain::ids::{AccountId, HoldId, PaymentId, TransferId, UserId};
use coffre_domain::ledger::{
    Account, AccountStatus, Action, BalanceLimits, Command, CommandResult, Ledger, LimitAmount,
    LimitsChange, Outcome, Refusal, apply,
};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Amount, Currency, Money, SignedMinor};
use coffre_domain::payment::{AuthorizationCode, PaymentState};
use coffre_domain::time::Timestamp;
use coffre_domain::user::Role;
use proptest::prelude::*;

const CUSTOMERS: usize = 3;

#[derive(Debug, Clone)]
enum Step {
    Transfer {
        from: usize,
        to: usize,
        minor: i64,
    },
    Deposit {
        to: usize,
        minor: i64,
    },
    Withdrawal {
        from: usize,
        minor: i64,
    },
    /// A payment from `payer` to the next account, authorized at once.
    Hold {
        payer: usize,
        minor: i64,
    },
    Capture(usize),
    Cancel(usize),
    Limits {
        account: usize,
        change: LimitsChange,
    },
}

fn limit() -> impl Strategy<Value = LimitAmount> {
    (0_i64..=1_500).prop_map(|minor| LimitAmount::from_minor(minor).unwrap())
}

fn limits() -> impl Strategy<Value = BalanceLimits> {
    (limit(), prop::option::of(limit())).prop_map(|(overdraft_limit, max_balance)| BalanceLimits {
        overdraft_limit,
        max_balance,
    })
}

fn step() -> impl Strategy<Value = Step> {
    let index = 0..CUSTOMERS;
    let minor = 1_i64..=800;
    let change = (
        prop::option::of(limit()),
        prop::option::of(prop::option::of(limit())),
    )
        .prop_map(|(overdraft_limit, max_balance)| LimitsChange {
            overdraft_limit,
            max_balance,
        });
    prop_oneof![
        4 => (index.clone(), index.clone(), minor.clone())
            .prop_map(|(from, to, minor)| Step::Transfer { from, to, minor }),
        2 => (index.clone(), minor.clone()).prop_map(|(to, minor)| Step::Deposit { to, minor }),
        2 => (index.clone(), minor.clone())
            .prop_map(|(from, minor)| Step::Withdrawal { from, minor }),
        2 => (index.clone(), minor).prop_map(|(payer, minor)| Step::Hold { payer, minor }),
        1 => (0_usize..8).prop_map(Step::Capture),
        1 => (0_usize..8).prop_map(Step::Cancel),
        1 => (index, change).prop_map(|(account, change)| Step::Limits { account, change }),
    ]
}

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn money(minor: i64) -> Money {
    Money {
        amount: Amount::from_minor(minor).unwrap(),
        currency: eur(),
    }
}

/// What the limits say of `account` standing at `balance` with `held`: the model the ledger's
/// answers are compared with.
fn expected(account: &Account, balance: i64, held: i64) -> Result<(), Refusal> {
    if balance - held < -account.limits.overdraft_limit.minor() {
        return Err(Refusal::InsufficientFunds);
    }
    match account.limits.max_balance {
        Some(max) if balance > max.minor() => Err(Refusal::BalanceLimitExceeded(account.id)),
        _ => Ok(()),
    }
}

fn within_limits(account: &Account) -> bool {
    let floor = -account.limits.overdraft_limit.minor();
    account.available().minor() >= floor
        && account.balance.minor() >= floor
        && account
            .limits
            .max_balance
            .is_none_or(|max| account.balance.minor() <= max.minor())
}

/// The outcome a transfer from `from` to `to` of `minor` must have, by the model.
fn transfer_outcome(from: &Account, to: &Account, minor: i64) -> Result<(), Refusal> {
    expected(from, from.balance.minor() - minor, from.held.minor())?;
    expected(to, to.balance.minor() + minor, to.held.minor())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn limits_are_never_crossed(
        start in prop::collection::vec(limits(), CUSTOMERS),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let now = Timestamp::now();
        let owners: Vec<Actor> = (0..CUSTOMERS)
            .map(|_| Actor { user_id: UserId::new(), role: Role::User })
            .collect();
        let admin = Actor { user_id: UserId::new(), role: Role::Admin };
        let account = |owner_id: Option<UserId>, limits| Account {
            id: AccountId::new(),
            owner_id,
            currency: eur(),
            name: None,
            balance: SignedMinor::ZERO,
            held: SignedMinor::ZERO,
            status: AccountStatus::Active,
            limits,
            metadata: Metadata::default(),
            created_at: now,
            updated_at: now,
        };
        let mut all: Vec<Account> = owners
            .iter()
            .zip(&start)
            .map(|(owner, limits)| account(Some(owner.user_id), *limits))
            .collect();
        let ids: Vec<AccountId> = all.iter().map(|account| account.id).collect();
        all.push(account(None, BalanceLimits::DEFAULT));
        let mut ledger = Ledger::new(all);
        let mut payments: Vec<(PaymentId, usize)> = Vec::new();

        for step in &steps {
            let before = ledger.clone();
            let of = |index: usize| before.account(ids[index]).unwrap().clone();
            let pick = |n: usize| payments.get(n % payments.len().max(1)).copied();
            let mut run = |actor: Actor, action: Action| -> CommandResult {
                let command = Command { actor: Some(actor), context: AuditContext::default(), action };
                let (mut results, _) = apply(&mut ledger, &[command], now);
                results.remove(0)
            };
            match *step {
                Step::Transfer { from, to, minor } => {
                    let result = run(owners[from], Action::Transfer {
                        id: TransferId::new(),
                        from: ids[from],
                        to: ids[to],
                        money: money(minor),
                        description: None,
                        metadata: Metadata::default(),
                    });
                    if from == to {
                        prop_assert_eq!(result.err(), Some(Refusal::SameAccount));
                    } else {
                        let model = transfer_outcome(&of(from), &of(to), minor);
                        prop_assert_eq!(result.map(drop), model);
                    }
                }
                Step::Deposit { to, minor } => {
                    let result = run(admin, Action::Deposit {
                        id: TransferId::new(),
                        account_id: ids[to],
                        money: money(minor),
                        description: None,
                        metadata: Metadata::default(),
                    });
                    let target = of(to);
                    let model = expected(&target, target.balance.minor() + minor, target.held.minor());
                    prop_assert_eq!(result.map(drop), model);
                }
                Step::Withdrawal { from, minor } => {
                    let result = run(owners[from], Action::Withdrawal {
                        id: TransferId::new(),
                        account_id: ids[from],
                        money: money(minor),
                        description: None,
                        metadata: Metadata::default(),
                    });
                    let source = of(from);
                    let model = expected(&source, source.balance.minor() - minor, source.held.minor());
                    prop_assert_eq!(result.map(drop), model);
                }
                Step::Hold { payer, minor } => {
                    let payee = (payer + 1) % CUSTOMERS;
                    let id = PaymentId::new();
                    run(owners[payer], Action::CreatePayment {
                        id,
                        payer: ids[payer],
                        payee: ids[payee],
                        money: money(minor),
                        metadata: Metadata::default(),
                    }).unwrap();
                    payments.push((id, payer));
                    let result = run(owners[payer], Action::Authorize {
                        payment_id: id,
                        hold_id: HoldId::new(),
                        code: AuthorizationCode::new("C".into()),
                        ttl: TimeDelta::hours(1),
                    });
                    let source = of(payer);
                    let covered = expected(&source, source.balance.minor(), source.held.minor() + minor).is_ok();
                    let state = ledger.payment(id).unwrap().state();
                    if covered {
                        prop_assert!(matches!(result, Ok(Outcome::Payment(_))), "{result:?}");
                        prop_assert_eq!(state, PaymentState::Authorized);
                    } else {
                        prop_assert!(matches!(result, Ok(Outcome::AuthorizationDeclined(_))), "{result:?}");
                        prop_assert_eq!(state, PaymentState::Failed);
                    }
                }
                Step::Capture(n) => {
                    if let Some((payment_id, payer)) = pick(n) {
                        let authorized = before.payment(payment_id).unwrap().state() == PaymentState::Authorized;
                        let result = run(owners[(payer + 1) % CUSTOMERS], Action::Capture {
                            payment_id,
                            transfer_id: TransferId::new(),
                            amount: None,
                        });
                        if authorized {
                            // The payer's money was held, so only the payee's ceiling can refuse.
                            let payee = of((payer + 1) % CUSTOMERS);
                            let amount = before.payment(payment_id).unwrap().terms().money.amount.minor();
                            let model = expected(&payee, payee.balance.minor() + amount, payee.held.minor());
                            prop_assert_eq!(result.map(drop), model);
                        }
                    }
                }
                Step::Cancel(n) => {
                    if let Some((payment_id, payer)) = pick(n) {
                        // Releasing a hold can only bring the account further within its limits.
                        let _ = run(owners[payer], Action::CancelPayment { payment_id });
                    }
                }
                Step::Limits { account, change } => {
                    let target = of(account);
                    let result = run(admin, Action::UpdateAccount { account_id: ids[account], limits: change, metadata: None });
                    let wanted = BalanceLimits {
                        overdraft_limit: change.overdraft_limit.unwrap_or(target.limits.overdraft_limit),
                        max_balance: change.max_balance.unwrap_or(target.limits.max_balance),
                    };
                    let breaks = expected(
                        &Account { limits: wanted, ..target.clone() },
                        target.balance.minor(),
                        target.held.minor(),
                    ).is_err();
                    let after = ledger.account(ids[account]).unwrap();
                    if breaks {
                        prop_assert_eq!(result.err(), Some(Refusal::LimitsBreached(ids[account])));
                        prop_assert_eq!(after.limits, target.limits);
                    } else {
                        prop_assert!(result.is_ok(), "{result:?}");
                        prop_assert_eq!(after.limits, wanted);
                    }
                }
            }
            let mut sum = 0_i64;
            for account in ledger.accounts() {
                sum += account.balance.minor();
                if !account.is_system() {
                    prop_assert!(within_limits(account), "{account:?}");
                }
            }
            prop_assert_eq!(sum, 0);
        }
    }
}
