//! What the money path hands a backend and gets back: commands with their idempotency claims,
//! each command's result, and the read models of accounts, transfers and entries.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use coffre_domain::audit::AuditContext;
use coffre_domain::ids::{AccountId, PaymentId, UserId};
use coffre_domain::ledger::{Action, Command, CommandResult, Effects, Ledger, Transfer, apply};
use coffre_domain::money::Currency;
use coffre_domain::payment::AnyPayment;
use coffre_domain::time::Timestamp;

use crate::idempotency::{Claim, StoredResponse};
use crate::{PageLimit, Store, StoreError};

/// Turns a command's result into the response its key will replay. The HTTP layer supplies
/// it; the backend calls it inside the effect's transaction, so the stored bytes are exactly
/// the bytes first answered.
pub type Render = Arc<dyn Fn(&CommandResult) -> StoredResponse + Send + Sync>;

/// A claimed key and how to render the response it stores.
#[derive(Clone)]
pub struct Idempotent {
    pub claim: Claim,
    pub render: Render,
}

impl fmt::Debug for Idempotent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idempotent")
            .field("claim", &self.claim)
            .finish_non_exhaustive()
    }
}

/// One command of a batch given to [`Store::execute`](crate::Store::execute).
#[derive(Debug, Clone)]
pub struct LedgerRequest {
    pub command: Command,
    pub idempotency: Option<Idempotent>,
}

/// What became of one request of a batch.
// Short-lived (batch to caller, once per command): boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// Decided by the ledger (accepted or refused). With a key, `response` is what the key
    /// stored (or, for a 5xx, would have): the caller answers those very bytes.
    Decided {
        result: CommandResult,
        response: Option<StoredResponse>,
    },
    /// Its claim was taken over by a retry of the same request (the lease ran out while this
    /// one waited): nothing was done, the other one answers.
    ClaimLost,
}

impl Executed {
    /// The ledger's decision, if it made one.
    pub fn result(&self) -> Option<&CommandResult> {
        match self {
            Self::Decided { result, .. } => Some(result),
            Self::ClaimLost => None,
        }
    }
}

/// A transfer with the owners of its two accounts, which decide who may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRecord {
    pub transfer: Transfer,
    pub from_owner: Option<UserId>,
    pub to_owner: Option<UserId>,
}

/// A payment with the owners of its two accounts, which decide who may see and move it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub payment: AnyPayment,
    pub payer_owner: Option<UserId>,
    pub payee_owner: Option<UserId>,
}

/// Filters of `GET /v1/transfers` and `GET /v1/payments`; every one set must match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartyFilter {
    /// Transfers from or to this account.
    pub account_id: Option<AccountId>,
    /// Transfers from or to an account this user owns.
    pub party: Option<UserId>,
}

/// What a backend must load and lock for a batch: the accounts its commands name and the
/// system accounts of the currencies they move through, each sorted ascending and once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockPlan {
    /// Locked first: their payers and payees join `accounts` once they are read.
    pub payments: Vec<PaymentId>,
    pub accounts: Vec<AccountId>,
    pub system_currencies: Vec<Currency>,
}

impl LockPlan {
    pub fn of<'a>(requests: impl IntoIterator<Item = &'a LedgerRequest>) -> Self {
        let mut payments = BTreeSet::new();
        let mut accounts = BTreeSet::new();
        let mut currencies = BTreeSet::new();
        for request in requests {
            payments.extend(request.command.action.payment());
            accounts.extend(request.command.action.accounts());
            currencies.extend(request.command.action.system_currency());
        }
        Self {
            payments: payments.into_iter().collect(),
            accounts: accounts.into_iter().collect(),
            system_currencies: currencies.into_iter().collect(),
        }
    }

    /// The accounts to lock once the payments are read: the commands' own and every payment's
    /// payer and payee, ascending.
    pub fn accounts_with(&self, payments: &[AnyPayment]) -> Vec<AccountId> {
        let mut accounts: BTreeSet<AccountId> = self.accounts.iter().copied().collect();
        for payment in payments {
            accounts.insert(payment.terms().payer_account_id);
            accounts.insert(payment.terms().payee_account_id);
        }
        accounts.into_iter().collect()
    }
}

/// A decided batch, for the backend to persist.
#[derive(Debug)]
pub struct DecidedBatch {
    /// One per request, in request order.
    pub executed: Vec<Executed>,
    pub effects: Effects,
    /// The response each still-held claim completes with (none for a 5xx).
    pub responses: Vec<(Claim, StoredResponse)>,
}

/// Decides a batch against the loaded `ledger`: requests whose claim is no longer held are
/// skipped (`ClaimLost`); the others go through `ledger::apply` in order, and each claimed
/// one's result is rendered into the response its key stores.
pub fn decide_batch(
    batch: &[LedgerRequest],
    claim_held: impl Fn(&Claim) -> bool,
    ledger: &mut Ledger,
    now: Timestamp,
) -> DecidedBatch {
    let live: Vec<bool> = batch
        .iter()
        .map(|request| {
            request
                .idempotency
                .as_ref()
                .is_none_or(|idempotent| claim_held(&idempotent.claim))
        })
        .collect();
    let commands: Vec<Command> = batch
        .iter()
        .zip(&live)
        .filter(|(_, live)| **live)
        .map(|(request, _)| request.command.clone())
        .collect();
    let (results, effects) = apply(ledger, &commands, now);
    let mut results = results.into_iter();
    let mut executed = Vec::with_capacity(batch.len());
    let mut responses = Vec::new();
    for (request, live) in batch.iter().zip(live) {
        let result = if live { results.next() } else { None };
        match result {
            Some(result) => {
                let response = request.idempotency.as_ref().map(|idempotent| {
                    let response = (idempotent.render)(&result);
                    // API.md: a 5xx is not stored; the caller releases the claim instead.
                    if response.status < 500 {
                        responses.push((idempotent.claim.clone(), response.clone()));
                    }
                    response
                });
                executed.push(Executed::Decided { result, response });
            }
            None => executed.push(Executed::ClaimLost),
        }
    }
    DecidedBatch {
        executed,
        effects,
        responses,
    }
}

/// The expiry sweep: expires every authorization whose deadline has passed at `now`, a batch
/// of at most [`PageLimit::MAX`] at a time, through the engine like any command. Returns how
/// many it looked at; run it until that is below a full batch.
pub async fn expire_due_authorizations(
    store: &dyn Store,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let limit = PageLimit::new(u64::from(PageLimit::MAX)).unwrap_or_default();
    let due = store.due_authorizations(now, limit).await?;
    let count = due.len();
    if count == 0 {
        return Ok(0);
    }
    let batch = due
        .into_iter()
        .map(|payment_id| LedgerRequest {
            command: Command {
                actor: None,
                context: AuditContext::default(),
                action: Action::ExpirePayment { payment_id },
            },
            idempotency: None,
        })
        .collect();
    store.execute(batch).await?;
    Ok(count)
}
