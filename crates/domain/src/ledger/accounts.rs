//! Opening an account and freezing or unfreezing it.

use crate::access;
use crate::ids::{AccountId, UserId};
use crate::money::{Currency, SignedMinor};
use crate::text::AccountName;

use super::Step;
use super::events;
use super::limits::BalanceLimits;
use super::model::{Account, AccountStatus, CommandResult, Outcome, Refusal};

impl Step<'_> {
    pub(super) fn open_account(
        &mut self,
        id: AccountId,
        owner_id: UserId,
        currency: Currency,
        name: Option<AccountName>,
    ) -> CommandResult {
        access::create_account(self.actor()?, owner_id).map_err(|_| Refusal::Forbidden)?;
        let account = Account {
            id,
            owner_id: Some(owner_id),
            currency,
            name,
            balance: SignedMinor::ZERO,
            held: SignedMinor::ZERO,
            status: AccountStatus::Active,
            limits: BalanceLimits::DEFAULT,
            created_at: self.now,
            updated_at: self.now,
        };
        self.effects
            .audit
            .push(events::account_opened(&account, self.context));
        self.effects.opened.insert(account.id);
        self.ledger.accounts.insert(account.id, account.clone());
        Ok(Outcome::Account(account))
    }

    pub(super) fn set_status(
        &mut self,
        account_id: AccountId,
        status: AccountStatus,
    ) -> CommandResult {
        access::freeze_account(self.actor()?).map_err(|_| Refusal::Forbidden)?;
        let account = self
            .ledger
            .accounts
            .get_mut(&account_id)
            .ok_or(Refusal::AccountNotFound(account_id))?;
        // Unfreezing stays allowed, so one frozen before this rule can still be repaired.
        if account.is_system() && status == AccountStatus::Frozen {
            return Err(Refusal::SystemAccountFreeze(account_id));
        }
        if account.status != status {
            let before = account.status;
            account.status = status;
            account.updated_at = self.now;
            self.effects
                .audit
                .push(events::status_changed(account, before, self.context));
            self.effects.account_changed(account_id);
        }
        Ok(Outcome::Account(account.clone()))
    }
}
