//! A hold (API.md "Holds"): money reserved on one account for another, a two-phase transfer.
//! Its amount is split three ways at every moment, `amount = held + posted + released`:
//!
//! ```text
//! held ──post (part)──▶ held ──post (the rest)──▶ posted
//!   │  └──settle (a part, the rest released)──▶ posted
//!   ├──void───▶ voided     (what is left is released)
//!   └──expire─▶ expired    (what is left is released)
//! ```
//!
//! A [`Hold`]'s fields are private and each transition checks its amount, so no value of the
//! type posts more than it holds or moves once it is no longer `held`. [`HoldView`] is its flat
//! form, the columns and the JSON fields.

use std::fmt;

use crate::ids::{AccountId, HoldId, PaymentId};
use crate::metadata::Metadata;
use crate::money::{Amount, Currency, Money};
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HoldState {
    /// Some of the amount is still reserved.
    Held,
    /// Nothing is left: all of it moved, or the part a settle did not move was released.
    Posted,
    /// Released on request.
    Voided,
    /// Released because its deadline passed.
    Expired,
}

impl HoldState {
    pub const ALL: [HoldState; 4] = [Self::Held, Self::Posted, Self::Voided, Self::Expired];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Posted => "posted",
            Self::Voided => "voided",
            Self::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == text)
    }
}

impl fmt::Display for HoldState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a hold is about; fixed at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldTerms {
    pub id: HoldId,
    pub from_account_id: AccountId,
    pub to_account_id: AccountId,
    pub money: Money,
    /// The payment whose authorization this is: such a hold moves only through its payment.
    pub payment_id: Option<PaymentId>,
    /// The client's labels (none on a payment's).
    pub metadata: Metadata,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// A hold in any state, with how much of its amount has been posted and released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    terms: HoldTerms,
    state: HoldState,
    /// Posted so far, never more than the amount.
    posted: Option<Amount>,
    /// Released when the hold ended; nothing while it is `held`.
    released: Option<Amount>,
    updated_at: Timestamp,
}

/// Why a transition was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HoldRefusal {
    #[error("a {from} hold cannot become {to}")]
    InvalidState { from: HoldState, to: HoldState },
    #[error("the amount exceeds what is still held")]
    ExceedsHeld,
}

impl Hold {
    /// A new hold of the whole amount.
    pub fn new(terms: HoldTerms) -> Self {
        let now = terms.created_at;
        Self {
            terms,
            state: HoldState::Held,
            posted: None,
            released: None,
            updated_at: now,
        }
    }

    pub fn terms(&self) -> &HoldTerms {
        &self.terms
    }

    pub fn state(&self) -> HoldState {
        self.state
    }

    pub fn posted(&self) -> Option<Amount> {
        self.posted
    }

    pub fn released(&self) -> Option<Amount> {
        self.released
    }

    /// What is still reserved: `None` once nothing is.
    pub fn held(&self) -> Option<Amount> {
        match self.state {
            HoldState::Held => match self.posted {
                Some(posted) => self.terms.money.amount.checked_sub(posted),
                None => Some(self.terms.money.amount),
            },
            HoldState::Posted | HoldState::Voided | HoldState::Expired => None,
        }
    }

    /// Still held with its deadline at or before `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.state == HoldState::Held && self.terms.expires_at <= now
    }

    /// Moves `amount` (all that is held if `None`); the hold stays `held` until nothing is left.
    /// Returns what moved and the hold after.
    pub fn post(
        &self,
        amount: Option<Amount>,
        now: Timestamp,
    ) -> Result<(Amount, Hold), HoldRefusal> {
        let held = self.held_for(HoldState::Posted)?;
        let amount = amount.unwrap_or(held);
        let state = match Self::left_after(held, amount)? {
            Some(_) => HoldState::Held,
            None => HoldState::Posted,
        };
        let posted = self.add_posted(amount)?;
        Ok((amount, self.with_state(state, Some(posted), None, now)))
    }

    /// Moves `amount` (all that is held if `None`) and releases the rest: the hold is `posted`.
    /// A payment's capture: it captures once.
    pub fn settle(
        &self,
        amount: Option<Amount>,
        now: Timestamp,
    ) -> Result<(Amount, Hold), HoldRefusal> {
        let held = self.held_for(HoldState::Posted)?;
        let amount = amount.unwrap_or(held);
        let released = Self::left_after(held, amount)?;
        let posted = self.add_posted(amount)?;
        Ok((
            amount,
            self.with_state(HoldState::Posted, Some(posted), released, now),
        ))
    }

    /// Releases what is left on request.
    pub fn void(&self, now: Timestamp) -> Result<Hold, HoldRefusal> {
        self.release(HoldState::Voided, now)
    }

    /// Releases what is left once the deadline has passed.
    pub fn expire(&self, now: Timestamp) -> Result<Hold, HoldRefusal> {
        self.release(HoldState::Expired, now)
    }

    fn release(&self, to: HoldState, now: Timestamp) -> Result<Hold, HoldRefusal> {
        let held = self.held_for(to)?;
        Ok(self.with_state(to, self.posted, Some(held), now))
    }

    /// What is held, if the hold may become `to`.
    fn held_for(&self, to: HoldState) -> Result<Amount, HoldRefusal> {
        self.held().ok_or(HoldRefusal::InvalidState {
            from: self.state,
            to,
        })
    }

    /// What is left held once `amount` of `held` moves: `None` if nothing.
    fn left_after(held: Amount, amount: Amount) -> Result<Option<Amount>, HoldRefusal> {
        if amount > held {
            return Err(HoldRefusal::ExceedsHeld);
        }
        Ok(held.checked_sub(amount))
    }

    fn add_posted(&self, amount: Amount) -> Result<Amount, HoldRefusal> {
        match self.posted {
            Some(posted) => posted.checked_add(amount).ok_or(HoldRefusal::ExceedsHeld),
            None => Ok(amount),
        }
    }

    fn with_state(
        &self,
        state: HoldState,
        posted: Option<Amount>,
        released: Option<Amount>,
        now: Timestamp,
    ) -> Self {
        Self {
            terms: self.terms.clone(),
            state,
            posted,
            released,
            updated_at: now,
        }
    }

    /// The flat form: what the database stores and the API prints.
    pub fn view(&self) -> HoldView {
        let minor = |amount: Option<Amount>| amount.map_or(0, |amount| amount.minor());
        HoldView {
            id: self.terms.id,
            from_account_id: self.terms.from_account_id,
            to_account_id: self.terms.to_account_id,
            amount: self.terms.money.amount,
            currency: self.terms.money.currency,
            state: self.state,
            posted_minor: minor(self.posted),
            released_minor: minor(self.released),
            held_minor: minor(self.held()),
            payment_id: self.terms.payment_id,
            metadata: self.terms.metadata.clone(),
            expires_at: self.terms.expires_at,
            created_at: self.terms.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A hold flattened: one field per column and per JSON field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldView {
    pub id: HoldId,
    pub from_account_id: AccountId,
    pub to_account_id: AccountId,
    pub amount: Amount,
    pub currency: Currency,
    pub state: HoldState,
    pub posted_minor: i64,
    pub released_minor: i64,
    /// Derived (`amount - posted - released`); not stored.
    pub held_minor: i64,
    pub payment_id: Option<PaymentId>,
    pub metadata: Metadata,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A stored hold that is in no state the type allows: only an edit behind the store's back
/// produces one (the database's CHECKs forbid it too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hold {id} is not a valid {state} hold: {what}")]
pub struct CorruptHold {
    pub id: HoldId,
    pub state: HoldState,
    pub what: &'static str,
}

impl HoldView {
    /// Back into a hold, checking that its amounts add up as its state implies.
    /// `held_minor` is derived, so it is not read.
    pub fn into_hold(self) -> Result<Hold, CorruptHold> {
        let bad = |what| CorruptHold {
            id: self.id,
            state: self.state,
            what,
        };
        let amount_or_none = |minor: i64, what| match minor {
            0 => Ok(None),
            minor => Amount::from_minor(minor).map(Some).map_err(|_| bad(what)),
        };
        let posted = amount_or_none(self.posted_minor, "posted_amount")?;
        let released = amount_or_none(self.released_minor, "released_amount")?;
        let moved = self
            .posted_minor
            .checked_add(self.released_minor)
            .ok_or_else(|| bad("amounts"))?;
        let full = self.amount.minor();
        let fits = match self.state {
            HoldState::Held => released.is_none() && moved < full,
            HoldState::Posted => posted.is_some() && moved == full,
            HoldState::Voided | HoldState::Expired => released.is_some() && moved == full,
        };
        if !fits {
            return Err(bad("amounts"));
        }
        Ok(Hold {
            terms: HoldTerms {
                id: self.id,
                from_account_id: self.from_account_id,
                to_account_id: self.to_account_id,
                money: Money {
                    amount: self.amount,
                    currency: self.currency,
                },
                payment_id: self.payment_id,
                metadata: self.metadata,
                expires_at: self.expires_at,
                created_at: self.created_at,
            },
            state: self.state,
            posted,
            released,
            updated_at: self.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn amount(minor: i64) -> Amount {
        Amount::from_minor(minor).unwrap()
    }

    fn hold(minor: i64) -> Hold {
        let now = Timestamp::now();
        Hold::new(HoldTerms {
            id: HoldId::new(),
            from_account_id: AccountId::new(),
            to_account_id: AccountId::new(),
            money: Money {
                amount: amount(minor),
                currency: Currency::parse("EUR").unwrap(),
            },
            payment_id: None,
            metadata: Metadata::default(),
            expires_at: now.deadline_after(TimeDelta::seconds(60)),
            created_at: now,
        })
    }

    #[test]
    fn states_print_and_parse_as_the_api_and_the_stores_spell_them() {
        let spelled: Vec<String> = HoldState::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(spelled, ["held", "posted", "voided", "expired"]);
        for state in HoldState::ALL {
            assert_eq!(HoldState::parse(state.as_str()), Some(state));
        }
        assert_eq!(HoldState::parse("pending"), None);
    }

    #[test]
    fn partial_posts_accumulate_until_nothing_is_left() {
        let now = Timestamp::now();
        let (moved, first) = hold(1_000).post(Some(amount(300)), now).unwrap();
        assert_eq!(moved, amount(300));
        assert_eq!(first.state(), HoldState::Held);
        assert_eq!(first.held(), Some(amount(700)));
        assert_eq!(first.released(), None);
        assert_eq!(
            first.post(Some(amount(701)), now),
            Err(HoldRefusal::ExceedsHeld)
        );
        let (moved, rest) = first.post(None, now).unwrap();
        assert_eq!(moved, amount(700));
        assert_eq!(rest.state(), HoldState::Posted);
        assert_eq!(rest.posted(), Some(amount(1_000)));
        assert_eq!(rest.held(), None);
        assert_eq!(
            rest.void(now),
            Err(HoldRefusal::InvalidState {
                from: HoldState::Posted,
                to: HoldState::Voided
            })
        );
    }

    #[test]
    fn settle_posts_once_and_releases_the_rest() {
        let now = Timestamp::now();
        let (moved, settled) = hold(1_000).settle(Some(amount(400)), now).unwrap();
        assert_eq!(moved, amount(400));
        assert_eq!(settled.released(), Some(amount(600)));
        assert_eq!(settled.posted(), Some(amount(400)));
        assert_eq!(settled.state(), HoldState::Posted);
        let (moved, whole) = hold(1_000).settle(None, now).unwrap();
        assert_eq!((moved, whole.released()), (amount(1_000), None));
        assert_eq!(
            hold(5).settle(Some(amount(6)), now),
            Err(HoldRefusal::ExceedsHeld)
        );
    }

    #[test]
    fn void_and_expiry_release_what_is_left() {
        let now = Timestamp::now();
        let (_, posted) = hold(1_000).post(Some(amount(250)), now).unwrap();
        let voided = posted.void(now).unwrap();
        assert_eq!(voided.released(), Some(amount(750)));
        assert_eq!(voided.posted(), Some(amount(250)));
        assert_eq!(voided.state(), HoldState::Voided);
        let expired = posted.expire(now).unwrap();
        assert_eq!(expired.state(), HoldState::Expired);
        assert_eq!(
            expired.post(None, now),
            Err(HoldRefusal::InvalidState {
                from: HoldState::Expired,
                to: HoldState::Posted
            })
        );
    }

    #[test]
    fn a_hold_is_due_at_its_deadline_while_held() {
        let held = hold(10);
        let deadline = held.terms().expires_at;
        assert!(!held.is_due(Timestamp::from_datetime(
            deadline.as_datetime() - TimeDelta::microseconds(1)
        )));
        assert!(held.is_due(deadline));
        assert!(!held.void(deadline).unwrap().is_due(deadline));
    }

    #[test]
    fn every_state_round_trips_through_its_view_and_bad_views_are_refused() {
        let now = Timestamp::now();
        let held = hold(1_000);
        let (_, part) = held.post(Some(amount(1)), now).unwrap();
        let all = [
            held.clone(),
            part.clone(),
            part.post(None, now).unwrap().1,
            held.settle(Some(amount(10)), now).unwrap().1,
            part.void(now).unwrap(),
            held.expire(now).unwrap(),
        ];
        for hold in all {
            let view = hold.view();
            assert_eq!(
                view.held_minor + view.posted_minor + view.released_minor,
                1_000
            );
            assert_eq!(view.clone().into_hold(), Ok(hold), "{view:?}");
        }
        let broken = |edit: fn(&mut HoldView)| {
            let mut view = part.view();
            edit(&mut view);
            view.into_hold()
        };
        assert!(broken(|view| view.released_minor = 5).is_err());
        assert!(broken(|view| view.posted_minor = 1_000).is_err());
        assert!(broken(|view| view.posted_minor = -1).is_err());
        assert!(broken(|view| view.state = HoldState::Posted).is_err());
        assert!(broken(|view| view.state = HoldState::Voided).is_err());
        assert!(
            broken(|view| {
                view.state = HoldState::Posted;
                view.posted_minor = 0;
                view.released_minor = 1_000;
            })
            .is_err()
        );
        assert!(
            broken(|view| {
                view.state = HoldState::Expired;
                view.posted_minor = 1_000;
                view.released_minor = 0;
            })
            .is_err()
        );
        assert!(
            broken(|view| {
                view.posted_minor = i64::MAX;
                view.released_minor = 1;
            })
            .is_err()
        );
    }
}
