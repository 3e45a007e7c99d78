//! Transactions: up to [`MAX_POSTINGS`] postings applied in order, all or nothing. Each
//! posting is a transfer of its own (kind `transfer`, two lines summing to zero), so every
//! currency still nets to zero whatever the postings' currencies.
//!
//! The postings are applied to a scratch copy of the accounts they name, with scratch effects;
//! only when the last one passes do the copy and the effects replace the batch's. The first
//! refusal is returned with its posting's index, and the batch's ledger and effects are as they
//! were: no partial transaction can be written.

use crate::access::{self, Actor};
use crate::event::{EventObject, EventType, NewEvent};
use crate::ids::{AccountId, TransactionId, TransferId};
use crate::metadata::Metadata;
use crate::money::Money;
use crate::text::Description;
use crate::time::Timestamp;

use super::Step;
use super::events;
use super::model::{
    CommandResult, Effects, Ledger, Outcome, Refusal, TransactionLink, Transfer, TransferKind,
};
use super::movement::Movement;

/// The most postings one transaction may carry.
pub const MAX_POSTINGS: usize = 64;

/// One posting as asked for: money from one customer account to another, as transfer
/// `transfer_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPosting {
    pub transfer_id: TransferId,
    pub from: AccountId,
    pub to: AccountId,
    pub money: Money,
    pub description: Option<Description>,
}

/// 1 to [`MAX_POSTINGS`] postings, in the order they apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postings(Vec<NewPosting>);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PostingsError {
    #[error("must hold at least one posting")]
    Empty,
    #[error("must hold at most {MAX_POSTINGS} postings")]
    TooMany,
}

impl Postings {
    pub fn new(postings: Vec<NewPosting>) -> Result<Self, PostingsError> {
        if postings.is_empty() {
            Err(PostingsError::Empty)
        } else if postings.len() > MAX_POSTINGS {
            Err(PostingsError::TooMany)
        } else {
            Ok(Self(postings))
        }
    }

    pub fn as_slice(&self) -> &[NewPosting] {
        &self.0
    }

    /// Each posting with its index, which fits a `u8` since there are at most
    /// [`MAX_POSTINGS`].
    fn indexed(&self) -> impl Iterator<Item = (u8, &NewPosting)> {
        (0..=u8::MAX).zip(&self.0)
    }
}

/// A posted transaction: its postings as the transfers they became, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub id: TransactionId,
    pub postings: Vec<Transfer>,
    pub description: Option<Description>,
    pub metadata: Metadata,
    pub created_at: Timestamp,
}

impl Step<'_> {
    pub(super) fn post_transaction(
        &mut self,
        id: TransactionId,
        postings: &Postings,
        description: Option<Description>,
        metadata: Metadata,
    ) -> CommandResult {
        let actor = *self.actor()?;
        let named = postings
            .as_slice()
            .iter()
            .flat_map(|posting| [posting.from, posting.to]);
        let mut scratch = Ledger::new(
            named
                .filter_map(|account| self.ledger.account(account))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let mut scratch_effects = Effects::default();
        let mut transfers = Vec::with_capacity(postings.as_slice().len());
        for (index, posting) in postings.indexed() {
            let link = TransactionLink {
                id,
                posting_index: index,
            };
            let transfer = post_one(
                &mut scratch,
                &actor,
                link,
                posting,
                self.now,
                &mut scratch_effects,
            )
            .map_err(|reason| Refusal::Posting {
                index,
                reason: Box::new(reason),
            })?;
            transfers.push(transfer);
        }
        self.adopt(scratch, scratch_effects);
        let transaction = Transaction {
            id,
            postings: transfers,
            description,
            metadata,
            created_at: self.now,
        };
        self.effects
            .audit
            .push(events::transaction_event(&transaction, self.context));
        self.effects.transactions.push(transaction.clone());
        self.effects.events.push(NewEvent::new(
            EventType::TransactionCreated,
            EventObject::Transaction(transaction.clone()),
            self.now,
        ));
        Ok(Outcome::Transaction(transaction))
    }

    /// Makes the scratch accounts and effects of an accepted transaction the batch's own.
    fn adopt(&mut self, scratch: Ledger, effects: Effects) {
        for id in effects.changed {
            self.effects.account_changed(id);
        }
        self.effects.transfers.extend(effects.transfers);
        self.effects.entries.extend(effects.entries);
        self.effects.events.extend(effects.events);
        self.ledger.accounts.extend(scratch.accounts);
    }
}

/// One posting, checked in API.md's order (accounts visible, the caller may spend from the
/// source, distinct accounts, then the movement's own checks) and applied to `ledger`.
fn post_one(
    ledger: &mut Ledger,
    actor: &Actor,
    link: TransactionLink,
    posting: &NewPosting,
    now: Timestamp,
    effects: &mut Effects,
) -> Result<Transfer, Refusal> {
    let source = ledger.customer_account(posting.from)?;
    access::post_transaction_from(actor, source.owner_id)
        .map_err(|denied| Refusal::account_denied(denied, posting.from))?;
    ledger.customer_account(posting.to)?;
    if posting.from == posting.to {
        return Err(Refusal::SameAccount);
    }
    let movement = Movement {
        id: posting.transfer_id,
        kind: TransferKind::Transfer,
        from: posting.from,
        to: posting.to,
        money: posting.money,
        description: posting.description.clone(),
        metadata: Metadata::default(),
        hold_id: None,
    };
    Ok(movement
        .check(ledger)?
        .post_in(Some(link), ledger, now, effects))
}
