//! Account, transfer and ledger-line rows as both backends read them, and their checked
//! conversion into domain values. A row the domain refuses was written behind the store's back.

use chrono::{DateTime, Utc};
use coffre_domain::hold::{Hold, HoldState, HoldView};
use coffre_domain::ids::{
    AccountId, EntryId, HoldId, PaymentId, TransactionId, TransferId, UserId,
};
use coffre_domain::ledger::{
    Account, AccountCheck, AccountStatus, BalanceLimits, Entry, LimitAmount, Transaction,
    TransactionLink, Transfer, TransferKind,
};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Amount, Currency, SignedMinor};
use coffre_domain::payment::{AnyPayment, PaymentState, PaymentView};
use coffre_domain::text::{AccountName, Description};
use coffre_domain::time::Timestamp;
use uuid::Uuid;

use crate::ledger::{HoldRecord, PaymentRecord, TransactionRecord, TransferRecord};
use crate::{Page, PageLimit};

#[derive(Debug, thiserror::Error)]
#[error("stored {table} row {id} has an invalid {column}")]
pub struct CorruptLedgerRow {
    pub table: &'static str,
    pub id: Uuid,
    pub column: &'static str,
}

fn corrupt(table: &'static str, id: Uuid, column: &'static str) -> CorruptLedgerRow {
    CorruptLedgerRow { table, id, column }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub id: Uuid,
    pub owner_id: Option<Uuid>,
    pub currency: String,
    pub name: Option<String>,
    pub balance: i64,
    pub held: i64,
    pub status: String,
    pub overdraft_limit: i64,
    pub max_balance: Option<i64>,
    /// The JSON object as text: both backends read it so.
    pub metadata: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The limits as stored: a value the types refuse names its column.
fn limits_of(
    id: Uuid,
    overdraft_limit: i64,
    max_balance: Option<i64>,
) -> Result<BalanceLimits, CorruptLedgerRow> {
    Ok(BalanceLimits {
        overdraft_limit: LimitAmount::from_minor(overdraft_limit)
            .map_err(|_| corrupt("accounts", id, "overdraft_limit"))?,
        max_balance: max_balance
            .map(LimitAmount::from_minor)
            .transpose()
            .map_err(|_| corrupt("accounts", id, "max_balance"))?,
    })
}

impl AccountRow {
    pub fn into_account(self) -> Result<Account, CorruptLedgerRow> {
        let bad = |column| corrupt("accounts", self.id, column);
        Ok(Account {
            id: AccountId::from_uuid(self.id),
            owner_id: self.owner_id.map(UserId::from_uuid),
            currency: Currency::parse(&self.currency).map_err(|_| bad("currency"))?,
            name: self
                .name
                .map(AccountName::parse)
                .transpose()
                .map_err(|_| bad("name"))?,
            balance: SignedMinor::new(self.balance),
            held: SignedMinor::new(self.held),
            status: AccountStatus::parse(&self.status).ok_or_else(|| bad("status"))?,
            limits: limits_of(self.id, self.overdraft_limit, self.max_balance)?,
            metadata: Metadata::from_json(&self.metadata).map_err(|_| bad("metadata"))?,
            created_at: Timestamp::from_datetime(self.created_at),
            updated_at: Timestamp::from_datetime(self.updated_at),
        })
    }
}

/// The columns a backend writes for an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountColumns {
    pub id: Uuid,
    pub owner_id: Option<Uuid>,
    pub currency: &'static str,
    pub name: Option<String>,
    pub balance: i64,
    pub held: i64,
    pub status: &'static str,
    pub overdraft_limit: i64,
    pub max_balance: Option<i64>,
    /// The JSON object as text.
    pub metadata: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AccountColumns {
    pub fn of(account: &Account) -> Self {
        Self {
            id: account.id.as_uuid(),
            owner_id: account.owner_id.map(|id| id.as_uuid()),
            currency: account.currency.code(),
            name: account.name.as_ref().map(|name| name.as_str().to_owned()),
            balance: account.balance.minor(),
            held: account.held.minor(),
            status: account.status.as_str(),
            overdraft_limit: account.limits.overdraft_limit.minor(),
            max_balance: account.limits.max_balance.map(|max| max.minor()),
            metadata: account.metadata.to_json().to_string(),
            created_at: account.created_at.as_datetime(),
            updated_at: account.updated_at.as_datetime(),
        }
    }
}

/// A new system account for `currency`, for a backend to insert when it is missing.
pub fn system_account(currency: Currency, now: Timestamp) -> Account {
    Account {
        id: AccountId::new(),
        owner_id: None,
        currency,
        name: None,
        balance: SignedMinor::ZERO,
        held: SignedMinor::ZERO,
        status: AccountStatus::Active,
        limits: BalanceLimits::DEFAULT,
        metadata: Metadata::default(),
        created_at: now,
        updated_at: now,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    pub id: Uuid,
    pub kind: String,
    pub from_account_id: Uuid,
    pub to_account_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    /// The metadata object as JSON text.
    pub metadata: String,
    pub hold_id: Option<Uuid>,
    pub transaction_id: Option<Uuid>,
    pub posting_index: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub from_owner: Option<Uuid>,
    pub to_owner: Option<Uuid>,
}

impl TransferRow {
    pub fn into_record(self) -> Result<TransferRecord, CorruptLedgerRow> {
        let bad = |column| corrupt("transfers", self.id, column);
        let transfer = Transfer {
            id: TransferId::from_uuid(self.id),
            kind: TransferKind::parse(&self.kind).ok_or_else(|| bad("kind"))?,
            from_account_id: AccountId::from_uuid(self.from_account_id),
            to_account_id: AccountId::from_uuid(self.to_account_id),
            amount: Amount::from_minor(self.amount).map_err(|_| bad("amount"))?,
            currency: Currency::parse(&self.currency).map_err(|_| bad("currency"))?,
            description: self
                .description
                .map(Description::parse)
                .transpose()
                .map_err(|_| bad("description"))?,
            metadata: Metadata::from_json(&self.metadata).map_err(|_| bad("metadata"))?,
            hold_id: self.hold_id.map(HoldId::from_uuid),
            transaction: match (self.transaction_id, self.posting_index) {
                (Some(id), Some(index)) => Some(TransactionLink {
                    id: TransactionId::from_uuid(id),
                    posting_index: u8::try_from(index).map_err(|_| bad("posting_index"))?,
                }),
                (None, None) => None,
                _ => return Err(bad("transaction_id")),
            },
            created_at: Timestamp::from_datetime(self.created_at),
        };
        Ok(TransferRecord {
            transfer,
            from_owner: self.from_owner.map(UserId::from_uuid),
            to_owner: self.to_owner.map(UserId::from_uuid),
        })
    }
}

/// One posting of a transaction, with the transaction's own columns: a transaction reads as
/// its postings' rows, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionPostingRow {
    pub transaction_id: Uuid,
    pub transaction_description: Option<String>,
    /// The metadata object as JSON text.
    pub metadata: String,
    pub transaction_created_at: DateTime<Utc>,
    pub id: Uuid,
    pub kind: String,
    pub from_account_id: Uuid,
    pub to_account_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    /// The posting's own metadata (its transfer's), as JSON text.
    pub transfer_metadata: String,
    pub posting_index: i64,
    pub created_at: DateTime<Utc>,
    pub from_owner: Option<Uuid>,
    pub to_owner: Option<Uuid>,
}

impl TransactionPostingRow {
    /// The transactions these rows hold, in the rows' order, which must keep each
    /// transaction's postings together and in order.
    pub fn into_records(rows: Vec<Self>) -> Result<Vec<TransactionRecord>, CorruptLedgerRow> {
        let mut records: Vec<TransactionRecord> = Vec::new();
        for row in rows {
            let transaction_id = TransactionId::from_uuid(row.transaction_id);
            let transfer = TransferRow {
                id: row.id,
                kind: row.kind,
                from_account_id: row.from_account_id,
                to_account_id: row.to_account_id,
                amount: row.amount,
                currency: row.currency,
                description: row.description,
                metadata: row.transfer_metadata,
                // A posting posts no hold (transfers_posting_check).
                hold_id: None,
                transaction_id: Some(row.transaction_id),
                posting_index: Some(row.posting_index),
                created_at: row.created_at,
                from_owner: row.from_owner,
                to_owner: row.to_owner,
            }
            .into_record()?;
            let expected_index = match records.last() {
                Some(last) if last.transaction.id == transaction_id => {
                    last.transaction.postings.len()
                }
                _ => 0,
            };
            let index = transfer.transfer.transaction.map(|link| link.posting_index);
            if index.map(usize::from) != Some(expected_index) {
                return Err(corrupt("transfers", row.id, "posting_index"));
            }
            if expected_index == 0 {
                let bad = |column| corrupt("transactions", row.transaction_id, column);
                records.push(TransactionRecord {
                    transaction: Transaction {
                        id: transaction_id,
                        postings: Vec::new(),
                        description: row
                            .transaction_description
                            .map(Description::parse)
                            .transpose()
                            .map_err(|_| bad("description"))?,
                        metadata: Metadata::from_json(&row.metadata)
                            .map_err(|_| bad("metadata"))?,
                        created_at: Timestamp::from_datetime(row.transaction_created_at),
                    },
                    owners: Vec::new(),
                });
            }
            if let Some(record) = records.last_mut() {
                record.owners.push(transfer.from_owner);
                record.owners.push(transfer.to_owner);
                record.transaction.postings.push(transfer.transfer);
            }
        }
        Ok(records)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    pub id: Uuid,
    pub transfer_id: Uuid,
    pub account_id: Uuid,
    pub amount: i64,
    pub balance_after: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

impl EntryRow {
    /// A page of lines from the rows fetched for it (one more than `limit` tells `has_more`).
    pub fn into_page(rows: Vec<Self>, limit: PageLimit) -> Result<Page<Entry>, CorruptLedgerRow> {
        let entries = rows
            .into_iter()
            .map(Self::into_entry)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_fetched(entries, limit))
    }

    pub fn into_entry(self) -> Result<Entry, CorruptLedgerRow> {
        Ok(Entry {
            id: EntryId::from_uuid(self.id),
            transfer_id: TransferId::from_uuid(self.transfer_id),
            account_id: AccountId::from_uuid(self.account_id),
            amount: SignedMinor::new(self.amount),
            balance_after: SignedMinor::new(self.balance_after),
            currency: Currency::parse(&self.currency)
                .map_err(|_| corrupt("ledger_lines", self.id, "currency"))?,
            created_at: Timestamp::from_datetime(self.created_at),
        })
    }
}

/// One account with the sums of its lines and of its authorized payments, as `ledger/verify`
/// reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCheckRow {
    pub id: Uuid,
    pub owner_id: Option<Uuid>,
    pub currency: String,
    pub balance: i64,
    pub held: i64,
    pub overdraft_limit: i64,
    pub max_balance: Option<i64>,
    pub lines_sum: i64,
    pub holds_sum: i64,
}

impl AccountCheckRow {
    pub fn into_check(self) -> Result<AccountCheck, CorruptLedgerRow> {
        Ok(AccountCheck {
            id: AccountId::from_uuid(self.id),
            owner_id: self.owner_id.map(UserId::from_uuid),
            currency: Currency::parse(&self.currency)
                .map_err(|_| corrupt("accounts", self.id, "currency"))?,
            balance: SignedMinor::new(self.balance),
            held: SignedMinor::new(self.held),
            limits: limits_of(self.id, self.overdraft_limit, self.max_balance)?,
            lines_sum: SignedMinor::new(self.lines_sum),
            holds_sum: SignedMinor::new(self.holds_sum),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub id: Uuid,
    pub payer_account_id: Uuid,
    pub payee_account_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub state: String,
    pub authorized_amount: i64,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    pub authorization_code: Option<String>,
    pub failure_reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The metadata object as JSON text.
    pub metadata: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub payer_owner: Option<Uuid>,
    pub payee_owner: Option<Uuid>,
}

impl PaymentRow {
    /// The payment in its typed state, with the owners of its accounts.
    pub fn into_record(self) -> Result<PaymentRecord, CorruptLedgerRow> {
        let bad = |column| corrupt("payments", self.id, column);
        let currency = Currency::parse(&self.currency).map_err(|_| bad("currency"))?;
        let view = PaymentView {
            id: PaymentId::from_uuid(self.id),
            payer_account_id: AccountId::from_uuid(self.payer_account_id),
            payee_account_id: AccountId::from_uuid(self.payee_account_id),
            amount: Amount::from_minor(self.amount).map_err(|_| bad("amount"))?,
            currency,
            state: PaymentState::parse(&self.state).ok_or_else(|| bad("state"))?,
            authorized_minor: self.authorized_amount,
            captured_minor: self.captured_amount,
            refunded_minor: self.refunded_amount,
            authorization_code: self.authorization_code,
            failure_reason: self.failure_reason,
            expires_at: self.expires_at.map(Timestamp::from_datetime),
            metadata: Metadata::from_json(&self.metadata).map_err(|_| bad("metadata"))?,
            created_at: Timestamp::from_datetime(self.created_at),
            updated_at: Timestamp::from_datetime(self.updated_at),
        };
        let payment = view.into_payment().map_err(|_| bad("state columns"))?;
        Ok(PaymentRecord {
            payment,
            payer_owner: self.payer_owner.map(UserId::from_uuid),
            payee_owner: self.payee_owner.map(UserId::from_uuid),
        })
    }
}

/// The columns a backend writes for a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentColumns {
    pub id: Uuid,
    pub payer_account_id: Uuid,
    pub payee_account_id: Uuid,
    pub amount: i64,
    pub currency: &'static str,
    pub state: &'static str,
    pub authorized_amount: i64,
    pub captured_amount: i64,
    pub refunded_amount: i64,
    pub authorization_code: Option<String>,
    pub failure_reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The metadata object as JSON text; written once, at creation (`relabel` changes it).
    pub metadata: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl PaymentColumns {
    pub fn of(payment: &AnyPayment) -> Self {
        let view = payment.view();
        Self {
            id: view.id.as_uuid(),
            payer_account_id: view.payer_account_id.as_uuid(),
            payee_account_id: view.payee_account_id.as_uuid(),
            amount: view.amount.minor(),
            currency: view.currency.code(),
            state: view.state.as_str(),
            authorized_amount: view.authorized_minor,
            captured_amount: view.captured_minor,
            refunded_amount: view.refunded_minor,
            authorization_code: view.authorization_code,
            failure_reason: view.failure_reason,
            expires_at: view.expires_at.map(|at| at.as_datetime()),
            metadata: view.metadata.to_json().to_string(),
            created_at: view.created_at.as_datetime(),
            updated_at: view.updated_at.as_datetime(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    pub id: Uuid,
    pub from_account_id: Uuid,
    pub to_account_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub state: String,
    pub posted_amount: i64,
    pub released_amount: i64,
    pub payment_id: Option<Uuid>,
    /// As stored: a JSON object of strings, as text.
    pub metadata: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub from_owner: Option<Uuid>,
    pub to_owner: Option<Uuid>,
}

impl HoldRow {
    /// The hold, its amounts checked, with the owners of its accounts.
    pub fn into_record(self) -> Result<HoldRecord, CorruptLedgerRow> {
        let bad = |column| corrupt("holds", self.id, column);
        let view = HoldView {
            id: HoldId::from_uuid(self.id),
            from_account_id: AccountId::from_uuid(self.from_account_id),
            to_account_id: AccountId::from_uuid(self.to_account_id),
            amount: Amount::from_minor(self.amount).map_err(|_| bad("amount"))?,
            currency: Currency::parse(&self.currency).map_err(|_| bad("currency"))?,
            state: HoldState::parse(&self.state).ok_or_else(|| bad("state"))?,
            posted_minor: self.posted_amount,
            released_minor: self.released_amount,
            held_minor: 0,
            payment_id: self.payment_id.map(PaymentId::from_uuid),
            metadata: Metadata::from_json(&self.metadata).map_err(|_| bad("metadata"))?,
            expires_at: Timestamp::from_datetime(self.expires_at),
            created_at: Timestamp::from_datetime(self.created_at),
            updated_at: Timestamp::from_datetime(self.updated_at),
        };
        let hold = view.into_hold().map_err(|_| bad("amounts"))?;
        Ok(HoldRecord {
            hold,
            from_owner: self.from_owner.map(UserId::from_uuid),
            to_owner: self.to_owner.map(UserId::from_uuid),
        })
    }
}

/// The columns a backend writes for a hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldColumns {
    pub id: Uuid,
    pub from_account_id: Uuid,
    pub to_account_id: Uuid,
    pub amount: i64,
    pub currency: &'static str,
    pub state: &'static str,
    pub posted_amount: i64,
    pub released_amount: i64,
    pub payment_id: Option<Uuid>,
    pub metadata: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl HoldColumns {
    pub fn of(hold: &Hold) -> Self {
        let view = hold.view();
        Self {
            id: view.id.as_uuid(),
            from_account_id: view.from_account_id.as_uuid(),
            to_account_id: view.to_account_id.as_uuid(),
            amount: view.amount.minor(),
            currency: view.currency.code(),
            state: view.state.as_str(),
            posted_amount: view.posted_minor,
            released_amount: view.released_minor,
            payment_id: view.payment_id.map(|id| id.as_uuid()),
            metadata: view.metadata.to_json().to_string(),
            expires_at: view.expires_at.as_datetime(),
            created_at: view.created_at.as_datetime(),
            updated_at: view.updated_at.as_datetime(),
        }
    }
}
