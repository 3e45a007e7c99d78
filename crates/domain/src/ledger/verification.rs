//! `ledger/verify`: the ledger's invariants, recomputed over every account.

use std::collections::BTreeMap;
use std::fmt;

use crate::ids::{AccountId, UserId};
use crate::money::{Currency, SignedMinor};

use super::limits::BalanceLimits;

/// One account as `ledger/verify` sees it: its cached balance and holds, the sum of its ledger
/// lines, and what its `held` holds still hold, recomputed from their rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCheck {
    pub id: AccountId,
    pub owner_id: Option<UserId>,
    pub currency: Currency,
    pub balance: SignedMinor,
    pub held: SignedMinor,
    pub limits: BalanceLimits,
    pub lines_sum: SignedMinor,
    pub holds_sum: SignedMinor,
}

/// The sum of every balance of one currency, system account included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CurrencySum {
    pub currency: Currency,
    pub sum: SignedMinor,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerReport {
    pub ok: bool,
    pub currencies: Vec<CurrencySum>,
    pub accounts_checked: u64,
    /// Accounts whose balance is not the sum of their lines, whose holds are not what their
    /// `held` holds still hold, or that are customer accounts outside their limits
    /// (available below `-overdraft_limit`, balance above `max_balance`).
    pub mismatched_accounts: Vec<AccountId>,
}

impl fmt::Display for LedgerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} accounts checked", self.accounts_checked)?;
        for sum in &self.currencies {
            write!(
                f,
                ", {} sums to {}",
                sum.currency,
                sum.sum.format(sum.currency)
            )?;
        }
        if !self.mismatched_accounts.is_empty() {
            let ids: Vec<String> = self
                .mismatched_accounts
                .iter()
                .map(ToString::to_string)
                .collect();
            write!(f, "; mismatched accounts: {}", ids.join(", "))?;
        }
        Ok(())
    }
}

/// The ledger invariants over every account: each balance equals the sum of its lines, its
/// `held` what its `held` holds still hold, each currency sums to zero, and every customer
/// account stands within its limits.
pub fn verify(accounts: impl IntoIterator<Item = AccountCheck>) -> LedgerReport {
    let mut check = LedgerCheck::default();
    for account in accounts {
        check.add(account);
    }
    check.report()
}

/// [`verify`] one account at a time, so that a backend can stream the accounts: what it keeps
/// grows with the currencies and the accounts that do not add up, not with the ledger.
#[derive(Debug, Default)]
pub struct LedgerCheck {
    sums: BTreeMap<Currency, Option<SignedMinor>>,
    mismatched: Vec<AccountId>,
    checked: u64,
}

impl LedgerCheck {
    pub fn add(&mut self, account: AccountCheck) {
        self.checked = self.checked.saturating_add(1);
        let sum = self
            .sums
            .entry(account.currency)
            .or_insert(Some(SignedMinor::ZERO));
        *sum = sum.and_then(|sum| sum.checked_add(account.balance));
        let outside_limits = account.owner_id.is_some()
            && account
                .limits
                .admit(account.id, account.balance, account.held)
                .is_err();
        let stale = account.balance != account.lines_sum || account.held != account.holds_sum;
        if stale || account.held.is_negative() || outside_limits {
            self.mismatched.push(account.id);
        }
    }

    pub fn report(self) -> LedgerReport {
        // A sum past i64 is as wrong as a non-zero one; it shows as the largest magnitude.
        let currencies: Vec<CurrencySum> = self
            .sums
            .into_iter()
            .map(|(currency, sum)| CurrencySum {
                currency,
                sum: sum.unwrap_or(SignedMinor::new(i64::MAX)),
            })
            .collect();
        let ok =
            self.mismatched.is_empty() && currencies.iter().all(|sum| sum.sum == SignedMinor::ZERO);
        LedgerReport {
            ok,
            currencies,
            accounts_checked: self.checked,
            mismatched_accounts: self.mismatched,
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn verify_names_every_broken_invariant() {
        let owner = Some(UserId::new());
        let check = |owner, balance, held, lines| AccountCheck {
            id: AccountId::new(),
            owner_id: owner,
            currency: eur(),
            balance: SignedMinor::new(balance),
            held: SignedMinor::new(held),
            limits: BalanceLimits::DEFAULT,
            lines_sum: SignedMinor::new(lines),
            holds_sum: SignedMinor::new(held),
        };
        let good = [check(owner, 500, 100, 500), check(None, -500, 0, -500)];
        let report = verify(good.clone());
        assert!(report.ok, "{report}");
        assert_eq!(report.accounts_checked, 2);
        assert_eq!(report.currencies[0].sum, SignedMinor::ZERO);

        let stale = check(owner, 500, 0, 400);
        let unheld = AccountCheck {
            holds_sum: SignedMinor::new(50),
            ..check(owner, 500, 0, 500)
        };
        let overheld = check(owner, 100, 200, 100);
        let negative = check(owner, -5, 0, -5);
        let report = verify([
            stale.clone(),
            unheld.clone(),
            overheld.clone(),
            negative.clone(),
            good[1].clone(),
        ]);
        assert!(!report.ok);
        assert_eq!(
            report.mismatched_accounts,
            vec![stale.id, unheld.id, overheld.id, negative.id]
        );

        let unbalanced = verify([check(owner, 10, 0, 10)]);
        assert!(!unbalanced.ok);
        assert!(unbalanced.mismatched_accounts.is_empty());
        assert_eq!(unbalanced.currencies[0].sum.minor(), 10);
    }
}
