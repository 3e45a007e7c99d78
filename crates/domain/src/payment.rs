//! The payment as a typestate (API.md "Payments"): each state is its own type, and each
//! transition consumes the old state and exists only where API.md draws an arrow:
//!
//! ```text
//! pending ──authorize──▶ authorized ──capture──▶ captured ──refund (all)──▶ refunded
//!    │  └────cancel────┐     │ cancel, expire        └─refund (part)─▶ captured
//!    └─fail─▶ failed   ▼     ▼
//!                     canceled
//! ```
//!
//! [`AnyPayment`] holds a payment in whichever state it is, for storage and for the ledger;
//! [`PaymentView`] is its flat form, the columns and the JSON fields.

use std::fmt;

use chrono::TimeDelta;

use crate::ids::{AccountId, PaymentId};
use crate::metadata::Metadata;
use crate::money::{Amount, Currency, Money};
use crate::text::Text;
use crate::time::Timestamp;

/// Why a payment failed or was canceled by expiry: `insufficient_funds`, `expired`, or what a
/// manager wrote.
pub type FailureReason = Text<200>;

/// An authorization's reference, given to the payer's side. Generated from a CSPRNG outside
/// this crate (it is randomness, which `domain` does not do).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthorizationCode(String);

impl AuthorizationCode {
    pub fn new(code: String) -> Self {
        Self(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a payment is about; fixed at creation, but for its metadata, which `PATCH` changes
/// outside the payment's transitions (see `relabel`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub id: PaymentId,
    pub payer_account_id: AccountId,
    pub payee_account_id: AccountId,
    pub money: Money,
    pub metadata: Metadata,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    code: AuthorizationCode,
    expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    code: AuthorizationCode,
    captured: Amount,
    /// Refunded so far; always below `captured` (all of it makes the payment `Refunded`).
    refunded: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refunded {
    code: AuthorizationCode,
    captured: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    reason: FailureReason,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canceled {
    /// Set if it was authorized before.
    code: Option<AuthorizationCode>,
    /// `expired` when the authorization ran out; none for a cancellation.
    reason: Option<FailureReason>,
}

/// A payment in state `S`. Its fields are private: a payment in any state but `Pending` is
/// made only by its transition, or read back from storage by [`PaymentView::into_payment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment<S> {
    terms: Terms,
    state: S,
    updated_at: Timestamp,
}

impl<S> Payment<S> {
    pub fn terms(&self) -> &Terms {
        &self.terms
    }

    fn into<T>(self, state: T, now: Timestamp) -> Payment<T> {
        Payment {
            terms: self.terms,
            state,
            updated_at: now,
        }
    }
}

/// A capture or refund asked for more than the payment allows; the payment is given back
/// unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooMuch<P>(pub Box<P>);

impl Payment<Pending> {
    pub fn new(terms: Terms) -> Self {
        let now = terms.created_at;
        Self {
            terms,
            state: Pending,
            updated_at: now,
        }
    }

    /// Holds the whole amount until `now + ttl`.
    pub fn authorize(
        self,
        code: AuthorizationCode,
        ttl: TimeDelta,
        now: Timestamp,
    ) -> Payment<Authorized> {
        let expires_at = now.deadline_after(ttl);
        self.into(Authorized { code, expires_at }, now)
    }

    pub fn fail(self, reason: FailureReason, now: Timestamp) -> Payment<Failed> {
        self.into(Failed { reason }, now)
    }

    pub fn cancel(self, now: Timestamp) -> Payment<Canceled> {
        self.into(
            Canceled {
                code: None,
                reason: None,
            },
            now,
        )
    }
}

impl Payment<Authorized> {
    /// The amount held: all of it.
    pub fn held(&self) -> Amount {
        self.terms.money.amount
    }

    /// Captures `amount` (the whole authorization if `None`); the rest of the hold is released.
    pub fn capture(
        self,
        amount: Option<Amount>,
        now: Timestamp,
    ) -> Result<Payment<Captured>, TooMuch<Self>> {
        let captured = amount.unwrap_or(self.held());
        if captured > self.held() {
            return Err(TooMuch(Box::new(self)));
        }
        let code = self.state.code.clone();
        Ok(self.into(
            Captured {
                code,
                captured,
                refunded: None,
            },
            now,
        ))
    }

    pub fn cancel(self, now: Timestamp) -> Payment<Canceled> {
        let code = Some(self.state.code.clone());
        self.into(Canceled { code, reason: None }, now)
    }

    pub fn expire(self, now: Timestamp) -> Payment<Canceled> {
        let code = Some(self.state.code.clone());
        let reason = FailureReason::parse("expired".to_owned()).ok();
        self.into(Canceled { code, reason }, now)
    }
}

/// A refund leaves the payment captured (partly refunded) or refunded (in full).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterRefund {
    Partly(Payment<Captured>),
    Fully(Payment<Refunded>),
}

impl Payment<Captured> {
    /// What was captured, refunds not deducted.
    pub fn captured(&self) -> Amount {
        self.state.captured
    }

    /// What may still be refunded.
    pub fn refundable(&self) -> Amount {
        match self.state.refunded {
            // `refunded < captured` always holds in this state, so the difference is positive.
            Some(refunded) => self
                .state
                .captured
                .checked_sub(refunded)
                .unwrap_or(self.state.captured),
            None => self.state.captured,
        }
    }

    /// Refunds `amount` (all that is refundable if `None`).
    pub fn refund(
        self,
        amount: Option<Amount>,
        now: Timestamp,
    ) -> Result<(Amount, AfterRefund), TooMuch<Self>> {
        let refundable = self.refundable();
        let amount = amount.unwrap_or(refundable);
        if amount > refundable {
            return Err(TooMuch(Box::new(self)));
        }
        let code = self.state.code.clone();
        let captured = self.state.captured;
        let after = match self
            .state
            .refunded
            .map_or(Some(amount), |r| r.checked_add(amount))
        {
            Some(total) if total < captured => AfterRefund::Partly(self.into(
                Captured {
                    code,
                    captured,
                    refunded: Some(total),
                },
                now,
            )),
            _ => AfterRefund::Fully(self.into(Refunded { code, captured }, now)),
        };
        Ok((amount, after))
    }
}

/// A payment in any state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyPayment {
    Pending(Payment<Pending>),
    Authorized(Payment<Authorized>),
    Captured(Payment<Captured>),
    Refunded(Payment<Refunded>),
    Failed(Payment<Failed>),
    Canceled(Payment<Canceled>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentState {
    Pending,
    Authorized,
    Captured,
    Refunded,
    Failed,
    Canceled,
}

impl PaymentState {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Authorized => "authorized",
            Self::Captured => "captured",
            Self::Refunded => "refunded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Authorized,
            Self::Captured,
            Self::Refunded,
            Self::Failed,
            Self::Canceled,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

impl fmt::Display for PaymentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AnyPayment {
    pub fn terms(&self) -> &Terms {
        match self {
            Self::Pending(p) => &p.terms,
            Self::Authorized(p) => &p.terms,
            Self::Captured(p) => &p.terms,
            Self::Refunded(p) => &p.terms,
            Self::Failed(p) => &p.terms,
            Self::Canceled(p) => &p.terms,
        }
    }

    pub fn state(&self) -> PaymentState {
        match self {
            Self::Pending(_) => PaymentState::Pending,
            Self::Authorized(_) => PaymentState::Authorized,
            Self::Captured(_) => PaymentState::Captured,
            Self::Refunded(_) => PaymentState::Refunded,
            Self::Failed(_) => PaymentState::Failed,
            Self::Canceled(_) => PaymentState::Canceled,
        }
    }

    /// The flat form: what the database stores and the API prints.
    pub fn view(&self) -> PaymentView {
        let terms = self.terms();
        let zero = 0;
        let full = terms.money.amount.minor();
        let (authorized, captured, refunded, code, reason, expires_at, updated_at) = match self {
            Self::Pending(p) => (zero, zero, zero, None, None, None, p.updated_at),
            Self::Authorized(p) => (
                full,
                zero,
                zero,
                Some(&p.state.code),
                None,
                Some(p.state.expires_at),
                p.updated_at,
            ),
            Self::Captured(p) => (
                full,
                p.state.captured.minor(),
                p.state.refunded.map_or(zero, |r| r.minor()),
                Some(&p.state.code),
                None,
                None,
                p.updated_at,
            ),
            Self::Refunded(p) => (
                full,
                p.state.captured.minor(),
                p.state.captured.minor(),
                Some(&p.state.code),
                None,
                None,
                p.updated_at,
            ),
            Self::Failed(p) => (
                zero,
                zero,
                zero,
                None,
                Some(&p.state.reason),
                None,
                p.updated_at,
            ),
            Self::Canceled(p) => (
                zero,
                zero,
                zero,
                p.state.code.as_ref(),
                p.state.reason.as_ref(),
                None,
                p.updated_at,
            ),
        };
        PaymentView {
            id: terms.id,
            payer_account_id: terms.payer_account_id,
            payee_account_id: terms.payee_account_id,
            amount: terms.money.amount,
            currency: terms.money.currency,
            state: self.state(),
            authorized_minor: authorized,
            captured_minor: captured,
            refunded_minor: refunded,
            authorization_code: code.map(|code| code.as_str().to_owned()),
            failure_reason: reason.map(|reason| reason.as_str().to_owned()),
            expires_at,
            metadata: terms.metadata.clone(),
            created_at: terms.created_at,
            updated_at,
        }
    }
}

/// A payment flattened: one field per column and per JSON field. Amounts not applicable to
/// the state are zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentView {
    pub id: PaymentId,
    pub payer_account_id: AccountId,
    pub payee_account_id: AccountId,
    pub amount: Amount,
    pub currency: Currency,
    pub state: PaymentState,
    pub authorized_minor: i64,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub authorization_code: Option<String>,
    pub failure_reason: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

fn make<S>(terms: &Terms, updated_at: Timestamp, state: S) -> Payment<S> {
    Payment {
        terms: terms.clone(),
        state,
        updated_at,
    }
}

/// A stored payment that is in no state the types allow: only an edit behind the store's back
/// produces one (the database's CHECKs forbid it too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payment {id} is not a valid {state} payment: {what}")]
pub struct CorruptPayment {
    pub id: PaymentId,
    pub state: PaymentState,
    pub what: &'static str,
}

impl PaymentView {
    /// Back into its typed state, checking every field the state implies.
    pub fn into_payment(self) -> Result<AnyPayment, CorruptPayment> {
        let bad = |what| CorruptPayment {
            id: self.id,
            state: self.state,
            what,
        };
        let terms = Terms {
            id: self.id,
            payer_account_id: self.payer_account_id,
            payee_account_id: self.payee_account_id,
            money: Money {
                amount: self.amount,
                currency: self.currency,
            },
            metadata: self.metadata.clone(),
            created_at: self.created_at,
        };
        let full = self.amount.minor();
        let code = self.authorization_code.clone().map(AuthorizationCode);
        let reason = self
            .failure_reason
            .clone()
            .map(FailureReason::parse)
            .transpose()
            .map_err(|_| bad("failure_reason"))?;
        let updated_at = self.updated_at;
        let none_moved = self.captured_minor == 0 && self.refunded_minor == 0;
        let amounts_fit = match self.state {
            PaymentState::Pending => none_moved && self.authorized_minor == 0 && code.is_none(),
            PaymentState::Authorized => none_moved && self.authorized_minor == full,
            PaymentState::Captured => self.refunded_minor < self.captured_minor,
            PaymentState::Refunded => self.refunded_minor == self.captured_minor,
            PaymentState::Failed | PaymentState::Canceled => none_moved,
        };
        if !amounts_fit {
            return Err(bad("amounts"));
        }
        Ok(match self.state {
            PaymentState::Pending => AnyPayment::Pending(make(&terms, updated_at, Pending)),
            PaymentState::Authorized => AnyPayment::Authorized(make(
                &terms,
                updated_at,
                Authorized {
                    code: code.ok_or_else(|| bad("authorization_code"))?,
                    expires_at: self.expires_at.ok_or_else(|| bad("expires_at"))?,
                },
            )),
            PaymentState::Captured => AnyPayment::Captured(make(
                &terms,
                updated_at,
                Captured {
                    code: code.ok_or_else(|| bad("authorization_code"))?,
                    captured: Amount::from_minor(self.captured_minor)
                        .ok()
                        .filter(|captured| captured.minor() <= full)
                        .ok_or_else(|| bad("captured_amount"))?,
                    refunded: match self.refunded_minor {
                        0 => None,
                        minor => {
                            Some(Amount::from_minor(minor).map_err(|_| bad("refunded_amount"))?)
                        }
                    },
                },
            )),
            PaymentState::Refunded => AnyPayment::Refunded(make(
                &terms,
                updated_at,
                Refunded {
                    code: code.ok_or_else(|| bad("authorization_code"))?,
                    captured: Amount::from_minor(self.captured_minor)
                        .ok()
                        .filter(|captured| captured.minor() <= full)
                        .ok_or_else(|| bad("captured_amount"))?,
                },
            )),
            PaymentState::Failed => AnyPayment::Failed(make(
                &terms,
                updated_at,
                Failed {
                    reason: reason.ok_or_else(|| bad("failure_reason"))?,
                },
            )),
            PaymentState::Canceled => {
                AnyPayment::Canceled(make(&terms, updated_at, Canceled { code, reason }))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(minor: i64) -> Payment<Pending> {
        Payment::new(Terms {
            id: PaymentId::new(),
            payer_account_id: AccountId::new(),
            payee_account_id: AccountId::new(),
            money: Money {
                amount: Amount::from_minor(minor).unwrap(),
                currency: Currency::parse("EUR").unwrap(),
            },
            metadata: Metadata::default(),
            created_at: Timestamp::now(),
        })
    }

    fn code() -> AuthorizationCode {
        AuthorizationCode::new("CODE".into())
    }

    fn amount(minor: i64) -> Amount {
        Amount::from_minor(minor).unwrap()
    }

    #[test]
    fn capture_is_bounded_by_the_authorization() {
        let now = Timestamp::now();
        let authorized = pending(1_000).authorize(code(), TimeDelta::hours(1), now);
        let TooMuch(authorized) = authorized.capture(Some(amount(1_001)), now).unwrap_err();
        let authorized = *authorized;
        let captured = authorized.capture(Some(amount(600)), now).unwrap();
        assert_eq!(captured.state.captured, amount(600));
        assert_eq!(captured.refundable(), amount(600));
    }

    #[test]
    fn refunds_add_up_to_the_captured_amount_and_no_further() {
        let now = Timestamp::now();
        let captured = pending(1_000)
            .authorize(code(), TimeDelta::hours(1), now)
            .capture(None, now)
            .unwrap();
        let (refunded, after) = captured.refund(Some(amount(300)), now).unwrap();
        assert_eq!(refunded, amount(300));
        let AfterRefund::Partly(captured) = after else {
            panic!("{after:?}")
        };
        assert_eq!(captured.refundable(), amount(700));
        let TooMuch(captured) = captured.refund(Some(amount(701)), now).unwrap_err();
        let captured = *captured;
        let (rest, after) = captured.refund(None, now).unwrap();
        assert_eq!(rest, amount(700));
        assert!(matches!(after, AfterRefund::Fully(_)));
    }

    #[test]
    fn an_authorization_expires_at_its_deadline() {
        let now = Timestamp::now();
        let authorized = pending(5).authorize(code(), TimeDelta::seconds(30), now);
        let later = Timestamp::from_datetime(now.as_datetime() + TimeDelta::seconds(30));
        let canceled = authorized.expire(later);
        let view = AnyPayment::Canceled(canceled).view();
        assert_eq!(view.failure_reason.as_deref(), Some("expired"));
        assert_eq!(view.authorization_code.as_deref(), Some("CODE"));
    }

    #[test]
    fn every_state_round_trips_through_its_view_and_bad_views_are_refused() {
        let now = Timestamp::now();
        let reason = FailureReason::parse("card declined".into()).unwrap();
        let authorized = pending(1_000).authorize(code(), TimeDelta::hours(1), now);
        let captured = authorized.clone().capture(Some(amount(400)), now).unwrap();
        let (_, partly) = captured.clone().refund(Some(amount(100)), now).unwrap();
        let AfterRefund::Partly(partly) = partly else {
            panic!()
        };
        let (_, fully) = captured.clone().refund(None, now).unwrap();
        let AfterRefund::Fully(fully) = fully else {
            panic!()
        };
        let all = [
            AnyPayment::Pending(pending(1)),
            AnyPayment::Authorized(authorized.clone()),
            AnyPayment::Captured(captured),
            AnyPayment::Captured(partly),
            AnyPayment::Refunded(fully),
            AnyPayment::Failed(pending(1).fail(reason, now)),
            AnyPayment::Canceled(pending(1).cancel(now)),
            AnyPayment::Canceled(authorized.expire(now)),
        ];
        for payment in all {
            let view = payment.view();
            assert_eq!(view.clone().into_payment(), Ok(payment), "{view:?}");
        }
        let mut view = AnyPayment::Pending(pending(1)).view();
        view.captured_minor = 1;
        assert!(view.into_payment().is_err());
        let mut view = AnyPayment::Pending(pending(10)).view();
        view.state = PaymentState::Refunded;
        view.captured_minor = 10;
        view.refunded_minor = 5;
        assert!(view.into_payment().is_err());
    }
}
