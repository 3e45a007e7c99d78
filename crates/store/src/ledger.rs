//! What the money path hands a backend and gets back: commands with their origins and keys,
//! each command's result, and the read models of accounts, transfers and entries.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use coffre_domain::access::Actor;
use coffre_domain::audit::AuditContext;
use coffre_domain::ids::{AccountId, PaymentId, SessionId, UserId};
use coffre_domain::ledger::{Action, Command, CommandResult, Effects, Ledger, Transfer, apply};
use coffre_domain::money::Currency;
use coffre_domain::payment::AnyPayment;
use coffre_domain::time::Timestamp;

use crate::idempotency::{ExistingKey, Fingerprint, IdempotencyKey, NewKey, StoredResponse};
use crate::identity::{SessionAuth, SessionRefused};
use crate::{PageLimit, Store, StoreError};

/// Turns a command's result into the response its key will replay. The HTTP layer supplies
/// it; the backend calls it inside the effect's transaction, so the stored bytes are exactly
/// the bytes first answered.
pub type Render = Arc<dyn Fn(&CommandResult) -> StoredResponse + Send + Sync>;

/// A request's `Idempotency-Key`, its fingerprint, and how to render the response it stores.
#[derive(Clone)]
pub struct Keyed {
    pub key: IdempotencyKey,
    pub fingerprint: Fingerprint,
    pub render: Render,
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

/// One command of a batch given to [`Store::execute`](crate::Store::execute).
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
    /// Decided by the ledger (accepted or refused). With a key, `response` is what the key
    /// stored (or, for a 5xx, would have): the caller answers those very bytes.
    Decided {
        result: CommandResult,
        response: Option<StoredResponse>,
    },
    /// The same request completed before: its first response, to answer again.
    Replayed(StoredResponse),
    /// The key was used for another request (422 `IDEMPOTENCY_KEY_REUSED`).
    KeyReused,
    /// An earlier request of the same batch carries the key: the two ran at once (409
    /// `IDEMPOTENCY_KEY_IN_USE`).
    KeyInUse,
    /// The session does not let its bearer in (401); nothing was read or done.
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
            payments.extend(request.action.payment());
            accounts.extend(request.action.accounts());
            currencies.extend(request.action.system_currency());
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

/// What a backend read, in the batch's transaction, before deciding it.
#[derive(Debug, Default)]
pub struct BatchReads {
    /// The sessions the batch's requests name; a missing one does not exist.
    pub sessions: HashMap<SessionId, SessionAuth>,
    /// The records of the batch's keys that exist.
    pub keys: HashMap<(UserId, IdempotencyKey), ExistingKey>,
}

/// A decided batch, for the backend to persist.
#[derive(Debug)]
pub struct DecidedBatch {
    /// One per request, in request order.
    pub executed: Vec<Executed>,
    pub effects: Effects,
    /// The key records to write with the effects (none for a 5xx: API.md stores none), in
    /// (user, key) order, not request order: an insert waits for another transaction's
    /// uncommitted record of the same key, so two instances inserting crossing keys in request
    /// order could each wait for the other (a deadlock); in one fixed order they cannot.
    pub keys: Vec<NewKey>,
}

/// What one request comes to before the ledger sees it.
enum Admitted {
    Answered(Executed),
    Run(Command),
}

/// Decides a batch against what the backend read and locked: each request's session is
/// checked first (401 before anything else), then its key (a replay or a reuse answers at
/// once); the rest go through `ledger::apply` in order, and each keyed one's result is
/// rendered into the record its key stores.
pub fn decide_batch(
    batch: &[LedgerRequest],
    reads: &BatchReads,
    ledger: &mut Ledger,
    now: Timestamp,
) -> Result<DecidedBatch, StoreError> {
    let mut keys_in_batch = HashSet::new();
    let mut commands = Vec::with_capacity(batch.len());
    // Per request, its answer if it has one before the ledger; the rest are `commands`.
    let answers: Vec<Option<Executed>> = batch
        .iter()
        .map(
            |request| match admit(request, reads, &mut keys_in_batch, now) {
                Admitted::Answered(answer) => Some(answer),
                Admitted::Run(command) => {
                    commands.push(command);
                    None
                }
            },
        )
        .collect();
    let (results, effects) = apply(ledger, &commands, now);
    let mut results = results.into_iter();
    let mut executed = Vec::with_capacity(batch.len());
    let mut keys = Vec::new();
    for (request, answer) in batch.iter().zip(answers) {
        if let Some(answer) = answer {
            executed.push(answer);
            continue;
        }
        let result = results.next();
        let Some(result) = result else {
            return Err(StoreError::Internal(
                "the ledger answered fewer commands than it was given".into(),
            ));
        };
        let response = match &request.origin {
            Origin::User {
                user_id,
                idempotency: Some(keyed),
                ..
            } => {
                let response = (keyed.render)(&result);
                if response.status < 500 {
                    keys.push(NewKey {
                        user_id: *user_id,
                        key: keyed.key.clone(),
                        fingerprint: keyed.fingerprint,
                        response: response.clone(),
                    });
                }
                Some(response)
            }
            _ => None,
        };
        executed.push(Executed::Decided { result, response });
    }
    keys.sort_unstable_by(|a, b| (a.user_id, &a.key).cmp(&(b.user_id, &b.key)));
    Ok(DecidedBatch {
        executed,
        effects,
        keys,
    })
}

fn admit(
    request: &LedgerRequest,
    reads: &BatchReads,
    keys_in_batch: &mut HashSet<(UserId, IdempotencyKey)>,
    now: Timestamp,
) -> Admitted {
    let command = |actor| Command {
        actor,
        context: request.context.clone(),
        action: request.action.clone(),
    };
    let (session_id, user_id, idempotency) = match &request.origin {
        Origin::System => return Admitted::Run(command(None)),
        Origin::User {
            session_id,
            user_id,
            idempotency,
        } => (*session_id, *user_id, idempotency),
    };
    let user = match SessionAuth::admit(reads.sessions.get(&session_id).cloned(), user_id, now) {
        Ok(user) => user,
        Err(refused) => return Admitted::Answered(Executed::Unauthenticated(refused)),
    };
    if let Some(keyed) = idempotency {
        let scoped = (user_id, keyed.key.clone());
        if let Some(existing) = reads.keys.get(&scoped) {
            return Admitted::Answered(if existing.fingerprint == keyed.fingerprint {
                Executed::Replayed(existing.response.clone())
            } else {
                Executed::KeyReused
            });
        }
        if !keys_in_batch.insert(scoped) {
            return Admitted::Answered(Executed::KeyInUse);
        }
    }
    Admitted::Run(command(Some(Actor {
        user_id: user.id,
        role: user.role,
    })))
}

/// One page of the expiry sweep: how many due authorizations it looked at, and how many of
/// them it expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPage {
    pub looked_at: usize,
    pub expired: usize,
}

/// One page of the expiry sweep: expires the authorizations whose deadline has passed at `now`,
/// at most [`PageLimit::MAX`] of them, oldest deadline first, through the engine like any
/// command. A page shorter than that was the last one. A page that expired fewer than it looked
/// at will be read again first: the caller should pause rather than ask for the next at once.
pub async fn expire_due_authorizations(
    store: &dyn Store,
    now: Timestamp,
) -> Result<ExpiryPage, StoreError> {
    let limit = PageLimit::new(u64::from(PageLimit::MAX)).unwrap_or_default();
    let due = store.due_authorizations(now, limit).await?;
    let looked_at = due.len();
    if looked_at == 0 {
        return Ok(ExpiryPage {
            looked_at,
            expired: 0,
        });
    }
    let batch = due
        .into_iter()
        .map(|payment_id| LedgerRequest {
            origin: Origin::System,
            context: AuditContext::default(),
            action: Action::ExpirePayment { payment_id },
        })
        .collect();
    // Expiring is idempotent by state (an expired payment is no longer due), so a sweep that
    // failed after committing (an ambiguous commit) only finds less to do next time.
    let results = store.execute(batch).await;
    if let Some(error) = results.iter().find_map(|result| result.as_ref().err()) {
        return Err(error.duplicate());
    }
    let expired = results
        .iter()
        .filter(|result| matches!(result, Ok(Executed::Decided { result: Ok(_), .. })))
        .count();
    Ok(ExpiryPage { looked_at, expired })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use coffre_domain::ids::AccountId;
    use coffre_domain::money::Currency;
    use coffre_domain::user::{Email, Role};

    use super::*;
    use crate::User;

    #[test]
    fn key_records_come_out_in_key_order_whatever_the_request_order() {
        let now = Timestamp::now();
        let user = User {
            id: UserId::new(),
            email: Email::parse("keys@order.test").unwrap(),
            role: Role::User,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        let session_id = SessionId::new();
        let opening = |text: &str| LedgerRequest {
            origin: Origin::User {
                session_id,
                user_id: user.id,
                idempotency: Some(Keyed {
                    key: IdempotencyKey::parse(text).unwrap(),
                    fingerprint: Fingerprint([0; 32]),
                    render: Arc::new(|_| StoredResponse {
                        status: 201,
                        body: Vec::new(),
                    }),
                }),
            },
            context: AuditContext::default(),
            action: Action::OpenAccount {
                id: AccountId::new(),
                owner_id: user.id,
                currency: Currency::parse("EUR").unwrap(),
                name: None,
            },
        };
        let batch = vec![opening("c"), opening("a"), opening("b")];
        let mut reads = BatchReads::default();
        reads.sessions.insert(
            session_id,
            SessionAuth {
                user: user.clone(),
                revoked: false,
                expires_at: Timestamp::from_datetime(
                    now.as_datetime() + chrono::TimeDelta::hours(1),
                ),
            },
        );
        let decided = decide_batch(&batch, &reads, &mut Ledger::new(Vec::new()), now).unwrap();
        let keys: Vec<&str> = decided
            .keys
            .iter()
            .map(|record| record.key.as_str())
            .collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }
}
