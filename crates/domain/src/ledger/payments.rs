//! The payment actions: each finds the payment, asks `access` whether the actor may, checks
//! that the payment's state allows the transition, and only then moves money or holds and
//! records the new state.

use chrono::TimeDelta;

use crate::access::{self, Actor, Decision, PaymentParties};
use crate::audit::{AuditAction, AuditContext};
use crate::event::{EventObject, EventType, NewEvent};
use crate::hold::Hold;
use crate::ids::{AccountId, HoldId, PaymentId, TransferId};
use crate::metadata::Metadata;
use crate::money::{Amount, Money};
use crate::payment::{
    AfterRefund, AnyPayment, AuthorizationCode, FailureReason, Payment, PaymentState, PaymentView,
    Pending, Terms, TooMuch,
};

use super::Step;
use super::events;
use super::holds::{NewHold, Post, refused};
use super::model::{
    Account, AccountStatus, CommandResult, Effects, Ledger, Outcome, Refusal, Transfer,
    TransferKind,
};
use super::movement::Movement;

impl Step<'_> {
    pub(super) fn create_payment(
        &mut self,
        id: PaymentId,
        payer: AccountId,
        payee: AccountId,
        money: Money,
        metadata: Metadata,
    ) -> CommandResult {
        let source = self.ledger.customer_account(payer)?;
        access::create_payment(self.actor()?, source.owner_id)
            .map_err(|denied| Refusal::account_denied(denied, payer))?;
        let target = self.ledger.customer_account(payee)?;
        if payer == payee {
            return Err(Refusal::SameAccount);
        }
        if source.currency != money.currency || target.currency != money.currency {
            return Err(Refusal::CurrencyMismatch);
        }
        // A frozen account sends nothing, not even the promise of a payment.
        if source.status == AccountStatus::Frozen {
            return Err(Refusal::AccountFrozen(source.id));
        }
        let payment = AnyPayment::Pending(Payment::new(Terms {
            id,
            payer_account_id: payer,
            payee_account_id: payee,
            money,
            metadata,
            created_at: self.now,
        }));
        let view = payment.view();
        self.effects.audit.push(events::payment_event(
            AuditAction::PaymentCreated,
            None,
            &view,
            None,
            self.context,
        ));
        self.effects.payments_opened.insert(id);
        self.effects.events.push(NewEvent::new(
            EventType::PaymentCreated,
            EventObject::Payment(view.clone()),
            self.now,
        ));
        self.ledger.payments.insert(id, payment);
        Ok(Outcome::Payment(view))
    }

    pub(super) fn authorize(
        &mut self,
        payment_id: PaymentId,
        hold_id: HoldId,
        code: &AuthorizationCode,
        ttl: TimeDelta,
    ) -> CommandResult {
        let payment = self.payment_for(payment_id, access::authorize_payment)?;
        let AnyPayment::Pending(pending) = payment.clone() else {
            return Err(Refusal::invalid(&payment, PaymentState::Authorized));
        };
        active_account(self.ledger, pending.terms().payer_account_id)?;
        // A hold towards a frozen payee could never be captured: it would only lock the
        // payer's money until it expires.
        active_account(self.ledger, pending.terms().payee_account_id)?;
        let terms = pending.terms();
        let taken = self.take_hold(NewHold {
            id: hold_id,
            from: terms.payer_account_id,
            to: terms.payee_account_id,
            money: terms.money,
            ttl,
            payment_id: Some(payment_id),
            metadata: Metadata::default(),
        });
        if let Err(Refusal::InsufficientFunds) = taken {
            return self.decline(payment, pending);
        }
        taken?;
        let authorized = AnyPayment::Authorized(pending.authorize(code.clone(), ttl, self.now));
        let view = self.record(
            (AuditAction::PaymentAuthorized, EventType::PaymentAuthorized),
            payment,
            authorized,
            None,
        );
        Ok(Outcome::Payment(view))
    }

    /// The payer cannot cover the authorization: the payment fails, and the request is told
    /// so.
    fn decline(&mut self, payment: AnyPayment, pending: Payment<Pending>) -> CommandResult {
        let reason = FailureReason::parse("insufficient_funds".to_owned())
            .map_err(|_| Refusal::InsufficientFunds)?;
        let failed = AnyPayment::Failed(pending.fail(reason, self.now));
        let view = self.record(
            (AuditAction::PaymentFailed, EventType::PaymentFailed),
            payment,
            failed,
            None,
        );
        Ok(Outcome::AuthorizationDeclined(view))
    }

    pub(super) fn capture(
        &mut self,
        payment_id: PaymentId,
        transfer_id: TransferId,
        amount: Option<Amount>,
    ) -> CommandResult {
        let payment = self.payment_for(payment_id, access::capture_payment)?;
        let AnyPayment::Authorized(authorized) = payment.clone() else {
            return Err(Refusal::invalid(&payment, PaymentState::Captured));
        };
        let hold = self.hold_of(payment_id)?;
        let captured = authorized
            .capture(amount, self.now)
            .map_err(|TooMuch(_)| Refusal::AmountExceedsAuthorized)?;
        let (amount, after) = hold
            .settle(Some(captured.captured()), self.now)
            .map_err(refused)?;
        let post = Post {
            id: transfer_id,
            kind: TransferKind::Capture,
            amount,
        };
        let transfer = self.post_from_hold(&hold, after, post)?;
        let captured = AnyPayment::Captured(captured);
        let view = self.record(
            (AuditAction::PaymentCaptured, EventType::PaymentCaptured),
            payment,
            captured,
            Some(&transfer),
        );
        Ok(Outcome::Payment(view))
    }

    pub(super) fn cancel_payment(&mut self, payment_id: PaymentId) -> CommandResult {
        let payment = self.payment_for(payment_id, access::cancel_payment)?;
        let canceled = match payment.clone() {
            AnyPayment::Pending(pending) => pending.cancel(self.now),
            AnyPayment::Authorized(authorized) => {
                let hold = self.hold_of(payment_id)?;
                let after = hold.void(self.now).map_err(refused)?;
                self.release_from_hold(&hold, after, self.context)?;
                authorized.cancel(self.now)
            }
            AnyPayment::Captured(_)
            | AnyPayment::Refunded(_)
            | AnyPayment::Failed(_)
            | AnyPayment::Canceled(_) => {
                return Err(Refusal::invalid(&payment, PaymentState::Canceled));
            }
        };
        let canceled = AnyPayment::Canceled(canceled);
        let view = self.record(
            (AuditAction::PaymentCanceled, EventType::PaymentCanceled),
            payment,
            canceled,
            None,
        );
        Ok(Outcome::Payment(view))
    }

    pub(super) fn fail_payment(
        &mut self,
        payment_id: PaymentId,
        reason: &FailureReason,
    ) -> CommandResult {
        let payment = self.payment_for(payment_id, access::fail_payment)?;
        let AnyPayment::Pending(pending) = payment.clone() else {
            return Err(Refusal::invalid(&payment, PaymentState::Failed));
        };
        let failed = AnyPayment::Failed(pending.fail(reason.clone(), self.now));
        let view = self.record(
            (AuditAction::PaymentFailed, EventType::PaymentFailed),
            payment,
            failed,
            None,
        );
        Ok(Outcome::Payment(view))
    }

    pub(super) fn refund(
        &mut self,
        payment_id: PaymentId,
        transfer_id: TransferId,
        amount: Option<Amount>,
    ) -> CommandResult {
        let payment = self.payment_for(payment_id, access::refund_payment)?;
        let AnyPayment::Captured(captured) = payment.clone() else {
            return Err(Refusal::invalid(&payment, PaymentState::Refunded));
        };
        let terms = captured.terms().clone();
        let (refunded, after) = captured
            .refund(amount, self.now)
            .map_err(|TooMuch(_)| Refusal::AmountExceedsRefundable)?;
        let transfer = Movement {
            id: transfer_id,
            kind: TransferKind::Refund,
            from: terms.payee_account_id,
            to: terms.payer_account_id,
            money: Money {
                amount: refunded,
                currency: terms.money.currency,
            },
            description: None,
            metadata: Metadata::default(),
            hold_id: None,
        }
        .check(self.ledger)?
        .post(self.ledger, self.now, self.effects);
        let after = match after {
            AfterRefund::Partly(captured) => AnyPayment::Captured(captured),
            AfterRefund::Fully(refunded) => AnyPayment::Refunded(refunded),
        };
        self.record(
            (AuditAction::PaymentRefunded, EventType::PaymentRefunded),
            payment,
            after,
            Some(&transfer),
        );
        Ok(Outcome::Transfer(transfer))
    }

    /// The authorization's hold has expired (see [`Step::expire_hold_if_due`]): the payment
    /// becomes `canceled` (`expired`), as the sweep's change (`context`).
    pub(super) fn expire_payment(
        &mut self,
        payment_id: PaymentId,
        context: &AuditContext,
    ) -> Result<(), Refusal> {
        let Some(AnyPayment::Authorized(authorized)) = self.ledger.payments.get(&payment_id) else {
            return Ok(());
        };
        let before = AnyPayment::Authorized(authorized.clone());
        let expired = AnyPayment::Canceled(authorized.clone().expire(self.now));
        let view = self.ledger.replace_payment(expired, self.effects);
        self.effects.audit.push(events::payment_event(
            AuditAction::PaymentExpired,
            Some(before),
            &view,
            None,
            context,
        ));
        self.effects.events.push(NewEvent::new(
            EventType::PaymentExpired,
            EventObject::Payment(view),
            self.now,
        ));
        Ok(())
    }

    /// The hold an authorized payment's authorization took.
    fn hold_of(&self, payment_id: PaymentId) -> Result<Hold, Refusal> {
        self.ledger
            .hold_of_payment(payment_id)
            .cloned()
            .ok_or(Refusal::PaymentHoldMissing(payment_id))
    }

    /// The payment, if the actor may act on it as `decide` says.
    fn payment_for(
        &self,
        payment_id: PaymentId,
        decide: fn(&Actor, &PaymentParties) -> Decision,
    ) -> Result<AnyPayment, Refusal> {
        let (payment, parties) = self.ledger.payment_for(payment_id)?;
        decide(self.actor()?, &parties)
            .map_err(|denied| Refusal::payment_denied(denied, payment_id))?;
        Ok(payment)
    }

    /// Stores the payment's new state, the audit event that records the change from `before`
    /// and the public event that announces it; returns its view.
    fn record(
        &mut self,
        (action, event): (AuditAction, EventType),
        before: AnyPayment,
        after: AnyPayment,
        transfer: Option<&Transfer>,
    ) -> PaymentView {
        let view = self.ledger.replace_payment(after, self.effects);
        self.effects.audit.push(events::payment_event(
            action,
            Some(before),
            &view,
            transfer,
            self.context,
        ));
        self.effects.events.push(NewEvent::new(
            event,
            EventObject::Payment(view.clone()),
            self.now,
        ));
        view
    }
}

/// An account a hold may be taken for or towards: present and not frozen.
fn active_account(ledger: &Ledger, id: AccountId) -> Result<&Account, Refusal> {
    let account = ledger.account(id).ok_or(Refusal::AccountNotFound(id))?;
    if account.status == AccountStatus::Frozen {
        return Err(Refusal::AccountFrozen(account.id));
    }
    Ok(account)
}

impl Ledger {
    /// A payment and the owners of its two accounts, which decide who may touch it.
    fn payment_for(&self, id: PaymentId) -> Result<(AnyPayment, PaymentParties), Refusal> {
        let payment = self.payments.get(&id).ok_or(Refusal::PaymentNotFound(id))?;
        let terms = payment.terms();
        let owner = |account| self.account(account).and_then(|account| account.owner_id);
        let parties = PaymentParties {
            payer_owner: owner(terms.payer_account_id),
            payee_owner: owner(terms.payee_account_id),
        };
        Ok((payment.clone(), parties))
    }

    /// Stores the payment's new state; returns its view.
    fn replace_payment(&mut self, payment: AnyPayment, effects: &mut Effects) -> PaymentView {
        let id = payment.terms().id;
        if !effects.payments_opened.contains(&id) {
            effects.payments_changed.insert(id);
        }
        let view = payment.view();
        self.payments.insert(id, payment);
        view
    }
}
