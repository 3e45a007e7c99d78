//! Opening an account, freezing or unfreezing it, and changing its limits and metadata.

use crate::access;
use crate::audit::ResourceType;
use crate::event::{EventObject, EventType, NewEvent};
use crate::ids::{AccountId, UserId};
use crate::metadata::{Metadata, MetadataPatch};
use crate::money::{Currency, SignedMinor};
use crate::text::AccountName;

use super::Step;
use super::events;
use super::limits::{BalanceLimits, LimitsChange};
use super::model::{Account, AccountStatus, CommandResult, Outcome, Refusal};

impl Step<'_> {
    pub(super) fn open_account(
        &mut self,
        id: AccountId,
        owner_id: UserId,
        currency: Currency,
        name: Option<AccountName>,
        metadata: Metadata,
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
            metadata,
            created_at: self.now,
            updated_at: self.now,
        };
        self.effects
            .audit
            .push(events::account_opened(&account, self.context));
        self.effects.opened.insert(account.id);
        self.effects.events.push(NewEvent::new(
            EventType::AccountCreated,
            EventObject::Account(account.clone()),
            self.now,
        ));
        self.ledger.accounts.insert(account.id, account.clone());
        Ok(Outcome::Account(account))
    }

    /// `PATCH /v1/accounts/{id}`: each part asked for is allowed to its own callers (limits to
    /// admins, metadata to the owner and admins; asking for nothing, to whoever may read the
    /// account) and decided in full before either changes; a part that changes nothing is
    /// neither written nor recorded.
    pub(super) fn update_account(
        &mut self,
        account_id: AccountId,
        limits: LimitsChange,
        metadata: Option<&MetadataPatch>,
    ) -> CommandResult {
        let actor = *self.actor()?;
        let account = self
            .ledger
            .accounts
            .get_mut(&account_id)
            .ok_or(Refusal::AccountNotFound(account_id))?;
        let denied = |denied| Refusal::account_denied(denied, account_id);
        // Who may not see the account learns nothing more, whatever the update asks for.
        access::read_account(&actor, account.owner_id).map_err(denied)?;
        if !limits.is_empty() {
            access::set_account_limits(&actor, account.owner_id).map_err(denied)?;
        }
        if metadata.is_some() {
            access::update_account_metadata(&actor, account.owner_id).map_err(denied)?;
        }
        let new_limits = limits.decide(account)?;
        let new_metadata = match metadata {
            Some(patch) => Some(
                account
                    .metadata
                    .merged(patch)
                    .map_err(|_| Refusal::TooManyMetadataKeys)?,
            )
            .filter(|merged| *merged != account.metadata),
            None => None,
        };
        let changed = new_limits.is_some() || new_metadata.is_some();
        if let Some(after) = new_limits {
            let before = account.limits;
            account.limits = after;
            self.effects
                .audit
                .push(events::limits_changed(account, before, self.context));
        }
        if let Some(after) = new_metadata {
            let before = std::mem::replace(&mut account.metadata, after);
            self.effects.audit.push(events::metadata_changed(
                ResourceType::Account,
                account_id.to_string(),
                &before,
                &account.metadata,
                self.context,
            ));
        }
        if changed {
            account.updated_at = self.now;
            self.effects.account_changed(account_id);
            self.effects.events.push(NewEvent::new(
                EventType::AccountUpdated,
                EventObject::Account(account.clone()),
                self.now,
            ));
        }
        Ok(Outcome::Account(account.clone()))
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
            self.effects.events.push(NewEvent::new(
                EventType::AccountUpdated,
                EventObject::Account(account.clone()),
                self.now,
            ));
        }
        Ok(Outcome::Account(account.clone()))
    }
}
