//! Holds under random sequences: the `Hold` type alone (its amount is always split exactly into
//! held, posted and released, and nothing moves once it is no longer held), and holds through
//! `ledger::apply` among transfers (every account's `held` is what its held holds still hold,
//! a hold's transfers add up to what it posted and never more, money is conserved).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::collections::BTreeMap;

use chrono::TimeDelta;
use coffre_domain::access::Actor;
use coffre_domain::audit::AuditContext;
use coffre_domain::hold::{Hold, HoldState, HoldTerms};
use coffre_domain::ids::{AccountId, HoldId, TransferId, UserId};
use coffre_domain::ledger::{
    Account, AccountStatus, Action, BalanceLimits, Command, Effects, Ledger, Outcome, apply,
};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Amount, Currency, Money, SignedMinor};
use coffre_domain::time::Timestamp;
use coffre_domain::user::Role;
use proptest::prelude::*;

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_datetime(chrono::DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap())
}

fn minor(amount: Option<Amount>) -> i64 {
    amount.map_or(0, |amount| amount.minor())
}

#[derive(Debug, Clone)]
enum Move {
    Post(Option<i64>),
    Settle(Option<i64>),
    Void,
    Expire,
}

fn a_move() -> impl Strategy<Value = Move> {
    let amount = prop::option::of(prop_oneof![1_i64..=300, 1_i64..=Amount::MAX_MINOR]);
    prop_oneof![
        6 => amount.clone().prop_map(Move::Post),
        1 => amount.prop_map(Move::Settle),
        1 => Just(Move::Void),
        1 => Just(Move::Expire),
    ]
}

proptest! {
    #[test]
    fn a_hold_splits_its_amount_exactly_and_moves_nothing_once_ended(
        total in 1_i64..=1_000,
        moves in prop::collection::vec(a_move(), 0..30),
    ) {
        let mut hold = Hold::new(HoldTerms {
            id: HoldId::new(),
            from_account_id: AccountId::new(),
            to_account_id: AccountId::new(),
            money: Money { amount: Amount::from_minor(total).unwrap(), currency: eur() },
            payment_id: None,
            metadata: Metadata::default(),
            expires_at: at(60),
            created_at: at(0),
        });
        let mut posted_sum = 0;
        for step in moves {
            let before = hold.clone();
            let amount = |minor: Option<i64>| minor.map(|minor| Amount::from_minor(minor).unwrap());
            let result = match step {
                Move::Post(asked) => hold.post(amount(asked), at(1)).map(|(moved, after)| (Some(moved), after)),
                Move::Settle(asked) => hold.settle(amount(asked), at(1)).map(|(moved, after)| (Some(moved), after)),
                Move::Void => hold.void(at(1)).map(|after| (None, after)),
                Move::Expire => hold.expire(at(1)).map(|after| (None, after)),
            };
            match result {
                Ok((moved, after)) => {
                    // Only a held hold moves, and a post never moves more than is held.
                    prop_assert_eq!(before.state(), HoldState::Held);
                    prop_assert!(minor(moved) <= minor(before.held()));
                    posted_sum += minor(moved);
                    hold = after;
                }
                Err(_) => prop_assert_eq!(&hold, &before),
            }
            prop_assert_eq!(minor(hold.held()) + minor(hold.posted()) + minor(hold.released()), total);
            prop_assert_eq!(minor(hold.posted()), posted_sum);
            prop_assert_eq!(hold.held().is_some(), hold.state() == HoldState::Held);
            prop_assert_eq!(hold.view().into_hold(), Ok(hold.clone()));
        }
    }
}

const CUSTOMERS: usize = 3;
const HOLD_SLOTS: usize = 4;

struct World {
    owners: Vec<Actor>,
    accounts: Vec<AccountId>,
    /// The holds created so far, by creation order.
    holds: Vec<HoldId>,
    ledger: Ledger,
}

/// Three EUR customer accounts of 1000.00 each, and the system account that funded them.
fn world() -> World {
    let account = |owner_id, balance| Account {
        id: AccountId::new(),
        owner_id,
        currency: eur(),
        name: None,
        balance: SignedMinor::new(balance),
        held: SignedMinor::ZERO,
        limits: BalanceLimits::DEFAULT,
        metadata: Metadata::default(),
        status: AccountStatus::Active,
        created_at: at(0),
        updated_at: at(0),
    };
    let owners: Vec<Actor> = (0..CUSTOMERS)
        .map(|_| Actor {
            user_id: UserId::new(),
            role: Role::User,
        })
        .collect();
    let mut all: Vec<Account> = owners
        .iter()
        .map(|owner| account(Some(owner.user_id), 100_000))
        .collect();
    let accounts = all.iter().map(|account| account.id).collect();
    all.push(account(None, -300_000));
    World {
        owners,
        accounts,
        holds: Vec::new(),
        ledger: Ledger::new(all),
    }
}

#[derive(Debug, Clone)]
enum Step {
    Create {
        from: usize,
        to: usize,
        minor: i64,
        ttl_secs: i64,
    },
    Post {
        hold: usize,
        by_receiver: bool,
        minor: Option<i64>,
    },
    Void {
        hold: usize,
    },
    Expire {
        hold: usize,
    },
    Transfer {
        from: usize,
        to: usize,
        minor: i64,
    },
    /// Time passes: some holds may come due.
    Wait {
        secs: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    let index = 0..CUSTOMERS;
    let slot = 0..HOLD_SLOTS;
    let minor = prop_oneof![1_i64..=40_000, 1_i64..=Amount::MAX_MINOR];
    prop_oneof![
        3 => (index.clone(), index.clone(), minor.clone(), 1_i64..=100)
            .prop_map(|(from, to, minor, ttl_secs)| Step::Create { from, to, minor, ttl_secs }),
        4 => (slot.clone(), any::<bool>(), prop::option::of(minor.clone()))
            .prop_map(|(hold, by_receiver, minor)| Step::Post { hold, by_receiver, minor }),
        1 => slot.clone().prop_map(|hold| Step::Void { hold }),
        1 => slot.prop_map(|hold| Step::Expire { hold }),
        2 => (index.clone(), index, minor)
            .prop_map(|(from, to, minor)| Step::Transfer { from, to, minor }),
        1 => (1_i64..=60).prop_map(|secs| Step::Wait { secs }),
    ]
}

/// The command `step` stands for, or `None` for a wait (or a hold not created yet).
fn command(world: &World, step: &Step) -> Option<Command> {
    let money = |minor| Money {
        amount: Amount::from_minor(minor).unwrap(),
        currency: eur(),
    };
    let hold = |slot: usize| world.holds.get(slot).copied();
    let (actor, action) = match *step {
        Step::Create {
            from,
            to,
            minor,
            ttl_secs,
        } => (
            Some(world.owners[from]),
            Action::CreateHold {
                id: HoldId::new(),
                from: world.accounts[from],
                to: world.accounts[to],
                money: money(minor),
                ttl: TimeDelta::seconds(ttl_secs),
                metadata: Metadata::default(),
            },
        ),
        Step::Post {
            hold: slot,
            by_receiver,
            minor,
        } => {
            let hold_id = hold(slot)?;
            let terms = world.ledger.hold(hold_id)?.terms();
            let party = if by_receiver {
                terms.to_account_id
            } else {
                terms.from_account_id
            };
            let owner = world.accounts.iter().position(|id| *id == party)?;
            (
                Some(world.owners[owner]),
                Action::PostHold {
                    hold_id,
                    transfer_id: TransferId::new(),
                    amount: minor.map(|minor| Amount::from_minor(minor).unwrap()),
                },
            )
        }
        Step::Void { hold: slot } => {
            let hold_id = hold(slot)?;
            let from = world.ledger.hold(hold_id)?.terms().from_account_id;
            let owner = world.accounts.iter().position(|id| *id == from)?;
            (Some(world.owners[owner]), Action::VoidHold { hold_id })
        }
        Step::Expire { hold: slot } => (
            None,
            Action::ExpireHold {
                hold_id: hold(slot)?,
                payment_id: None,
            },
        ),
        Step::Transfer { from, to, minor } => (
            Some(world.owners[from]),
            Action::Transfer {
                id: TransferId::new(),
                from: world.accounts[from],
                to: world.accounts[to],
                money: money(minor),
                description: None,
                metadata: Metadata::default(),
            },
        ),
        Step::Wait { .. } => return None,
    };
    Some(Command {
        actor,
        context: AuditContext::default(),
        action,
    })
}

/// What the ledger's holds still hold, per source account.
fn held_by_holds(world: &World) -> BTreeMap<AccountId, i64> {
    let mut held = BTreeMap::new();
    for id in &world.holds {
        let hold = world.ledger.hold(*id).unwrap();
        *held.entry(hold.terms().from_account_id).or_insert(0) += minor(hold.held());
    }
    held
}

proptest! {
    #[test]
    fn holds_among_transfers_keep_every_account_and_every_hold_exact(
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let mut world = world();
        let mut now = 0;
        // What each hold's transfers have moved, from the effects.
        let mut moved: BTreeMap<HoldId, i64> = BTreeMap::new();
        for step in &steps {
            if let Step::Wait { secs } = step {
                now += secs;
                continue;
            }
            let Some(command) = command(&world, step) else { continue };
            let before = world.ledger.clone();
            let (results, effects) = apply(&mut world.ledger, std::slice::from_ref(&command), at(now));
            let result = &results[0];
            if let Ok(Outcome::Hold(view)) = result
                && matches!(command.action, Action::CreateHold { .. })
            {
                world.holds.push(view.id);
            }
            // A refused command changes nothing but the expiry it found due.
            if result.is_err() && effects.holds_changed.is_empty() {
                prop_assert_eq!(&world.ledger, &before);
                prop_assert_eq!(&effects, &Effects::default());
            }
            for transfer in &effects.transfers {
                if let Some(hold_id) = transfer.hold_id {
                    *moved.entry(hold_id).or_insert(0) += transfer.amount.minor();
                }
            }
            let held = held_by_holds(&world);
            let mut sum = 0;
            for account in world.ledger.accounts() {
                sum += account.balance.minor();
                if !account.is_system() {
                    prop_assert_eq!(account.held.minor(), held.get(&account.id).copied().unwrap_or(0));
                    prop_assert!(account.held.minor() <= account.balance.minor());
                }
            }
            prop_assert_eq!(sum, 0);
            for id in &world.holds {
                let hold = world.ledger.hold(*id).unwrap();
                let total = hold.terms().money.amount.minor();
                prop_assert_eq!(minor(hold.held()) + minor(hold.posted()) + minor(hold.released()), total);
                // Never posted twice: the transfers of a hold are exactly what it posted.
                prop_assert_eq!(moved.get(id).copied().unwrap_or(0), minor(hold.posted()));
            }
            // Whatever touches a due hold expires it first.
            if let Some(hold_id) = command.action.hold() {
                prop_assert!(!world.ledger.hold(hold_id).unwrap().is_due(at(now)));
            }
        }
    }
}
