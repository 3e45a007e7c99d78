//! One run of a ledger batch, the same on every backend (DESIGN.md §2): the steps of its one
//! transaction, in the one order that keeps two batches from waiting on each other in a cycle
//! and the audit chain's head locked for the shortest time. A backend supplies only the
//! statements ([`LedgerBackend`]), the transaction around them and the retries.

use std::collections::HashMap;
use std::future::Future;

use coffre_domain::audit::NewAuditEvent;
use coffre_domain::batch::{self, Caller, KeyCheck, Submitted, Verdict};
use coffre_domain::hold::Hold;
use coffre_domain::ids::{AccountId, HoldId, PaymentId, SessionId, UserId};
use coffre_domain::ledger::{Account, Effects, Ledger};
use coffre_domain::money::Currency;
use coffre_domain::payment::AnyPayment;
use coffre_domain::time::Timestamp;

use crate::events::{EventRecord, EventRenderer, render_events};
use crate::idempotency::{ExistingKey, IdempotencyKey, NewKey};
use crate::identity::SessionAuth;
use crate::{Executed, LedgerRequest, LockPlan, Origin, StoreError};

/// The statements of a batch's transaction that differ between backends, all run inside that
/// one transaction. [`run_batch`] calls them in order; none decides anything.
pub trait LedgerBackend: Send {
    /// The sessions `ids` name (ascending, each once) with their users as they are now: a
    /// revocation committed before this statement is seen. A missing one does not exist.
    fn read_sessions(
        &mut self,
        ids: &[SessionId],
    ) -> impl Future<Output = Result<HashMap<SessionId, SessionAuth>, StoreError>> + Send;

    /// The records of these keys that exist.
    fn read_keys(
        &mut self,
        keys: &[(UserId, &IdempotencyKey)],
    ) -> impl Future<Output = Result<HashMap<(UserId, IdempotencyKey), ExistingKey>, StoreError>> + Send;

    /// Loads and locks these payments (ascending); a missing one is left out.
    fn lock_payments(
        &mut self,
        ids: &[PaymentId],
    ) -> impl Future<Output = Result<Vec<AnyPayment>, StoreError>> + Send;

    /// Loads and locks these holds and those of these payments (ascending, by hold id); a
    /// missing one is left out.
    fn lock_holds(
        &mut self,
        ids: &[HoldId],
        payments: &[PaymentId],
    ) -> impl Future<Output = Result<Vec<Hold>, StoreError>> + Send;

    /// Loads and locks these accounts (ascending) and the system accounts of these
    /// currencies; a missing account is left out.
    fn lock_accounts(
        &mut self,
        ids: &[AccountId],
        system_currencies: &[Currency],
    ) -> impl Future<Output = Result<Vec<Account>, StoreError>> + Send;

    /// Writes what the batch changed, each account and payment as `ledger` now holds it, the
    /// events it emitted (rendered), then its key records; `false` if some key already had
    /// one (the run must then not commit). A backend may merge these into few statements:
    /// they are one step because nothing is decided between them.
    fn write_batch(
        &mut self,
        ledger: &Ledger,
        effects: &Effects,
        events: &[EventRecord],
        keys: &[NewKey],
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Appends the events after the audit chain's head, which it locks until the end.
    fn append_audit(
        &mut self,
        events: Vec<NewAuditEvent>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// How a run learns of its keys' existing records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyReads {
    /// Assume none exists, and let the records' insert say otherwise: the common case costs
    /// no read, and a key that turns out to exist (a replay, or another instance's request
    /// that committed first) ends the run with [`BatchRun::KeyExists`], to run again with
    /// [`KeyReads::Read`].
    Optimistic,
    Read,
}

/// How a run of a batch ended.
#[derive(Debug)]
pub enum BatchRun {
    /// Everything is written: commit, and answer these, one per request in request order.
    Commit(Vec<Executed>),
    /// Some key already had a record: roll back, and run again reading the keys.
    KeyExists,
}

/// Runs `batch` inside the backend's open transaction, in this order: reads its sessions and
/// its keys' records (unless [`KeyReads::Optimistic`]), locks the payments `plan` names, then
/// the holds (those it names and the payments'), then the accounts (theirs and the commands'),
/// each kind ascending, so that two batches never
/// wait for each other in a cycle; decides it ([`coffre_domain::batch`]); writes the effects
/// and the events they emitted (rendered by `renderer`), then the key records in (user, key)
/// order, then the audit events last, since the chain's head is the one row every batch locks.
pub async fn run_batch<B: LedgerBackend>(
    backend: &mut B,
    batch: &[LedgerRequest],
    plan: &LockPlan,
    key_reads: KeyReads,
    renderer: &dyn EventRenderer,
) -> Result<BatchRun, StoreError> {
    let mut session_ids: Vec<SessionId> =
        batch.iter().filter_map(LedgerRequest::session_id).collect();
    session_ids.sort_unstable();
    session_ids.dedup();
    let sessions = if session_ids.is_empty() {
        HashMap::new()
    } else {
        backend.read_sessions(&session_ids).await?
    };
    let keys = match key_reads {
        KeyReads::Optimistic => HashMap::new(),
        KeyReads::Read => {
            let keys: Vec<(UserId, &IdempotencyKey)> =
                batch.iter().filter_map(LedgerRequest::key).collect();
            if keys.is_empty() {
                HashMap::new()
            } else {
                backend.read_keys(&keys).await?
            }
        }
    };
    let reads = BatchReads { sessions, keys };
    let payments = if plan.payments.is_empty() {
        Vec::new()
    } else {
        backend.lock_payments(&plan.payments).await?
    };
    let holds = if plan.holds.is_empty() && plan.payments.is_empty() {
        Vec::new()
    } else {
        backend.lock_holds(&plan.holds, &plan.payments).await?
    };
    let accounts = backend
        .lock_accounts(
            &plan.accounts_with(&payments, &holds),
            &plan.system_currencies,
        )
        .await?;
    let mut ledger = Ledger::new(accounts)
        .with_payments(payments)
        .with_holds(holds);
    let decided = decide(batch, &reads, &mut ledger, Timestamp::now())?;
    let events = render_events(renderer, &decided.effects.events)?;
    if !backend
        .write_batch(&ledger, &decided.effects, &events, &decided.keys)
        .await?
    {
        return Ok(BatchRun::KeyExists);
    }
    backend.append_audit(decided.effects.audit).await?;
    Ok(BatchRun::Commit(decided.executed))
}

/// What the backend read, in the batch's transaction, before deciding it.
#[derive(Debug, Default)]
struct BatchReads {
    /// The sessions the batch's requests name; a missing one does not exist.
    sessions: HashMap<SessionId, SessionAuth>,
    /// The records of the batch's keys that exist.
    keys: HashMap<(UserId, IdempotencyKey), ExistingKey>,
}

/// A decided batch, to persist.
#[derive(Debug)]
struct DecidedBatch {
    /// One per request, in request order.
    executed: Vec<Executed>,
    effects: Effects,
    /// The key records to write with the effects (those whose responder kept a response), in
    /// (user, key) order, not request order: an insert waits for another transaction's
    /// uncommitted record of the same key, so two instances inserting crossing keys in request
    /// order could each wait for the other (a deadlock); in one fixed order they cannot.
    keys: Vec<NewKey>,
}

/// Decides a batch against what the backend read and locked ([`coffre_domain::batch`]), then
/// asks each keyed request's responder for the response its key keeps.
fn decide(
    batch: &[LedgerRequest],
    reads: &BatchReads,
    ledger: &mut Ledger,
    now: Timestamp,
) -> Result<DecidedBatch, StoreError> {
    let existing = |user_id: UserId, key: &IdempotencyKey| reads.keys.get(&(user_id, key.clone()));
    let submitted = batch.iter().map(|request| Submitted {
        caller: match &request.origin {
            Origin::System => Caller::System,
            Origin::User {
                session_id,
                user_id,
                idempotency,
            } => Caller::User {
                user_id: *user_id,
                session: reads.sessions.get(session_id).map(SessionAuth::state),
                key: idempotency.as_ref().map(|keyed| KeyCheck {
                    key: &keyed.key,
                    fingerprint: keyed.fingerprint,
                    recorded: existing(*user_id, &keyed.key).map(|record| record.fingerprint),
                }),
            },
        },
        context: &request.context,
        action: &request.action,
    });
    let (verdicts, effects) = batch::decide_batch(submitted, ledger, now)
        .map_err(|error| StoreError::Internal(error.into()))?;
    let mut executed = Vec::with_capacity(batch.len());
    let mut keys = Vec::new();
    for (request, verdict) in batch.iter().zip(verdicts) {
        let keyed = match &request.origin {
            Origin::User {
                user_id,
                idempotency: Some(keyed),
                ..
            } => Some((*user_id, keyed)),
            _ => None,
        };
        executed.push(match verdict {
            Verdict::Decided(result) => {
                let response = keyed.and_then(|(user_id, keyed)| {
                    let response = keyed.responder.response_to_keep(&result)?;
                    keys.push(NewKey {
                        user_id,
                        key: keyed.key.clone(),
                        fingerprint: keyed.fingerprint,
                        response: response.clone(),
                    });
                    Some(response)
                });
                Executed::Decided { result, response }
            }
            Verdict::Replay => {
                match keyed.and_then(|(user_id, keyed)| existing(user_id, &keyed.key)) {
                    Some(record) => Executed::Replayed(record.response.clone()),
                    None => {
                        return Err(StoreError::Internal(
                            "a replay without the record it replays".into(),
                        ));
                    }
                }
            }
            Verdict::KeyReused => Executed::KeyReused,
            Verdict::KeyInUse => Executed::KeyInUse,
            Verdict::Unauthenticated(refused) => Executed::Unauthenticated(refused),
        });
    }
    keys.sort_unstable_by(|a, b| (a.user_id, &a.key).cmp(&(b.user_id, &b.key)));
    Ok(DecidedBatch {
        executed,
        effects,
        keys,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use std::sync::Arc;

    use coffre_domain::audit::AuditContext;
    use coffre_domain::ids::AccountId;
    use coffre_domain::ledger::{Action, CommandResult};
    use coffre_domain::metadata::Metadata;
    use coffre_domain::money::Currency;
    use coffre_domain::user::{Email, Role};

    use super::*;
    use crate::{Fingerprint, Keyed, Responder, StoredResponse, User};

    struct Keep;

    impl Responder for Keep {
        fn response_to_keep(&self, _: &CommandResult) -> Option<StoredResponse> {
            Some(StoredResponse {
                status: 201,
                body: Vec::new(),
            })
        }
    }

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
                    responder: Arc::new(Keep),
                }),
            },
            context: AuditContext::default(),
            action: Action::OpenAccount {
                id: AccountId::new(),
                owner_id: user.id,
                currency: Currency::parse("EUR").unwrap(),
                name: None,
                metadata: Metadata::default(),
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
        let decided = decide(&batch, &reads, &mut Ledger::new(Vec::new()), now).unwrap();
        let keys: Vec<&str> = decided
            .keys
            .iter()
            .map(|record| record.key.as_str())
            .collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }
}
