//! The JSON shapes of accounts, transfers, transactions, ledger lines, payments and holds
//! (API.md §4), amounts printed at their currency's full scale.

use coffre_domain::hold::HoldView;
use coffre_domain::ids::{
    AccountId, EntryId, HoldId, PaymentId, TransactionId, TransferId, UserId,
};
use coffre_domain::ledger::{Account, Entry, Transaction, Transfer};
use coffre_domain::metadata::Metadata;
use coffre_domain::money::{Currency, SignedMinor};
use coffre_domain::payment::PaymentView;
use coffre_domain::time::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Account)]
pub(crate) struct AccountBody {
    #[schema(value_type = String, format = Uuid)]
    id: AccountId,
    #[schema(value_type = Option<String>, format = Uuid, required = true)]
    owner_id: Option<UserId>,
    #[schema(value_type = String, example = "EUR")]
    currency: Currency,
    #[schema(required = true)]
    name: Option<String>,
    balance: String,
    available: String,
    status: &'static str,
    /// How far below zero `available` may go (`"0.00"` for a system account, which has no
    /// limits).
    overdraft_limit: String,
    /// The highest `balance` may reach, if capped.
    #[schema(required = true)]
    max_balance: Option<String>,
    #[schema(schema_with = super::openapi::metadata)]
    metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl From<&Account> for AccountBody {
    fn from(account: &Account) -> Self {
        Self {
            id: account.id,
            owner_id: account.owner_id,
            currency: account.currency,
            name: account.name.as_ref().map(|name| name.as_str().to_owned()),
            balance: account.balance.format(account.currency),
            available: account.available().format(account.currency),
            status: account.status.as_str(),
            overdraft_limit: account.limits.overdraft_limit.format(account.currency),
            max_balance: account
                .limits
                .max_balance
                .map(|max| max.format(account.currency)),
            metadata: account.metadata.clone(),
            created_at: account.created_at,
            updated_at: account.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Transfer)]
pub(crate) struct TransferBody {
    #[schema(value_type = String, format = Uuid)]
    id: TransferId,
    kind: &'static str,
    #[schema(value_type = String, format = Uuid)]
    from_account_id: AccountId,
    #[schema(value_type = String, format = Uuid)]
    to_account_id: AccountId,
    amount: String,
    #[schema(value_type = String, example = "EUR")]
    currency: Currency,
    #[schema(required = true)]
    description: Option<String>,
    #[schema(schema_with = super::openapi::metadata)]
    metadata: Metadata,
    /// The hold this transfer posts (a hold's post, or a payment's capture); else null.
    #[schema(value_type = Option<String>, format = Uuid, required = true)]
    hold_id: Option<HoldId>,
    /// The transaction this transfer is a posting of, if any.
    #[schema(value_type = Option<String>, format = Uuid, required = true)]
    transaction_id: Option<TransactionId>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
}

impl From<&Transfer> for TransferBody {
    fn from(transfer: &Transfer) -> Self {
        Self {
            id: transfer.id,
            kind: transfer.kind.as_str(),
            from_account_id: transfer.from_account_id,
            to_account_id: transfer.to_account_id,
            amount: transfer.amount.format(transfer.currency),
            currency: transfer.currency,
            description: transfer
                .description
                .as_ref()
                .map(|description| description.as_str().to_owned()),
            metadata: transfer.metadata.clone(),
            hold_id: transfer.hold_id,
            transaction_id: transfer.transaction.map(|link| link.id),
            created_at: transfer.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Transaction)]
pub(crate) struct TransactionBody {
    #[schema(value_type = String, format = Uuid)]
    id: TransactionId,
    /// The postings as the transfers they became, in order.
    postings: Vec<TransferBody>,
    #[schema(required = true)]
    description: Option<String>,
    #[schema(schema_with = super::openapi::metadata)]
    metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
}

impl From<&Transaction> for TransactionBody {
    fn from(transaction: &Transaction) -> Self {
        Self {
            id: transaction.id,
            postings: transaction
                .postings
                .iter()
                .map(TransferBody::from)
                .collect(),
            description: transaction
                .description
                .as_ref()
                .map(|description| description.as_str().to_owned()),
            metadata: transaction.metadata.clone(),
            created_at: transaction.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Entry)]
pub(crate) struct EntryBody {
    #[schema(value_type = String, format = Uuid)]
    id: EntryId,
    #[schema(value_type = String, format = Uuid)]
    transfer_id: TransferId,
    amount: String,
    balance_after: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
}

impl From<&Entry> for EntryBody {
    fn from(entry: &Entry) -> Self {
        Self {
            id: entry.id,
            transfer_id: entry.transfer_id,
            amount: entry.amount.format(entry.currency),
            balance_after: entry.balance_after.format(entry.currency),
            created_at: entry.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Payment)]
pub(crate) struct PaymentBody {
    #[schema(value_type = String, format = Uuid)]
    id: PaymentId,
    #[schema(value_type = String, format = Uuid)]
    payer_account_id: AccountId,
    #[schema(value_type = String, format = Uuid)]
    payee_account_id: AccountId,
    amount: String,
    #[schema(value_type = String, example = "EUR")]
    currency: Currency,
    state: &'static str,
    authorized_amount: String,
    captured_amount: String,
    refunded_amount: String,
    #[schema(required = true)]
    authorization_code: Option<String>,
    #[schema(required = true)]
    failure_reason: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    expires_at: Option<Timestamp>,
    #[schema(schema_with = super::openapi::metadata)]
    metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl From<&PaymentView> for PaymentBody {
    fn from(payment: &PaymentView) -> Self {
        let currency = payment.currency;
        let amount = |minor| SignedMinor::new(minor).format(currency);
        Self {
            id: payment.id,
            payer_account_id: payment.payer_account_id,
            payee_account_id: payment.payee_account_id,
            amount: payment.amount.format(currency),
            currency,
            state: payment.state.as_str(),
            authorized_amount: amount(payment.authorized_minor),
            captured_amount: amount(payment.captured_minor),
            refunded_amount: amount(payment.refunded_minor),
            authorization_code: payment.authorization_code.clone(),
            failure_reason: payment.failure_reason.clone(),
            expires_at: payment.expires_at,
            metadata: payment.metadata.clone(),
            created_at: payment.created_at,
            updated_at: payment.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Hold)]
pub(crate) struct HoldBody {
    #[schema(value_type = String, format = Uuid)]
    id: HoldId,
    #[schema(value_type = String, format = Uuid)]
    from_account_id: AccountId,
    #[schema(value_type = String, format = Uuid)]
    to_account_id: AccountId,
    amount: String,
    #[schema(value_type = String, example = "EUR")]
    currency: Currency,
    #[schema(schema_with = super::openapi::hold_state)]
    state: &'static str,
    /// Still reserved: `amount - posted_amount - released_amount`.
    held_amount: String,
    posted_amount: String,
    released_amount: String,
    /// The payment whose authorization this is (it moves only through the payment); else null.
    #[schema(value_type = Option<String>, format = Uuid, required = true)]
    payment_id: Option<PaymentId>,
    /// The client's labels.
    #[schema(value_type = HashMap<String, String>)]
    metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    updated_at: Timestamp,
}

impl From<&HoldView> for HoldBody {
    fn from(hold: &HoldView) -> Self {
        let currency = hold.currency;
        let amount = |minor| SignedMinor::new(minor).format(currency);
        Self {
            id: hold.id,
            from_account_id: hold.from_account_id,
            to_account_id: hold.to_account_id,
            amount: hold.amount.format(currency),
            currency,
            state: hold.state.as_str(),
            held_amount: amount(hold.held_minor),
            posted_amount: amount(hold.posted_minor),
            released_amount: amount(hold.released_minor),
            payment_id: hold.payment_id,
            metadata: hold.metadata.clone(),
            expires_at: hold.expires_at,
            created_at: hold.created_at,
            updated_at: hold.updated_at,
        }
    }
}
