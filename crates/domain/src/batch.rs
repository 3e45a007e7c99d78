//! One batch of the money path, decided (DESIGN.md §2). Each command is first admitted: its
//! session must be live and its user enabled, and the user acts with the role it has now; its
//! idempotency key is fresh, names this very request completed before (a replay), another
//! request (a reuse), or a request earlier in the same batch (in use). The admitted commands
//! then go through [`ledger::apply`](crate::ledger::apply) in order. The store reads what this
//! needs inside the batch's transaction and persists what it returns.

use std::collections::HashSet;

use crate::access::Actor;
use crate::audit::AuditContext;
use crate::idempotency::{Fingerprint, IdempotencyKey};
use crate::ids::UserId;
use crate::ledger::{Action, Command, CommandResult, Effects, Ledger, apply};
use crate::time::Timestamp;
use crate::user::Role;

/// A session as the batch's transaction read it, with its user as the user is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    pub user_id: UserId,
    pub role: Role,
    pub user_disabled: bool,
    pub revoked: bool,
    pub expires_at: Timestamp,
}

/// Why a signed token's session does not let its bearer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefused {
    /// No such session, or it is another user's: the token was not issued by this server
    /// (or its session was deleted).
    Unknown,
    /// Logged out, expired, or its user disabled: 401 `SESSION_REVOKED`.
    Revoked,
}

impl SessionState {
    /// The one per-request rule, wherever the session is read (the request's extractor, or the
    /// ledger batch's transaction): the session is the token's user's, live, and the user
    /// enabled. `None` is a session that does not exist.
    pub fn admit(
        session: Option<&Self>,
        user_id: UserId,
        now: Timestamp,
    ) -> Result<Actor, SessionRefused> {
        let session = session.ok_or(SessionRefused::Unknown)?;
        if session.user_id != user_id {
            return Err(SessionRefused::Unknown);
        }
        if session.revoked || session.user_disabled || session.expires_at <= now {
            return Err(SessionRefused::Revoked);
        }
        Ok(Actor {
            user_id: session.user_id,
            role: session.role,
        })
    }
}

/// A command's idempotency key, with what the batch's transaction found of it.
#[derive(Debug, Clone, Copy)]
pub struct KeyCheck<'a> {
    pub key: &'a IdempotencyKey,
    pub fingerprint: Fingerprint,
    /// The fingerprint of the request the key's record holds, if it has one.
    pub recorded: Option<Fingerprint>,
}

/// Who sends a command of the batch.
#[derive(Debug, Clone, Copy)]
pub enum Caller<'a> {
    /// The server itself (the expiry sweep): no session, no key.
    System,
    /// A user's request with a token for a session, as read (`None`: it does not exist).
    User {
        user_id: UserId,
        session: Option<SessionState>,
        key: Option<KeyCheck<'a>>,
    },
}

/// One command of a batch, as submitted.
#[derive(Debug, Clone, Copy)]
pub struct Submitted<'a> {
    pub caller: Caller<'a>,
    pub context: &'a AuditContext,
    pub action: &'a Action,
}

/// What became of one command of the batch.
// One per command, handed straight back: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The ledger decided it (accepted or refused).
    Decided(CommandResult),
    /// Its key's record is this very request's: its first response answers again.
    Replay,
    /// Its key's record is another request's.
    KeyReused,
    /// An earlier command of the batch carries its key: the two ran at once.
    KeyInUse,
    /// Its session does not let its bearer in; the ledger never saw it.
    Unauthenticated(SessionRefused),
}

/// The ledger gave fewer results than it was given commands; only a bug in it does that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ledger answered fewer commands than it was given")]
pub struct LedgerShortfall;

/// Decides a batch against the accounts and payments `ledger` holds (as loaded and locked):
/// each command is admitted first, in batch order (a 401 before anything else, then the key),
/// and the admitted ones are applied in that order. One verdict per command, in batch order,
/// and the effects to persist.
pub fn decide_batch<'a>(
    batch: impl IntoIterator<Item = Submitted<'a>>,
    ledger: &mut Ledger,
    now: Timestamp,
) -> Result<(Vec<Verdict>, Effects), LedgerShortfall> {
    let batch = batch.into_iter();
    let mut keys_in_batch = HashSet::new();
    let mut commands = Vec::with_capacity(batch.size_hint().0);
    // Per command, its verdict if admission gave one; the rest are `commands`, in order.
    let answers: Vec<Option<Verdict>> = batch
        .map(
            |submitted| match admit(submitted.caller, &mut keys_in_batch, now) {
                Admitted::Run(actor) => {
                    commands.push(Command {
                        actor,
                        context: submitted.context.clone(),
                        action: submitted.action.clone(),
                    });
                    None
                }
                Admitted::Answered(answer) => Some(answer),
            },
        )
        .collect();
    let (results, effects) = apply(ledger, &commands, now);
    let mut results = results.into_iter();
    let verdicts = answers
        .into_iter()
        .map(|answer| answer.or_else(|| results.next().map(Verdict::Decided)))
        .collect::<Option<Vec<_>>>()
        .ok_or(LedgerShortfall)?;
    Ok((verdicts, effects))
}

/// What one command comes to before the ledger sees it.
enum Admitted {
    /// Run by the ledger, as this actor (none for the system).
    Run(Option<Actor>),
    /// Answered at once.
    Answered(Verdict),
}

fn admit<'a>(
    caller: Caller<'a>,
    keys_in_batch: &mut HashSet<(UserId, &'a IdempotencyKey)>,
    now: Timestamp,
) -> Admitted {
    let Caller::User {
        user_id,
        session,
        key,
    } = caller
    else {
        return Admitted::Run(None);
    };
    let actor = match SessionState::admit(session.as_ref(), user_id, now) {
        Ok(actor) => actor,
        Err(refused) => return Admitted::Answered(Verdict::Unauthenticated(refused)),
    };
    if let Some(check) = key {
        match check.recorded {
            Some(recorded) if recorded == check.fingerprint => {
                return Admitted::Answered(Verdict::Replay);
            }
            Some(_) => return Admitted::Answered(Verdict::KeyReused),
            None => {}
        }
        if !keys_in_batch.insert((user_id, check.key)) {
            return Admitted::Answered(Verdict::KeyInUse);
        }
    }
    Admitted::Run(Some(actor))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::ids::AccountId;
    use crate::metadata::Metadata;
    use crate::money::Currency;

    fn live(user_id: UserId, now: Timestamp) -> SessionState {
        SessionState {
            user_id,
            role: Role::User,
            user_disabled: false,
            revoked: false,
            expires_at: Timestamp::from_datetime(now.as_datetime() + chrono::TimeDelta::hours(1)),
        }
    }

    fn opening(owner_id: UserId) -> Action {
        Action::OpenAccount {
            id: AccountId::new(),
            owner_id,
            currency: Currency::parse("EUR").unwrap(),
            name: None,
            metadata: Metadata::default(),
        }
    }

    #[test]
    fn admission_answers_before_the_ledger_and_keys_are_judged_in_batch_order() {
        let now = Timestamp::now();
        let user = UserId::new();
        let context = AuditContext::default();
        let (fresh, replayed, reused) = (
            IdempotencyKey::parse("fresh").unwrap(),
            IdempotencyKey::parse("replayed").unwrap(),
            IdempotencyKey::parse("reused").unwrap(),
        );
        let actions: Vec<Action> = (0..6).map(|_| opening(user)).collect();
        let keyed = |key, recorded| Caller::User {
            user_id: user,
            session: Some(live(user, now)),
            key: Some(KeyCheck {
                key,
                fingerprint: Fingerprint([1; 32]),
                recorded,
            }),
        };
        let callers = [
            keyed(&fresh, None),
            keyed(&fresh, None),
            keyed(&replayed, Some(Fingerprint([1; 32]))),
            keyed(&reused, Some(Fingerprint([2; 32]))),
            Caller::User {
                user_id: user,
                session: Some(SessionState {
                    revoked: true,
                    ..live(user, now)
                }),
                key: None,
            },
            Caller::User {
                user_id: user,
                session: Some(live(UserId::new(), now)),
                key: None,
            },
        ];
        let batch = callers
            .into_iter()
            .zip(&actions)
            .map(|(caller, action)| Submitted {
                caller,
                context: &context,
                action,
            });
        let (verdicts, effects) = decide_batch(batch, &mut Ledger::new(Vec::new()), now).unwrap();
        assert!(
            matches!(verdicts[0], Verdict::Decided(Ok(_))),
            "{verdicts:?}"
        );
        assert_eq!(
            verdicts[1..],
            [
                Verdict::KeyInUse,
                Verdict::Replay,
                Verdict::KeyReused,
                Verdict::Unauthenticated(SessionRefused::Revoked),
                Verdict::Unauthenticated(SessionRefused::Unknown),
            ]
        );
        assert_eq!(effects.opened.len(), 1);
    }

    #[test]
    fn a_session_admits_only_its_own_live_enabled_user() {
        let now = Timestamp::now();
        let user = UserId::new();
        let session = live(user, now);
        assert_eq!(
            SessionState::admit(Some(&session), user, now),
            Ok(Actor {
                user_id: user,
                role: Role::User
            })
        );
        assert_eq!(
            SessionState::admit(None, user, now),
            Err(SessionRefused::Unknown)
        );
        let expired = SessionState {
            expires_at: now,
            ..session
        };
        let disabled = SessionState {
            user_disabled: true,
            ..session
        };
        for refused in [expired, disabled] {
            assert_eq!(
                SessionState::admit(Some(&refused), user, now),
                Err(SessionRefused::Revoked)
            );
        }
    }
}
