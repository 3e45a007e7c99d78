//! A customer account's balance limits (API.md "Balance limits"): how far below zero its
//! available balance may go and how high its balance may rise, the one rule every movement and
//! hold is checked against ([`BalanceLimits::admit`]), and what an admin's change to them comes
//! to.

use crate::ids::AccountId;
use crate::money::{Amount, AmountError, Currency, SignedMinor};

use super::model::{Account, Refusal};

/// A limit in minor units: zero or more, at most [`Amount::MAX_MINOR`]. Zero is a limit, not
/// its absence: an overdraft limit of zero keeps the account at or above zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LimitAmount(i64);

impl LimitAmount {
    pub const ZERO: LimitAmount = LimitAmount(0);

    pub fn from_minor(minor: i64) -> Result<Self, AmountError> {
        match minor {
            0 => Ok(Self::ZERO),
            _ => Amount::from_minor(minor).map(|amount| Self(amount.minor())),
        }
    }

    /// A decimal string of at most `currency`'s scale, as amounts are written, zero included.
    pub fn parse(text: &str, currency: Currency) -> Result<Self, AmountError> {
        match Amount::parse(text, currency) {
            Ok(amount) => Ok(Self(amount.minor())),
            Err(AmountError::Zero) => Ok(Self::ZERO),
            Err(error) => Err(error),
        }
    }

    pub const fn minor(&self) -> i64 {
        self.0
    }

    pub fn format(&self, currency: Currency) -> String {
        SignedMinor::new(self.0).format(currency)
    }
}

/// How far a customer account may go: its available balance (balance minus holds) down to
/// `-overdraft_limit`, its balance up to `max_balance` when there is one. A system account
/// has none: it carries the currency's money in and out, whatever that comes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct BalanceLimits {
    pub overdraft_limit: LimitAmount,
    pub max_balance: Option<LimitAmount>,
}

impl BalanceLimits {
    /// The defaults: never below zero, no ceiling.
    pub const DEFAULT: BalanceLimits = BalanceLimits {
        overdraft_limit: LimitAmount::ZERO,
        max_balance: None,
    };

    /// The one limit rule: whether a customer account `account_id` may hold `balance` with
    /// `held` of it on hold. Funds first: a movement that both overdraws and overflows is
    /// refused for the funds, the order API.md lists. The balance is held to the floor as well
    /// as the available balance, so that even a (corrupt) negative hold cannot lower it.
    pub fn admit(
        &self,
        account_id: AccountId,
        balance: SignedMinor,
        held: SignedMinor,
    ) -> Result<(), Refusal> {
        let floor = SignedMinor::new(self.overdraft_limit.minor().saturating_neg());
        let available = balance
            .checked_sub(held)
            .ok_or(Refusal::BalanceLimit(account_id))?;
        if balance < floor || available < floor {
            return Err(Refusal::InsufficientFunds);
        }
        match self.max_balance {
            Some(max) if balance > SignedMinor::new(max.minor()) => {
                Err(Refusal::BalanceLimitExceeded(account_id))
            }
            _ => Ok(()),
        }
    }
}

/// An admin's change to an account's limits: each field `None` is left as it is;
/// `max_balance: Some(None)` removes the ceiling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitsChange {
    pub overdraft_limit: Option<LimitAmount>,
    pub max_balance: Option<Option<LimitAmount>>,
}

impl LimitsChange {
    pub fn is_empty(&self) -> bool {
        self.overdraft_limit.is_none() && self.max_balance.is_none()
    }

    /// The limits `account` would have after this change, if they differ from its own:
    /// refused on a system account, which has none, and when the account already breaks them,
    /// so that every account always stands within its own.
    pub(super) fn decide(&self, account: &Account) -> Result<Option<BalanceLimits>, Refusal> {
        if self.is_empty() {
            return Ok(None);
        }
        if account.is_system() {
            return Err(Refusal::SystemAccountLimits(account.id));
        }
        let before = account.limits;
        let after = BalanceLimits {
            overdraft_limit: self.overdraft_limit.unwrap_or(before.overdraft_limit),
            max_balance: self.max_balance.unwrap_or(before.max_balance),
        };
        if after == before {
            return Ok(None);
        }
        after
            .admit(account.id, account.balance, account.held)
            .map_err(|_| Refusal::LimitsBreached(account.id))?;
        Ok(Some(after))
    }
}
