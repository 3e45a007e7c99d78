//! What the money path hands a backend and gets back: commands with their origins and keys,
//! each command's result, and the read models of accounts, transfers and entries.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use coffre_domain::audit::AuditContext;
use coffre_domain::hold::{Hold, HoldState};
use coffre_domain::ids::{AccountId, HoldId, PaymentId, SessionId, UserId};
use coffre_domain::ledger::{Action, CommandResult, Outcome, Transaction, Transfer};
use coffre_domain::money::Currency;
use coffre_domain::payment::AnyPayment;
use coffre_domain::time::Timestamp;

use crate::events::Renderer;
use crate::idempotency::{Fingerprint, IdempotencyKey, StoredResponse};
use crate::identity::SessionRefused;
use crate::{PageLimit, Store, StoreError};

/// The caller's side of a keyed command: the response its key keeps for the ledger's result.
/// The caller (the API) implements it; the batch asks it inside the effect's transaction, so the
/// stored bytes are exactly the bytes first answered. What it declines to keep, the store does
/// not keep: the key stays free and the same request runs afresh.
pub trait Responder: Send + Sync {
    /// The response to store with the key, or `None` to store none.
    fn response_to_keep(&self, result: &CommandResult) -> Option<StoredResponse>;
}

/// A request's `Idempotency-Key`, its fingerprint, and who says what response it stores.
#[derive(Clone)]
pub struct Keyed {
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
    pub responder: Arc<dyn Responder>,
}

impl fmt::Debug for Keyed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed")
            .field("key", &self.key)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Who asks for a command.
#[derive(Debug, Clone)]
pub enum Origin {
    /// A user's request with a signed token for `session_id`. The session is checked, and the
    /// user's role read, in the batch's own transaction: a logout, a disabling or a role change
    /// committed before the batch began bites on this very command. A key is the user's.
    User {
        session_id: SessionId,
        user_id: UserId,
        idempotency: Option<Keyed>,
    },
    /// The server itself (the expiry sweep).
    System,
}

/// One command of a batch given to [`Store::commit_batch`](crate::Store::commit_batch).
#[derive(Debug, Clone)]
pub struct LedgerRequest {
    pub origin: Origin,
    pub context: AuditContext,
    pub action: Action,
}

impl LedgerRequest {
    /// The session to read for this request, if it has one.
    pub fn session_id(&self) -> Option<SessionId> {
        match &self.origin {
            Origin::User { session_id, .. } => Some(*session_id),
            Origin::System => None,
        }
    }

    /// The key whose record to read for this request, with its user.
    pub fn key(&self) -> Option<(UserId, &IdempotencyKey)> {
        match &self.origin {
            Origin::User {
                user_id,
                idempotency: Some(keyed),
                ..
            } => Some((*user_id, &keyed.key)),
            _ => None,
        }
    }
}

/// What became of one request of a batch.
// Short-lived (batch to caller, once per command): boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// Decided by the ledger (accepted or refused). `response` is what the key stored, if the
    /// request had one and its responder kept a response: the caller answers those very bytes.
    Decided {
        result: CommandResult,
        response: Option<StoredResponse>,
    },
    /// The same request completed before: its first response, to answer again.
    Replayed(StoredResponse),
    /// The key was used for another request (its fingerprint differs).
    KeyReused,
    /// An earlier request of the same batch carries the key: the two ran at once.
    KeyInUse,
    /// The session does not let its bearer in; nothing was read or done.
    Unauthenticated(SessionRefused),
}

impl Executed {
    /// The ledger's decision, if it made one.
    pub fn result(&self) -> Option<&CommandResult> {
        match self {
            Self::Decided { result, .. } => Some(result),
            _ => None,
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

/// A transaction with the owners of its postings' accounts (two per posting, in order),
/// which decide who may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    pub transaction: Transaction,
    pub owners: Vec<Option<UserId>>,
}

/// A payment with the owners of its two accounts, which decide who may see and move it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub payment: AnyPayment,
    pub payer_owner: Option<UserId>,
    pub payee_owner: Option<UserId>,
}

/// A hold with the owners of its two accounts, which decide who may see and move it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRecord {
    pub hold: Hold,
    pub from_owner: Option<UserId>,
    pub to_owner: Option<UserId>,
}

/// Filters of `GET /v1/holds`; every one set must match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldFilter {
    /// Holds from or to this account, or to or from an account this user owns.
    pub parties: PartyFilter,
    pub state: Option<HoldState>,
}

/// Filters of `GET /v1/transfers`, `GET /v1/payments` and `GET /v1/transactions`; every one
/// set must match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartyFilter {
    /// Transfers (a transaction's: any of its postings) from or to this account.
    pub account_id: Option<AccountId>,
    /// Transfers (a transaction's: any of its postings) from or to an account this user owns.
    pub party: Option<UserId>,
}

/// What a backend must load and lock for a batch: the payments and holds its commands name,
/// the accounts they name and the system accounts of the currencies they move through, each
/// sorted ascending and once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockPlan {
    /// Locked first: their payers and payees join `accounts` once they are read, and the holds
    /// their authorizations took join `holds`.
    pub payments: Vec<PaymentId>,
    /// Locked second: their sources and destinations join `accounts` once they are read.
    pub holds: Vec<HoldId>,
    pub accounts: Vec<AccountId>,
    pub system_currencies: Vec<Currency>,
}

impl LockPlan {
    pub fn of<'a>(requests: impl IntoIterator<Item = &'a LedgerRequest>) -> Self {
        let mut payments = BTreeSet::new();
        let mut holds = BTreeSet::new();
        let mut accounts = BTreeSet::new();
        let mut currencies = BTreeSet::new();
        for request in requests {
            payments.extend(request.action.payment());
            holds.extend(request.action.hold());
            accounts.extend(request.action.accounts());
            currencies.extend(request.action.system_currency());
        }
        Self {
            payments: payments.into_iter().collect(),
            holds: holds.into_iter().collect(),
            accounts: accounts.into_iter().collect(),
            system_currencies: currencies.into_iter().collect(),
        }
    }

    /// The accounts to lock once the payments and holds are read: the commands' own, every
    /// payment's payer and payee and every hold's source and destination, ascending.
    pub fn accounts_with(&self, payments: &[AnyPayment], holds: &[Hold]) -> Vec<AccountId> {
        let mut accounts: BTreeSet<AccountId> = self.accounts.iter().copied().collect();
        for payment in payments {
            accounts.insert(payment.terms().payer_account_id);
            accounts.insert(payment.terms().payee_account_id);
        }
        for hold in holds {
            accounts.insert(hold.terms().from_account_id);
            accounts.insert(hold.terms().to_account_id);
        }
        accounts.into_iter().collect()
    }
}

/// A hold the sweep found due, with the payment whose authorization it is (locked first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueHold {
    pub id: HoldId,
    pub payment_id: Option<PaymentId>,
}

/// One page of the expiry sweep: how many due holds it looked at, and how many of them it
/// expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPage {
    pub looked_at: usize,
    pub expired: usize,
}

/// One page of the expiry sweep: expires the holds whose deadline has passed at `now` (a
/// payment's hold with its authorization), at most [`PageLimit::MAX`] of them, oldest deadline
/// first, through the engine like any command. A page shorter than that was the last one. A
/// page that expired fewer than it looked at will be read again first: the caller should pause
/// rather than ask for the next at once. The expiries' events go through `renderer`.
pub async fn expire_due_holds(
    store: &dyn Store,
    renderer: Renderer,
    now: Timestamp,
) -> Result<ExpiryPage, StoreError> {
    let limit = PageLimit::new(u64::from(PageLimit::MAX)).unwrap_or_default();
    let due = store.due_holds(now, limit).await?;
    let looked_at = due.len();
    if looked_at == 0 {
        return Ok(ExpiryPage {
            looked_at,
            expired: 0,
        });
    }
    let batch = due
        .into_iter()
        .map(|due| LedgerRequest {
            origin: Origin::System,
            context: AuditContext::default(),
            action: Action::ExpireHold {
                hold_id: due.id,
                payment_id: due.payment_id,
            },
        })
        .collect();
    // Expiring is idempotent by state (an expired hold is no longer due), so a sweep that
    // failed after committing (an ambiguous commit) only finds less to do next time.
    let results = store.commit_batch(batch, renderer).await;
    if let Some(error) = results.iter().find_map(|result| result.as_ref().err()) {
        return Err(error.duplicate());
    }
    let expired = results
        .iter()
        .filter(|result| {
            matches!(
                result,
                Ok(Executed::Decided { result: Ok(Outcome::Hold(view)), .. })
                    if view.state == HoldState::Expired
            )
        })
        .count();
    Ok(ExpiryPage { looked_at, expired })
}
