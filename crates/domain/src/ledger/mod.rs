//! The ledger state machine: `apply` decides a batch of commands against the accounts a
//! backend has loaded and locked, one command after another, and returns each command's
//! outcome or typed refusal together with the effects to persist. A refused command changes
//! nothing: each command checks everything before it changes anything. Every accepted
//! movement writes two lines that sum to zero.
//!
//! Nothing here does I/O: the backend loads, calls [`apply`], and writes what it returns.
//!
//! - `model`: accounts, transfers, lines, the ledger, outcomes, refusals, effects;
//! - `actions`: the commands a backend passes in;
//! - `accounts`, `limits`, `movement`, `payments`, `holds`, `transactions`: what each action
//!   does, one method each;
//! - `events`: the audit events those record;
//! - `verification`: `ledger/verify`'s invariants.

mod accounts;
mod actions;
pub(crate) mod events;
mod holds;
mod limits;
mod model;
mod movement;
mod payments;
mod transactions;
mod verification;

#[cfg(test)]
mod tests;

pub use actions::{Action, Command};
use holds::NewHold;
pub use limits::{BalanceLimits, LimitAmount, LimitsChange};
pub use model::{
    Account, AccountStatus, CommandResult, Effects, Entry, Ledger, MAX_BALANCE_MINOR, Outcome,
    Refusal, TransactionLink, Transfer, TransferKind,
};
pub use transactions::{MAX_POSTINGS, NewPosting, Postings, PostingsError, Transaction};
pub use verification::{AccountCheck, CurrencySum, LedgerCheck, LedgerReport, verify};

use crate::access::Actor;

use crate::audit::AuditContext;
use crate::time::Timestamp;

/// Applies `commands` in order to `ledger` at `now`. The ledger ends holding every account's
/// state after the batch; the effects say which accounts to write and what else to insert.
pub fn apply(
    ledger: &mut Ledger,
    commands: &[Command],
    now: Timestamp,
) -> (Vec<CommandResult>, Effects) {
    let mut effects = Effects::default();
    let results = commands
        .iter()
        .map(|command| apply_one(ledger, command, now, &mut effects))
        .collect();
    (results, effects)
}

fn apply_one(
    ledger: &mut Ledger,
    command: &Command,
    now: Timestamp,
    effects: &mut Effects,
) -> CommandResult {
    let mut step = Step {
        ledger,
        effects,
        actor: command.actor.as_ref(),
        context: &command.context,
        now,
    };
    let hold = command.action.hold().or_else(|| {
        let payment = command.action.payment()?;
        step.ledger
            .hold_of_payment(payment)
            .map(|hold| hold.terms().id)
    });
    if let Some(hold_id) = hold {
        step.expire_hold_if_due(hold_id)?;
    }
    match &command.action {
        Action::OpenAccount {
            id,
            owner_id,
            currency,
            name,
            metadata,
        } => step.open_account(*id, *owner_id, *currency, name.clone(), metadata.clone()),
        Action::SetStatus { account_id, status } => step.set_status(*account_id, *status),
        Action::UpdateAccount {
            account_id,
            limits,
            metadata,
        } => step.update_account(*account_id, *limits, metadata.as_ref()),
        Action::Transfer {
            id,
            from,
            to,
            money,
            description,
            metadata,
        } => step.transfer(
            *id,
            *from,
            *to,
            *money,
            description.clone(),
            metadata.clone(),
        ),
        Action::Deposit {
            id,
            account_id,
            money,
            description,
            metadata,
        } => step.deposit(
            *id,
            *account_id,
            *money,
            description.clone(),
            metadata.clone(),
        ),
        Action::Withdrawal {
            id,
            account_id,
            money,
            description,
            metadata,
        } => step.withdraw(
            *id,
            *account_id,
            *money,
            description.clone(),
            metadata.clone(),
        ),
        Action::CreatePayment {
            id,
            payer,
            payee,
            money,
            metadata,
        } => step.create_payment(*id, *payer, *payee, *money, metadata.clone()),
        Action::Authorize {
            payment_id,
            hold_id,
            code,
            ttl,
        } => step.authorize(*payment_id, *hold_id, code, *ttl),
        Action::Capture {
            payment_id,
            transfer_id,
            amount,
        } => step.capture(*payment_id, *transfer_id, *amount),
        Action::CancelPayment { payment_id } => step.cancel_payment(*payment_id),
        Action::FailPayment { payment_id, reason } => step.fail_payment(*payment_id, reason),
        Action::Refund {
            payment_id,
            transfer_id,
            amount,
        } => step.refund(*payment_id, *transfer_id, *amount),
        Action::CreateHold {
            id,
            from,
            to,
            money,
            ttl,
            metadata,
        } => step.create_hold(NewHold {
            id: *id,
            from: *from,
            to: *to,
            money: *money,
            ttl: *ttl,
            payment_id: None,
            metadata: metadata.clone(),
        }),
        Action::PostHold {
            hold_id,
            transfer_id,
            amount,
        } => step.post_hold(*hold_id, *transfer_id, *amount),
        Action::VoidHold { hold_id } => step.void_hold(*hold_id),
        Action::ExpireHold { hold_id, .. } => step.expired_hold(*hold_id),
        Action::PostTransaction {
            id,
            postings,
            description,
            metadata,
        } => step.post_transaction(*id, postings, description.clone(), metadata.clone()),
    }
}

/// One command's turn in the batch: the ledger and effects it works on, who asks, the
/// context its events carry, and the time.
struct Step<'a> {
    ledger: &'a mut Ledger,
    effects: &'a mut Effects,
    actor: Option<&'a Actor>,
    context: &'a AuditContext,
    now: Timestamp,
}

impl Step<'_> {
    /// Who asks; only the expiry sweep has no actor, and it asks for nothing that needs one.
    fn actor(&self) -> Result<&Actor, Refusal> {
        self.actor.ok_or(Refusal::Forbidden)
    }
}
