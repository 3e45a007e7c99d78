//! What the ledger is made of: accounts, transfers and their lines, the ledger a batch works
//! on, what a command produces or why it is refused, and the effects a backend writes.

use std::collections::{BTreeMap, BTreeSet};

use crate::access::Denied;
use crate::audit::NewAuditEvent;
use crate::event::NewEvent;
use crate::hold::{Hold, HoldState, HoldView};
use crate::ids::{AccountId, EntryId, HoldId, PaymentId, TransactionId, TransferId, UserId};
use crate::metadata::Metadata;
use crate::money::{Amount, Currency, SignedMinor};
use crate::payment::{AnyPayment, PaymentState, PaymentView};
use crate::text::{AccountName, Description};
use crate::time::Timestamp;

use super::limits::BalanceLimits;
use super::transactions::Transaction;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    Active,
    Frozen,
}

impl AccountStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Frozen => "frozen",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Active, Self::Frozen]
            .into_iter()
            .find(|status| status.as_str() == text)
    }
}

/// A ledger account. `owner_id` is `None` only for the system account of its currency, through
/// which money enters and leaves, and which alone has no limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub owner_id: Option<UserId>,
    pub currency: Currency,
    pub name: Option<AccountName>,
    /// Posted money: the sum of the account's ledger lines.
    pub balance: SignedMinor,
    /// The sum of the active holds on the account; never negative.
    pub held: SignedMinor,
    pub status: AccountStatus,
    /// A customer account's limits; a system account's are the defaults, and unused.
    pub limits: BalanceLimits,
    /// The client's own labels; the ledger never reads them.
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Account {
    pub fn is_system(&self) -> bool {
        self.owner_id.is_none()
    }

    /// Whether the account may stand at `balance` with `held` on hold: a customer account
    /// within its limits ([`BalanceLimits::admit`]), a system account always.
    pub(super) fn admits(&self, balance: SignedMinor, held: SignedMinor) -> Result<(), Refusal> {
        if self.is_system() {
            Ok(())
        } else {
            self.limits.admit(self.id, balance, held)
        }
    }

    /// What the account may still spend: balance minus active holds.
    pub fn available(&self) -> SignedMinor {
        SignedMinor::new(self.balance.minor().saturating_sub(self.held.minor()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferKind {
    Transfer,
    Deposit,
    Withdrawal,
    Capture,
    Refund,
}

impl TransferKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Transfer => "transfer",
            Self::Deposit => "deposit",
            Self::Withdrawal => "withdrawal",
            Self::Capture => "capture",
            Self::Refund => "refund",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Transfer,
            Self::Deposit,
            Self::Withdrawal,
            Self::Capture,
            Self::Refund,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// A money movement: exactly two ledger lines, `-amount` on `from` and `+amount` on `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub id: TransferId,
    pub kind: TransferKind,
    pub from_account_id: AccountId,
    pub to_account_id: AccountId,
    pub amount: Amount,
    pub currency: Currency,
    pub description: Option<Description>,
    pub metadata: Metadata,
    /// The hold this transfer posts (a hold's post, or a payment's capture).
    pub hold_id: Option<HoldId>,
    /// The transaction the transfer is a posting of, if any.
    pub transaction: Option<TransactionLink>,
    pub created_at: Timestamp,
}

/// Where a transfer stands in its transaction: which one, and at which posting (from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionLink {
    pub id: TransactionId,
    pub posting_index: u8,
}

/// One ledger line: one side of a transfer, with the account's balance right after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: EntryId,
    pub transfer_id: TransferId,
    pub account_id: AccountId,
    pub amount: SignedMinor,
    pub balance_after: SignedMinor,
    pub currency: Currency,
    pub created_at: Timestamp,
}

/// What an accepted command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Account(Account),
    Transfer(Transfer),
    Payment(PaymentView),
    Hold(HoldView),
    Transaction(Transaction),
    /// The payer could not cover the authorization: the payment is now `failed`
    /// (`insufficient_funds`), and the request answers `INSUFFICIENT_FUNDS`.
    AuthorizationDeclined(PaymentView),
}

/// Why a command was refused. A refusal changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Absent, or not visible to the actor.
    #[error("account {0} not found")]
    AccountNotFound(AccountId),
    #[error("the actor may see the account but not do this")]
    Forbidden,
    #[error("the source and destination accounts are the same")]
    SameAccount,
    #[error("the account's currency is not the request's currency")]
    CurrencyMismatch,
    #[error("account {0} is frozen")]
    AccountFrozen(AccountId),
    /// Freezing a currency's system account would stop every deposit and withdrawal in that
    /// currency for everyone.
    #[error("account {0} is a system account, which cannot be frozen")]
    SystemAccountFreeze(AccountId),
    #[error("the account's available balance is too low")]
    InsufficientFunds,
    /// The account's own `max_balance`, which an admin sets.
    #[error("the balance of account {0} would exceed its max_balance")]
    BalanceLimitExceeded(AccountId),
    #[error("account {0} is a system account, which has no limits")]
    SystemAccountLimits(AccountId),
    /// The account's balance or available balance already lies outside the limits asked for.
    #[error("the balance of account {0} already breaks the limits asked for")]
    LimitsBreached(AccountId),
    /// A metadata update that would leave more keys than metadata may hold.
    #[error("the metadata would hold more keys than allowed")]
    TooManyMetadataKeys,
    #[error("payment {0} not found")]
    PaymentNotFound(PaymentId),
    #[error("a {from} payment cannot become {to}")]
    InvalidState {
        from: PaymentState,
        to: PaymentState,
    },
    #[error("the amount exceeds the authorized amount")]
    AmountExceedsAuthorized,
    #[error("the amount exceeds what remains refundable")]
    AmountExceedsRefundable,
    #[error("hold {0} not found")]
    HoldNotFound(HoldId),
    #[error("a {from} hold cannot become {to}")]
    HoldInvalidState { from: HoldState, to: HoldState },
    /// A payment's authorization moves only through its payment.
    #[error("hold {0} is a payment's authorization")]
    HoldOfPayment(HoldId),
    #[error("the amount exceeds what the hold still holds")]
    AmountExceedsHeld,
    #[error("the balance of account {0} would exceed the largest balance Coffre keeps")]
    BalanceLimit(AccountId),
    /// The backend did not load the system account the command needs: a bug, not the
    /// client's doing.
    #[error("the system account of {0} was not loaded")]
    SystemAccountMissing(Currency),
    /// An authorized payment without its hold: the backend did not load it, or the database
    /// was edited behind the store's back.
    #[error("the hold of payment {0} was not loaded")]
    PaymentHoldMissing(PaymentId),
    /// A transaction's posting `index` (from 0) was refused for `reason`, so the whole
    /// transaction was.
    #[error("posting {index}: {reason}")]
    Posting { index: u8, reason: Box<Refusal> },
}

/// The largest balance an account may reach, so that sums over many accounts stay far from
/// `i64`'s range.
pub const MAX_BALANCE_MINOR: i64 = 1_000_000_000_000_000_000;

impl Refusal {
    /// An account the actor may not see is, to them, absent.
    pub(super) fn account_denied(denied: Denied, account: AccountId) -> Self {
        match denied {
            Denied::Hidden => Self::AccountNotFound(account),
            Denied::Forbidden => Self::Forbidden,
        }
    }

    /// A payment the actor may not see is, to them, absent.
    pub(super) fn payment_denied(denied: Denied, payment: PaymentId) -> Self {
        match denied {
            Denied::Hidden => Self::PaymentNotFound(payment),
            Denied::Forbidden => Self::Forbidden,
        }
    }

    /// A hold the actor may not see is, to them, absent.
    pub(super) fn hold_denied(denied: Denied, hold: HoldId) -> Self {
        match denied {
            Denied::Hidden => Self::HoldNotFound(hold),
            Denied::Forbidden => Self::Forbidden,
        }
    }

    pub(super) fn invalid(payment: &AnyPayment, to: PaymentState) -> Self {
        Self::InvalidState {
            from: payment.state(),
            to,
        }
    }
}

pub type CommandResult = Result<Outcome, Refusal>;

/// The accounts, payments and holds a batch works on, as loaded (and locked) by a backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub(super) accounts: BTreeMap<AccountId, Account>,
    pub(super) payments: BTreeMap<PaymentId, AnyPayment>,
    pub(super) holds: BTreeMap<HoldId, Hold>,
}

impl Ledger {
    pub fn new(accounts: impl IntoIterator<Item = Account>) -> Self {
        Self {
            accounts: accounts
                .into_iter()
                .map(|account| (account.id, account))
                .collect(),
            payments: BTreeMap::new(),
            holds: BTreeMap::new(),
        }
    }

    pub fn with_holds(mut self, holds: impl IntoIterator<Item = Hold>) -> Self {
        self.holds = holds
            .into_iter()
            .map(|hold| (hold.terms().id, hold))
            .collect();
        self
    }

    pub fn hold(&self, id: HoldId) -> Option<&Hold> {
        self.holds.get(&id)
    }

    /// The hold a payment's authorization took, if the ledger holds it.
    pub fn hold_of_payment(&self, payment: PaymentId) -> Option<&Hold> {
        self.holds
            .values()
            .find(|hold| hold.terms().payment_id == Some(payment))
    }

    pub fn with_payments(mut self, payments: impl IntoIterator<Item = AnyPayment>) -> Self {
        self.payments = payments
            .into_iter()
            .map(|payment| (payment.terms().id, payment))
            .collect();
        self
    }

    pub fn payment(&self, id: PaymentId) -> Option<&AnyPayment> {
        self.payments.get(&id)
    }

    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    pub(super) fn system_account(&self, currency: Currency) -> Result<&Account, Refusal> {
        self.accounts
            .values()
            .find(|account| account.is_system() && account.currency == currency)
            .ok_or(Refusal::SystemAccountMissing(currency))
    }

    pub(super) fn customer_account(&self, id: AccountId) -> Result<&Account, Refusal> {
        self.accounts
            .get(&id)
            .filter(|account| !account.is_system())
            .ok_or(Refusal::AccountNotFound(id))
    }
}

/// What a batch changed, for the backend to write in the same transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Accounts to insert, as they stand at the end of the batch.
    pub opened: BTreeSet<AccountId>,
    /// Existing accounts to update to their state at the end of the batch.
    pub changed: BTreeSet<AccountId>,
    pub transfers: Vec<Transfer>,
    pub entries: Vec<Entry>,
    /// Payments to insert, and existing ones to update, as they stand at the end.
    pub payments_opened: BTreeSet<PaymentId>,
    pub payments_changed: BTreeSet<PaymentId>,
    /// Holds to insert, and existing ones to update, as they stand at the end.
    pub holds_opened: BTreeSet<HoldId>,
    pub holds_changed: BTreeSet<HoldId>,
    /// Transactions to insert; their postings are among `transfers`.
    pub transactions: Vec<Transaction>,
    pub audit: Vec<NewAuditEvent>,
    /// The public events, in the order the changes were made (API.md "Events").
    pub events: Vec<NewEvent>,
}

impl Effects {
    /// Marks an existing account for update; one opened in this batch is inserted as it
    /// stands at the end anyway.
    pub(super) fn account_changed(&mut self, id: AccountId) {
        if !self.opened.contains(&id) {
            self.changed.insert(id);
        }
    }
}
