//! Who may do what: one function per decision, so every rule of API.md §3–4 lives here once.
//!
//! Each decision first asks whether the actor may *see* the resource; one it may not see is
//! `Hidden` (answered 404, exactly as if it did not exist), one it may see but not act on is
//! `Forbidden` (403). Actions gated by role alone (deposits, the user list, the audit log) are
//! `Forbidden` to lower roles without looking at any resource.

use crate::ids::UserId;
use crate::user::Role;

/// The authenticated caller, with its role as of this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The caller may not know the resource exists.
    #[error("not found")]
    Hidden,
    #[error("insufficient permissions")]
    Forbidden,
}

pub type Decision = Result<(), Denied>;

/// The owners of the two accounts a payment joins (a system account has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentParties {
    pub payer_owner: Option<UserId>,
    pub payee_owner: Option<UserId>,
}

impl Actor {
    fn owns(&self, owner: Option<UserId>) -> bool {
        owner == Some(self.user_id)
    }

    fn at_least(&self, role: Role) -> bool {
        self.role >= role
    }

    fn requires(&self, role: Role) -> Decision {
        if self.at_least(role) {
            Ok(())
        } else {
            Err(Denied::Forbidden)
        }
    }

    /// Owners see their own; managers and admins see everything.
    fn sees(&self, owners: &[Option<UserId>]) -> bool {
        self.at_least(Role::Manager) || owners.iter().any(|owner| self.owns(*owner))
    }

    /// Allowed when `allowed`, else forbidden if visible, else hidden.
    fn act_on(&self, owners: &[Option<UserId>], allowed: bool) -> Decision {
        if allowed {
            Ok(())
        } else if self.sees(owners) {
            Err(Denied::Forbidden)
        } else {
            Err(Denied::Hidden)
        }
    }
}

pub fn list_users(actor: &Actor) -> Decision {
    actor.requires(Role::Manager)
}

pub fn update_user(actor: &Actor) -> Decision {
    actor.requires(Role::Admin)
}

pub fn read_audit_log(actor: &Actor) -> Decision {
    actor.requires(Role::Admin)
}

/// The event log shows every change to everyone's money.
pub fn read_events(actor: &Actor) -> Decision {
    actor.requires(Role::Admin)
}

/// Webhook endpoints receive the event log.
pub fn manage_webhooks(actor: &Actor) -> Decision {
    actor.requires(Role::Admin)
}

pub fn verify_ledger(actor: &Actor) -> Decision {
    actor.requires(Role::Admin)
}

/// Opening an account for `owner`: oneself, or anyone if admin.
pub fn create_account(actor: &Actor, owner: UserId) -> Decision {
    if owner == actor.user_id || actor.at_least(Role::Admin) {
        Ok(())
    } else {
        Err(Denied::Forbidden)
    }
}

/// Whether listing accounts may cover other people's (else only the caller's own).
pub fn list_all_accounts(actor: &Actor) -> bool {
    actor.at_least(Role::Manager)
}

pub fn read_account(actor: &Actor, owner: Option<UserId>) -> Decision {
    actor.act_on(&[owner], actor.sees(&[owner]))
}

pub fn freeze_account(actor: &Actor) -> Decision {
    actor.requires(Role::Manager)
}

/// Setting an account's limits: admins only; others who see the account are forbidden.
pub fn set_account_limits(actor: &Actor, owner: Option<UserId>) -> Decision {
    actor.act_on(&[owner], actor.at_least(Role::Admin))
}

/// Changing an account's metadata: its owner or an admin.
pub fn update_account_metadata(actor: &Actor, owner: Option<UserId>) -> Decision {
    actor.act_on(&[owner], actor.owns(owner) || actor.at_least(Role::Admin))
}

pub fn deposit(actor: &Actor) -> Decision {
    actor.requires(Role::Admin)
}

/// Sending money from an account: its owner only; managers see it but move no one's money.
pub fn transfer_from(actor: &Actor, owner: Option<UserId>) -> Decision {
    actor.act_on(&[owner], actor.owns(owner))
}

/// Spending from an account in a transaction: its owner, or an admin, who may move any
/// customer's money this way (an operator settling fees, an exchange through its own accounts).
pub fn post_transaction_from(actor: &Actor, owner: Option<UserId>) -> Decision {
    actor.act_on(&[owner], actor.owns(owner) || actor.at_least(Role::Admin))
}

/// Reading a transaction: the owner of any account it touches, or manager+.
pub fn read_transaction(actor: &Actor, owners: &[Option<UserId>]) -> Decision {
    actor.act_on(owners, actor.sees(owners))
}

pub fn withdraw(actor: &Actor, owner: Option<UserId>) -> Decision {
    actor.act_on(&[owner], actor.owns(owner) || actor.at_least(Role::Admin))
}

/// Reading a transfer: the owner of either party, or manager+.
pub fn read_transfer(
    actor: &Actor,
    from_owner: Option<UserId>,
    to_owner: Option<UserId>,
) -> Decision {
    let owners = [from_owner, to_owner];
    actor.act_on(&owners, actor.sees(&owners))
}

pub fn create_payment(actor: &Actor, payer_owner: Option<UserId>) -> Decision {
    transfer_from(actor, payer_owner)
}

impl PaymentParties {
    fn owners(&self) -> [Option<UserId>; 2] {
        [self.payer_owner, self.payee_owner]
    }
}

pub fn read_payment(actor: &Actor, parties: &PaymentParties) -> Decision {
    let owners = parties.owners();
    actor.act_on(&owners, actor.sees(&owners))
}

pub fn authorize_payment(actor: &Actor, parties: &PaymentParties) -> Decision {
    actor.act_on(&parties.owners(), actor.owns(parties.payer_owner))
}

pub fn capture_payment(actor: &Actor, parties: &PaymentParties) -> Decision {
    let allowed = actor.owns(parties.payee_owner) || actor.at_least(Role::Admin);
    actor.act_on(&parties.owners(), allowed)
}

pub fn cancel_payment(actor: &Actor, parties: &PaymentParties) -> Decision {
    let owners = parties.owners();
    actor.act_on(&owners, actor.sees(&owners))
}

pub fn fail_payment(actor: &Actor, parties: &PaymentParties) -> Decision {
    actor.act_on(&parties.owners(), actor.at_least(Role::Manager))
}

pub fn refund_payment(actor: &Actor, parties: &PaymentParties) -> Decision {
    capture_payment(actor, parties)
}

/// The owners of a hold's two accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldParties {
    pub from_owner: Option<UserId>,
    pub to_owner: Option<UserId>,
}

impl HoldParties {
    fn owners(&self) -> [Option<UserId>; 2] {
        [self.from_owner, self.to_owner]
    }
}

/// Reserving money on an account: its owner, or an admin (who may also withdraw from it).
pub fn create_hold(actor: &Actor, from_owner: Option<UserId>) -> Decision {
    withdraw(actor, from_owner)
}

pub fn read_hold(actor: &Actor, parties: &HoldParties) -> Decision {
    let owners = parties.owners();
    actor.act_on(&owners, actor.sees(&owners))
}

/// Posting moves the held money to its destination, which either party may want: the sender
/// pays, the receiver collects (a capture). An admin may too; a manager moves no one's money.
pub fn post_hold(actor: &Actor, parties: &HoldParties) -> Decision {
    let owners = parties.owners();
    let allowed = owners.iter().any(|owner| actor.owns(*owner)) || actor.at_least(Role::Admin);
    actor.act_on(&owners, allowed)
}

/// Voiding only gives the sender its money back: either party, or a manager, as a payment's
/// cancellation.
pub fn void_hold(actor: &Actor, parties: &HoldParties) -> Decision {
    read_hold(actor, parties)
}

/// Labelling a transfer, transaction, hold or payment (its metadata): the owner of every
/// account its money came from, or an admin; whoever may see it is told so (403), others 404.
pub fn label(actor: &Actor, sources: &[Option<UserId>], parties: &[Option<UserId>]) -> Decision {
    let owns_every_source = !sources.is_empty() && sources.iter().all(|owner| actor.owns(*owner));
    actor.act_on(parties, owns_every_source || actor.at_least(Role::Admin))
}

/// A manager or admin reading data that is not theirs leaves a READ event in the audit log.
pub fn is_audited_read(actor: &Actor, owners: &[Option<UserId>]) -> bool {
    actor.at_least(Role::Manager) && !owners.iter().any(|owner| actor.owns(*owner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Denied::{Forbidden, Hidden};

    /// The cast: a payer, a payee, a stranger (role `user`), a manager and an admin.
    struct Cast {
        payer: Actor,
        payee: Actor,
        stranger: Actor,
        manager: Actor,
        admin: Actor,
    }

    fn cast() -> Cast {
        let actor = |role| Actor {
            user_id: UserId::new(),
            role,
        };
        Cast {
            payer: actor(Role::User),
            payee: actor(Role::User),
            stranger: actor(Role::User),
            manager: actor(Role::Manager),
            admin: actor(Role::Admin),
        }
    }

    fn parties(c: &Cast) -> PaymentParties {
        PaymentParties {
            payer_owner: Some(c.payer.user_id),
            payee_owner: Some(c.payee.user_id),
        }
    }

    /// Runs `decide` for each actor of the cast, in cast order.
    fn table(c: &Cast, decide: impl Fn(&Actor) -> Decision) -> [Decision; 5] {
        [c.payer, c.payee, c.stranger, c.manager, c.admin].map(|actor| decide(&actor))
    }

    #[test]
    fn role_gated_actions() {
        let c = cast();
        assert_eq!(
            table(&c, list_users),
            [
                Err(Forbidden),
                Err(Forbidden),
                Err(Forbidden),
                Ok(()),
                Ok(())
            ]
        );
        assert_eq!(
            table(&c, freeze_account),
            [
                Err(Forbidden),
                Err(Forbidden),
                Err(Forbidden),
                Ok(()),
                Ok(())
            ]
        );
        for admin_only in [
            update_user,
            read_audit_log,
            read_events,
            manage_webhooks,
            verify_ledger,
            deposit,
        ] {
            assert_eq!(
                table(&c, admin_only),
                [
                    Err(Forbidden),
                    Err(Forbidden),
                    Err(Forbidden),
                    Err(Forbidden),
                    Ok(())
                ]
            );
        }
    }

    #[test]
    fn accounts() {
        let c = cast();
        let owner = Some(c.payer.user_id);
        assert_eq!(
            table(&c, |a| read_account(a, owner)),
            [Ok(()), Err(Hidden), Err(Hidden), Ok(()), Ok(())]
        );
        assert_eq!(
            table(&c, |a| transfer_from(a, owner)),
            [
                Ok(()),
                Err(Hidden),
                Err(Hidden),
                Err(Forbidden),
                Err(Forbidden)
            ]
        );
        assert_eq!(
            table(&c, |a| withdraw(a, owner)),
            [Ok(()), Err(Hidden), Err(Hidden), Err(Forbidden), Ok(())]
        );
        assert_eq!(
            table(&c, |a| post_transaction_from(a, owner)),
            [Ok(()), Err(Hidden), Err(Hidden), Err(Forbidden), Ok(())]
        );
        assert_eq!(
            table(&c, |a| create_account(a, c.payer.user_id)),
            [
                Ok(()),
                Err(Forbidden),
                Err(Forbidden),
                Err(Forbidden),
                Ok(())
            ]
        );
        assert_eq!(
            [c.payer, c.stranger, c.manager, c.admin].map(|a| list_all_accounts(&a)),
            [false, false, true, true]
        );
    }

    #[test]
    fn system_accounts_are_seen_by_managers_only() {
        let c = cast();
        assert_eq!(
            table(&c, |a| read_account(a, None)),
            [Err(Hidden), Err(Hidden), Err(Hidden), Ok(()), Ok(())]
        );
        assert_eq!(
            table(&c, |a| transfer_from(a, None)),
            [
                Err(Hidden),
                Err(Hidden),
                Err(Hidden),
                Err(Forbidden),
                Err(Forbidden)
            ]
        );
    }

    #[test]
    fn transfers() {
        let c = cast();
        let (from, to) = (Some(c.payer.user_id), Some(c.payee.user_id));
        assert_eq!(
            table(&c, |a| read_transfer(a, from, to)),
            [Ok(()), Ok(()), Err(Hidden), Ok(()), Ok(())]
        );
    }

    #[test]
    fn transactions() {
        let c = cast();
        let owners = [Some(c.payer.user_id), None, Some(c.payee.user_id)];
        assert_eq!(
            table(&c, |a| read_transaction(a, &owners)),
            [Ok(()), Ok(()), Err(Hidden), Ok(()), Ok(())]
        );
        assert_eq!(
            table(&c, |a| read_transaction(a, &[None])),
            [Err(Hidden), Err(Hidden), Err(Hidden), Ok(()), Ok(())]
        );
    }

    type Rule = fn(&Actor, &PaymentParties) -> Decision;

    #[test]
    fn payments() {
        let c = cast();
        let p = parties(&c);
        let cases: [(&str, Rule, [Decision; 5]); 6] = [
            (
                "read",
                read_payment,
                [Ok(()), Ok(()), Err(Hidden), Ok(()), Ok(())],
            ),
            (
                "authorize",
                authorize_payment,
                [
                    Ok(()),
                    Err(Forbidden),
                    Err(Hidden),
                    Err(Forbidden),
                    Err(Forbidden),
                ],
            ),
            (
                "capture",
                capture_payment,
                [Err(Forbidden), Ok(()), Err(Hidden), Err(Forbidden), Ok(())],
            ),
            (
                "cancel",
                cancel_payment,
                [Ok(()), Ok(()), Err(Hidden), Ok(()), Ok(())],
            ),
            (
                "fail",
                fail_payment,
                [Err(Forbidden), Err(Forbidden), Err(Hidden), Ok(()), Ok(())],
            ),
            (
                "refund",
                refund_payment,
                [Err(Forbidden), Ok(()), Err(Hidden), Err(Forbidden), Ok(())],
            ),
        ];
        for (name, decide, expected) in cases {
            assert_eq!(table(&c, |a| decide(a, &p)), expected, "{name}");
        }
        assert_eq!(
            table(&c, |a| create_payment(a, p.payer_owner)),
            [
                Ok(()),
                Err(Hidden),
                Err(Hidden),
                Err(Forbidden),
                Err(Forbidden)
            ]
        );
    }

    #[test]
    fn holds() {
        let c = cast();
        let p = HoldParties {
            from_owner: Some(c.payer.user_id),
            to_owner: Some(c.payee.user_id),
        };
        type HoldRule = fn(&Actor, &HoldParties) -> Decision;
        let cases: [(&str, HoldRule, [Decision; 5]); 3] = [
            (
                "read",
                read_hold,
                [Ok(()), Ok(()), Err(Hidden), Ok(()), Ok(())],
            ),
            (
                "post",
                post_hold,
                [Ok(()), Ok(()), Err(Hidden), Err(Forbidden), Ok(())],
            ),
            (
                "void",
                void_hold,
                [Ok(()), Ok(()), Err(Hidden), Ok(()), Ok(())],
            ),
        ];
        for (name, decide, expected) in cases {
            assert_eq!(table(&c, |a| decide(a, &p)), expected, "{name}");
        }
        assert_eq!(
            table(&c, |a| create_hold(a, p.from_owner)),
            [Ok(()), Err(Hidden), Err(Hidden), Err(Forbidden), Ok(())]
        );
    }

    #[test]
    fn reads_of_others_data_by_staff_are_audited() {
        let c = cast();
        let owners = [Some(c.payer.user_id)];
        assert!(!is_audited_read(&c.payer, &owners));
        assert!(!is_audited_read(&c.stranger, &owners));
        assert!(is_audited_read(&c.manager, &owners));
        assert!(is_audited_read(&c.admin, &owners));
        assert!(!is_audited_read(&c.admin, &[Some(c.admin.user_id)]));
    }
}
