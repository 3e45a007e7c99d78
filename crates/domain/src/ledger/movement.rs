//! Money moving between accounts (transfers, deposits, withdrawals, and the transfers of
//! captures and refunds) and holds taken and released. Each is checked in full first, into a
//! value that can no longer be refused, and only that value changes the ledger.

use std::borrow::Cow;
use std::ops::Neg;

use crate::access;
use crate::event::{EventObject, EventType, NewEvent};
use crate::ids::{AccountId, EntryId, HoldId, TransferId};
use crate::metadata::Metadata;
use crate::money::{Money, SignedMinor};
use crate::text::Description;
use crate::time::Timestamp;

use super::Step;
use super::events;
use super::model::{
    Account, AccountStatus, CommandResult, Effects, Entry, Ledger, MAX_BALANCE_MINOR, Outcome,
    Refusal, TransactionLink, Transfer, TransferKind,
};

impl Step<'_> {
    pub(super) fn transfer(
        &mut self,
        id: TransferId,
        from: AccountId,
        to: AccountId,
        money: Money,
        description: Option<Description>,
        metadata: Metadata,
    ) -> CommandResult {
        let source = self.ledger.customer_account(from)?;
        access::transfer_from(self.actor()?, source.owner_id)
            .map_err(|denied| Refusal::account_denied(denied, from))?;
        self.ledger.customer_account(to)?;
        if from == to {
            return Err(Refusal::SameAccount);
        }
        self.move_money(Movement {
            id,
            kind: TransferKind::Transfer,
            from,
            to,
            money,
            description,
            metadata,
            hold_id: None,
        })
    }

    /// Money entering from the currency's system account.
    pub(super) fn deposit(
        &mut self,
        id: TransferId,
        account_id: AccountId,
        money: Money,
        description: Option<Description>,
        metadata: Metadata,
    ) -> CommandResult {
        access::deposit(self.actor()?).map_err(|_| Refusal::Forbidden)?;
        self.ledger.customer_account(account_id)?;
        let system = self.ledger.system_account(money.currency)?.id;
        self.move_money(Movement {
            id,
            kind: TransferKind::Deposit,
            from: system,
            to: account_id,
            money,
            description,
            metadata,
            hold_id: None,
        })
    }

    /// Money leaving to the currency's system account.
    pub(super) fn withdraw(
        &mut self,
        id: TransferId,
        account_id: AccountId,
        money: Money,
        description: Option<Description>,
        metadata: Metadata,
    ) -> CommandResult {
        let account = self.ledger.customer_account(account_id)?;
        access::withdraw(self.actor()?, account.owner_id)
            .map_err(|denied| Refusal::account_denied(denied, account_id))?;
        let system = self.ledger.system_account(money.currency)?.id;
        self.move_money(Movement {
            id,
            kind: TransferKind::Withdrawal,
            from: account_id,
            to: system,
            money,
            description,
            metadata,
            hold_id: None,
        })
    }

    /// A transfer, deposit or withdrawal: the movement and the event that records it.
    fn move_money(&mut self, movement: Movement) -> CommandResult {
        let transfer = movement
            .check(self.ledger)?
            .post(self.ledger, self.now, self.effects);
        self.effects
            .audit
            .push(events::transfer_event(&transfer, self.context));
        Ok(Outcome::Transfer(transfer))
    }
}

/// A movement between two distinct accounts the ledger holds, decided after access checks.
pub(super) struct Movement {
    pub(super) id: TransferId,
    pub(super) kind: TransferKind,
    pub(super) from: AccountId,
    pub(super) to: AccountId,
    pub(super) money: Money,
    pub(super) description: Option<Description>,
    pub(super) metadata: Metadata,
    /// The hold it posts, if any.
    pub(super) hold_id: Option<HoldId>,
}

/// A movement that passed every check, with the balance each side will have after it.
pub(super) struct Posting {
    movement: Movement,
    from_after: SignedMinor,
    to_after: SignedMinor,
}

impl Movement {
    /// The remaining checks in API.md's order (currency, frozen, funds, ceiling), on the accounts as
    /// the ledger holds them.
    pub(super) fn check(self, ledger: &Ledger) -> Result<Posting, Refusal> {
        self.check_after(ledger, None)
    }

    /// The same checks on the accounts as they will stand once `hold` has changed one of
    /// them: a post spends the hold it releases.
    pub(super) fn check_after(
        self,
        ledger: &Ledger,
        hold: Option<&HoldChange>,
    ) -> Result<Posting, Refusal> {
        let (from, to) = match (ledger.account(self.from), ledger.account(self.to)) {
            (Some(from), Some(to)) => (from, to),
            (None, _) => return Err(Refusal::AccountNotFound(self.from)),
            (_, None) => return Err(Refusal::AccountNotFound(self.to)),
        };
        let [from, to] = [from, to].map(|account| match hold {
            Some(hold) => hold.applied_to(account),
            None => Cow::Borrowed(account),
        });
        if from.currency != self.money.currency || to.currency != self.money.currency {
            return Err(Refusal::CurrencyMismatch);
        }
        for account in [&from, &to] {
            if account.status == AccountStatus::Frozen {
                return Err(Refusal::AccountFrozen(account.id));
            }
        }
        let amount = SignedMinor::from(self.money.amount);
        Ok(Posting {
            from_after: debit(&from, amount)?,
            to_after: credit(&to, amount)?,
            movement: self,
        })
    }
}

impl Posting {
    /// Writes the two lines and the balances they leave.
    pub(super) fn post(
        self,
        ledger: &mut Ledger,
        now: Timestamp,
        effects: &mut Effects,
    ) -> Transfer {
        self.post_in(None, ledger, now, effects)
    }

    /// [`Posting::post`], as a posting of the transaction `transaction` names, if any.
    pub(super) fn post_in(
        self,
        transaction: Option<TransactionLink>,
        ledger: &mut Ledger,
        now: Timestamp,
        effects: &mut Effects,
    ) -> Transfer {
        let Self {
            movement,
            from_after,
            to_after,
        } = self;
        let transfer = Transfer {
            id: movement.id,
            kind: movement.kind,
            from_account_id: movement.from,
            to_account_id: movement.to,
            amount: movement.money.amount,
            currency: movement.money.currency,
            description: movement.description,
            metadata: movement.metadata,
            hold_id: movement.hold_id,
            transaction,
            created_at: now,
        };
        for (account_id, line, balance_after) in [
            (movement.from, movement.money.amount.neg(), from_after),
            (
                movement.to,
                SignedMinor::from(movement.money.amount),
                to_after,
            ),
        ] {
            if let Some(account) = ledger.accounts.get_mut(&account_id) {
                account.balance = balance_after;
                account.updated_at = now;
            }
            effects.account_changed(account_id);
            effects.entries.push(Entry {
                id: EntryId::new(),
                transfer_id: transfer.id,
                account_id,
                amount: line,
                balance_after,
                currency: transfer.currency,
                created_at: now,
            });
        }
        effects.transfers.push(transfer.clone());
        effects.events.push(NewEvent::new(
            EventType::TransferCreated,
            EventObject::Transfer(transfer.clone()),
            now,
        ));
        transfer
    }
}

/// The balance after `amount` leaves `account`, within the account's limits, its holds
/// counted, and never below `-MAX_BALANCE_MINOR`.
fn debit(account: &Account, amount: SignedMinor) -> Result<SignedMinor, Refusal> {
    let after = account
        .balance
        .checked_sub(amount)
        .filter(|after| after.minor() >= MAX_BALANCE_MINOR.saturating_neg())
        .ok_or(Refusal::BalanceLimit(account.id))?;
    account.admits(after, account.held)?;
    Ok(after)
}

/// The balance after `amount` reaches `account`, within the account's limits and never above
/// `MAX_BALANCE_MINOR`.
fn credit(account: &Account, amount: SignedMinor) -> Result<SignedMinor, Refusal> {
    let after = account
        .balance
        .checked_add(amount)
        .filter(|after| after.minor() <= MAX_BALANCE_MINOR)
        .ok_or(Refusal::BalanceLimit(account.id))?;
    account.admits(after, account.held)?;
    Ok(after)
}

/// A change to one account's holds that passed its checks, with the holds it leaves.
pub(super) struct HoldChange {
    account_id: AccountId,
    held: SignedMinor,
}

impl HoldChange {
    /// Adds `amount` to the account's holds; a customer's available balance stays within its
    /// limits.
    pub(super) fn hold(
        ledger: &Ledger,
        account_id: AccountId,
        amount: SignedMinor,
    ) -> Result<Self, Refusal> {
        Self::check(ledger, account_id, amount)
    }

    pub(super) fn release(
        ledger: &Ledger,
        account_id: AccountId,
        amount: SignedMinor,
    ) -> Result<Self, Refusal> {
        let negated = SignedMinor::ZERO
            .checked_sub(amount)
            .ok_or(Refusal::BalanceLimit(account_id))?;
        Self::check(ledger, account_id, negated)
    }

    fn check(ledger: &Ledger, account_id: AccountId, delta: SignedMinor) -> Result<Self, Refusal> {
        let account = ledger
            .account(account_id)
            .ok_or(Refusal::AccountNotFound(account_id))?;
        let held = account
            .held
            .checked_add(delta)
            .filter(|held| !held.is_negative())
            .ok_or(Refusal::BalanceLimit(account_id))?;
        account.admits(account.balance, held)?;
        Ok(Self { account_id, held })
    }

    /// `account` as it will stand once this change is made.
    fn applied_to<'a>(&self, account: &'a Account) -> Cow<'a, Account> {
        if account.id == self.account_id {
            Cow::Owned(Account {
                held: self.held,
                ..account.clone()
            })
        } else {
            Cow::Borrowed(account)
        }
    }

    pub(super) fn apply(self, ledger: &mut Ledger, now: Timestamp, effects: &mut Effects) {
        if let Some(account) = ledger.accounts.get_mut(&self.account_id) {
            account.held = self.held;
            account.updated_at = now;
        }
        effects.account_changed(self.account_id);
    }
}
