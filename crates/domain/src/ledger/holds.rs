//! The hold actions (API.md "Holds"), and the hold a payment's authorization takes: each finds
//! the hold, asks `access` whether the actor may, lets [`Hold`] check the transition, and only
//! then changes the accounts' holds and balances and records the new state.

use chrono::TimeDelta;

use crate::access::{self, Actor, Decision, HoldParties};
use crate::audit::{AuditAction, AuditContext};
use crate::event::{EventObject, EventType, NewEvent};
use crate::hold::{Hold, HoldRefusal, HoldState, HoldTerms, HoldView};
use crate::ids::{AccountId, HoldId, PaymentId, TransferId};
use crate::metadata::Metadata;
use crate::money::{Amount, Money, SignedMinor};

use super::Step;
use super::events;
use super::model::{
    AccountStatus, CommandResult, Effects, Ledger, Outcome, Refusal, Transfer, TransferKind,
};
use super::movement::{HoldChange, Movement};

/// The transfer a post makes.
pub(super) struct Post {
    pub(super) id: TransferId,
    pub(super) kind: TransferKind,
    pub(super) amount: Amount,
}

/// What a new hold is: who reserves what for whom, for how long, and for which payment.
pub(super) struct NewHold {
    pub(super) id: HoldId,
    pub(super) from: AccountId,
    pub(super) to: AccountId,
    pub(super) money: Money,
    pub(super) ttl: TimeDelta,
    pub(super) payment_id: Option<PaymentId>,
    pub(super) metadata: Metadata,
}

impl Step<'_> {
    /// A client's hold (`new.payment_id` is `None`).
    pub(super) fn create_hold(&mut self, new: NewHold) -> CommandResult {
        let (from, to, money) = (new.from, new.to, new.money);
        let source = self.ledger.customer_account(from)?;
        access::create_hold(self.actor()?, source.owner_id)
            .map_err(|denied| Refusal::account_denied(denied, from))?;
        let target = self.ledger.customer_account(to)?;
        if from == to {
            return Err(Refusal::SameAccount);
        }
        if source.currency != money.currency || target.currency != money.currency {
            return Err(Refusal::CurrencyMismatch);
        }
        let view = self.take_hold(new)?;
        Ok(Outcome::Hold(view))
    }

    /// Reserves the money on the source, recorded as a new hold. Both accounts must be active:
    /// a hold towards a frozen account could never be posted, it would only lock the money
    /// until it expires.
    pub(super) fn take_hold(&mut self, new: NewHold) -> Result<HoldView, Refusal> {
        for id in [new.from, new.to] {
            let account = self
                .ledger
                .account(id)
                .ok_or(Refusal::AccountNotFound(id))?;
            if account.status == AccountStatus::Frozen {
                return Err(Refusal::AccountFrozen(id));
            }
        }
        let reserve = HoldChange::hold(self.ledger, new.from, SignedMinor::from(new.money.amount))?;
        reserve.apply(self.ledger, self.now, self.effects);
        let hold = Hold::new(HoldTerms {
            id: new.id,
            from_account_id: new.from,
            to_account_id: new.to,
            money: new.money,
            payment_id: new.payment_id,
            metadata: new.metadata,
            expires_at: self.now.deadline_after(new.ttl),
            created_at: self.now,
        });
        let view = hold.view();
        self.effects.audit.push(events::hold_event(
            AuditAction::HoldCreated,
            None,
            &view,
            None,
            self.context,
        ));
        self.effects.holds_opened.insert(new.id);
        self.effects.events.push(NewEvent::new(
            EventType::HoldCreated,
            EventObject::Hold(view.clone()),
            self.now,
        ));
        self.ledger.holds.insert(new.id, hold);
        Ok(view)
    }

    pub(super) fn post_hold(
        &mut self,
        hold_id: HoldId,
        transfer_id: TransferId,
        amount: Option<Amount>,
    ) -> CommandResult {
        let hold = self.hold_for(hold_id, access::post_hold)?;
        let (amount, after) = hold.post(amount, self.now).map_err(refused)?;
        let post = Post {
            id: transfer_id,
            kind: TransferKind::Transfer,
            amount,
        };
        let transfer = self.post_from_hold(&hold, after, post)?;
        Ok(Outcome::Transfer(transfer))
    }

    pub(super) fn void_hold(&mut self, hold_id: HoldId) -> CommandResult {
        let hold = self.hold_for(hold_id, access::void_hold)?;
        let after = hold.void(self.now).map_err(refused)?;
        let view = self.release_from_hold(&hold, after, self.context)?;
        Ok(Outcome::Hold(view))
    }

    /// The sweep's answer: the hold as it stands once expired if it was due.
    pub(super) fn expired_hold(&self, hold_id: HoldId) -> CommandResult {
        self.ledger
            .hold(hold_id)
            .map(|hold| Outcome::Hold(hold.view()))
            .ok_or(Refusal::HoldNotFound(hold_id))
    }

    /// A hold past its deadline no longer holds money: it becomes `expired` before anything
    /// else touches it, whatever that is, and so does the authorization of its payment. A
    /// payment's hold expires only with its payment loaded, so the two never part: a command
    /// that names the hold alone is refused anyway (it moves only through its payment).
    pub(super) fn expire_hold_if_due(&mut self, hold_id: HoldId) -> Result<(), Refusal> {
        let Some(hold) = self
            .ledger
            .hold(hold_id)
            .filter(|hold| hold.is_due(self.now))
        else {
            return Ok(());
        };
        if let Some(payment_id) = hold.terms().payment_id
            && self.ledger.payment(payment_id).is_none()
        {
            return Ok(());
        }
        let hold = hold.clone();
        let after = hold.expire(self.now).map_err(refused)?;
        // The sweep, not the request that happened to touch it, expires the hold.
        let context = AuditContext {
            actor_id: None,
            ..self.context.clone()
        };
        self.release_from_hold(&hold, after, &context)?;
        if let Some(payment_id) = hold.terms().payment_id {
            self.expire_payment(payment_id, &context)?;
        }
        Ok(())
    }

    /// Ends `before` as `after` without moving money (void, expiry, a payment's cancellation):
    /// what it held goes back to the source's available balance.
    pub(super) fn release_from_hold(
        &mut self,
        before: &Hold,
        after: Hold,
        context: &AuditContext,
    ) -> Result<HoldView, Refusal> {
        let release = self.release_of(before, &after)?;
        release.apply(self.ledger, self.now, self.effects);
        Ok(self.record_hold(before, after, None, context))
    }

    /// Moves `post` from `before`'s source to its destination, releasing from the source's
    /// holds what `after` no longer holds: both are checked before either is made.
    pub(super) fn post_from_hold(
        &mut self,
        before: &Hold,
        after: Hold,
        post: Post,
    ) -> Result<Transfer, Refusal> {
        let terms = before.terms();
        let release = self.release_of(before, &after)?;
        let posting = Movement {
            id: post.id,
            kind: post.kind,
            from: terms.from_account_id,
            to: terms.to_account_id,
            money: Money {
                amount: post.amount,
                currency: terms.money.currency,
            },
            description: None,
            metadata: Metadata::default(),
            hold_id: Some(terms.id),
        }
        .check_after(self.ledger, Some(&release))?;
        release.apply(self.ledger, self.now, self.effects);
        let transfer = posting.post(self.ledger, self.now, self.effects);
        self.record_hold(before, after, Some(&transfer), self.context);
        Ok(transfer)
    }

    /// The change to the source's holds from `before` to `after`.
    fn release_of(&self, before: &Hold, after: &Hold) -> Result<HoldChange, Refusal> {
        let account = before.terms().from_account_id;
        let freed = held_minor(before)
            .checked_sub(held_minor(after))
            .ok_or(Refusal::BalanceLimit(account))?;
        HoldChange::release(self.ledger, account, freed)
    }

    /// Stores the hold's new state and the event that records the change from `before`.
    fn record_hold(
        &mut self,
        before: &Hold,
        after: Hold,
        transfer: Option<&Transfer>,
        context: &AuditContext,
    ) -> HoldView {
        let (action, event) = match after.state() {
            HoldState::Held | HoldState::Posted => (AuditAction::HoldPosted, EventType::HoldPosted),
            HoldState::Voided => (AuditAction::HoldVoided, EventType::HoldVoided),
            HoldState::Expired => (AuditAction::HoldExpired, EventType::HoldExpired),
        };
        let view = self.ledger.replace_hold(after, self.effects);
        self.effects.audit.push(events::hold_event(
            action,
            Some(before.state()),
            &view,
            transfer,
            context,
        ));
        self.effects.events.push(NewEvent::new(
            event,
            EventObject::Hold(view.clone()),
            self.now,
        ));
        view
    }

    /// The hold, if the actor may act on it as `decide` says and it is not a payment's (which
    /// moves only through its payment).
    fn hold_for(
        &self,
        hold_id: HoldId,
        decide: fn(&Actor, &HoldParties) -> Decision,
    ) -> Result<Hold, Refusal> {
        let hold = self
            .ledger
            .hold(hold_id)
            .ok_or(Refusal::HoldNotFound(hold_id))?;
        let terms = hold.terms();
        let owner = |account| {
            self.ledger
                .account(account)
                .and_then(|account| account.owner_id)
        };
        let parties = HoldParties {
            from_owner: owner(terms.from_account_id),
            to_owner: owner(terms.to_account_id),
        };
        decide(self.actor()?, &parties).map_err(|denied| Refusal::hold_denied(denied, hold_id))?;
        if terms.payment_id.is_some() {
            return Err(Refusal::HoldOfPayment(hold_id));
        }
        Ok(hold.clone())
    }
}

/// What the hold still holds, as a signed number (zero once nothing is).
fn held_minor(hold: &Hold) -> SignedMinor {
    hold.held().map_or(SignedMinor::ZERO, SignedMinor::from)
}

pub(super) fn refused(refusal: HoldRefusal) -> Refusal {
    match refusal {
        HoldRefusal::InvalidState { from, to } => Refusal::HoldInvalidState { from, to },
        HoldRefusal::ExceedsHeld => Refusal::AmountExceedsHeld,
    }
}

impl Ledger {
    /// Stores the hold's new state; returns its view.
    fn replace_hold(&mut self, hold: Hold, effects: &mut Effects) -> HoldView {
        let id = hold.terms().id;
        if !effects.holds_opened.contains(&id) {
            effects.holds_changed.insert(id);
        }
        let view = hold.view();
        self.holds.insert(id, hold);
        view
    }
}
