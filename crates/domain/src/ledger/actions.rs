//! What may be asked of the ledger: a [`Command`] is who asks, with what context, and the
//! [`Action`] asked for, which also says what a backend must load and lock before [`apply`].
//!
//! [`apply`]: super::apply

use chrono::TimeDelta;

use crate::access::Actor;
use crate::audit::AuditContext;
use crate::ids::{AccountId, HoldId, PaymentId, TransactionId, TransferId, UserId};
use crate::metadata::{Metadata, MetadataPatch};
use crate::money::{Amount, Currency, Money};
use crate::payment::{AuthorizationCode, FailureReason};
use crate::text::{AccountName, Description};

use super::limits::LimitsChange;
use super::model::AccountStatus;
use super::transactions::Postings;

/// One request to the ledger, with who asks and the context its audit event carries. Only the
/// expiry sweep acts without an actor; every other action refuses a command without one.
#[derive(Debug, Clone)]
pub struct Command {
    pub actor: Option<Actor>,
    pub context: AuditContext,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub enum Action {
    OpenAccount {
        id: AccountId,
        owner_id: UserId,
        currency: Currency,
        name: Option<AccountName>,
        metadata: Metadata,
    },
    SetStatus {
        account_id: AccountId,
        status: AccountStatus,
    },
    /// `PATCH /v1/accounts/{id}`: an admin's change to the account's limits, and the owner's
    /// or an admin's to its metadata.
    UpdateAccount {
        account_id: AccountId,
        limits: LimitsChange,
        metadata: Option<MetadataPatch>,
    },
    Transfer {
        id: TransferId,
        from: AccountId,
        to: AccountId,
        money: Money,
        description: Option<Description>,
        metadata: Metadata,
    },
    /// Money entering from the currency's system account.
    Deposit {
        id: TransferId,
        account_id: AccountId,
        money: Money,
        description: Option<Description>,
        metadata: Metadata,
    },
    /// Money leaving to the currency's system account.
    Withdrawal {
        id: TransferId,
        account_id: AccountId,
        money: Money,
        description: Option<Description>,
        metadata: Metadata,
    },
    CreatePayment {
        id: PaymentId,
        payer: AccountId,
        payee: AccountId,
        money: Money,
        metadata: Metadata,
    },
    /// Holds the amount on the payer's account for `ttl`, as hold `hold_id`.
    Authorize {
        payment_id: PaymentId,
        hold_id: HoldId,
        code: AuthorizationCode,
        ttl: TimeDelta,
    },
    /// Moves `amount` (all if `None`) of the hold to the payee as transfer `transfer_id`.
    Capture {
        payment_id: PaymentId,
        transfer_id: TransferId,
        amount: Option<Amount>,
    },
    CancelPayment {
        payment_id: PaymentId,
    },
    FailPayment {
        payment_id: PaymentId,
        reason: FailureReason,
    },
    /// Moves `amount` (all that remains if `None`) back to the payer as transfer `transfer_id`.
    Refund {
        payment_id: PaymentId,
        transfer_id: TransferId,
        amount: Option<Amount>,
    },
    /// Reserves `money` on `from` for `to` until `ttl` from now.
    CreateHold {
        id: HoldId,
        from: AccountId,
        to: AccountId,
        money: Money,
        ttl: TimeDelta,
        metadata: Metadata,
    },
    /// Moves `amount` (all that is held if `None`) of the hold as transfer `transfer_id`.
    PostHold {
        hold_id: HoldId,
        transfer_id: TransferId,
        amount: Option<Amount>,
    },
    /// Releases what the hold still holds.
    VoidHold {
        hold_id: HoldId,
    },
    /// The background sweep: expires the hold (and the authorization of its payment, named
    /// here so that it is locked before the hold) if it is due, else changes nothing.
    ExpireHold {
        hold_id: HoldId,
        payment_id: Option<PaymentId>,
    },
    /// The postings, in order, all or nothing.
    PostTransaction {
        id: TransactionId,
        postings: Postings,
        description: Option<Description>,
        metadata: Metadata,
    },
}

impl Action {
    /// The existing accounts the action reads, which a backend must load and lock.
    /// A payment or hold action's accounts are its payment's or hold's, which a backend reads
    /// from the payment or hold it loads; they are not listed here.
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            Self::OpenAccount { .. } => Vec::new(),
            Self::SetStatus { account_id, .. }
            | Self::UpdateAccount { account_id, .. }
            | Self::Deposit { account_id, .. }
            | Self::Withdrawal { account_id, .. } => vec![*account_id],
            Self::Transfer { from, to, .. } => vec![*from, *to],
            Self::PostTransaction { postings, .. } => postings
                .as_slice()
                .iter()
                .flat_map(|posting| [posting.from, posting.to])
                .collect(),
            Self::CreatePayment { payer, payee, .. } => vec![*payer, *payee],
            Self::CreateHold { from, to, .. } => vec![*from, *to],
            Self::Authorize { .. }
            | Self::Capture { .. }
            | Self::CancelPayment { .. }
            | Self::FailPayment { .. }
            | Self::Refund { .. }
            | Self::PostHold { .. }
            | Self::VoidHold { .. }
            | Self::ExpireHold { .. } => Vec::new(),
        }
    }

    /// A stable name, for metrics and logs.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::OpenAccount { .. } => "open_account",
            Self::SetStatus { .. } => "set_account_status",
            Self::UpdateAccount { .. } => "update_account",
            Self::Transfer { .. } => "transfer",
            Self::Deposit { .. } => "deposit",
            Self::Withdrawal { .. } => "withdrawal",
            Self::CreatePayment { .. } => "create_payment",
            Self::Authorize { .. } => "authorize_payment",
            Self::Capture { .. } => "capture_payment",
            Self::CancelPayment { .. } => "cancel_payment",
            Self::FailPayment { .. } => "fail_payment",
            Self::Refund { .. } => "refund_payment",
            Self::CreateHold { .. } => "create_hold",
            Self::PostHold { .. } => "post_hold",
            Self::VoidHold { .. } => "void_hold",
            Self::ExpireHold { .. } => "expire_hold",
            Self::PostTransaction { .. } => "post_transaction",
        }
    }

    /// The existing payment the action works on, which a backend must load and lock, with
    /// the hold its authorization took, if any.
    pub fn payment(&self) -> Option<PaymentId> {
        match self {
            Self::Authorize { payment_id, .. }
            | Self::Capture { payment_id, .. }
            | Self::CancelPayment { payment_id }
            | Self::FailPayment { payment_id, .. }
            | Self::Refund { payment_id, .. } => Some(*payment_id),
            Self::ExpireHold { payment_id, .. } => *payment_id,
            Self::OpenAccount { .. }
            | Self::SetStatus { .. }
            | Self::UpdateAccount { .. }
            | Self::Transfer { .. }
            | Self::Deposit { .. }
            | Self::Withdrawal { .. }
            | Self::CreatePayment { .. }
            | Self::CreateHold { .. }
            | Self::PostHold { .. }
            | Self::VoidHold { .. }
            | Self::PostTransaction { .. } => None,
        }
    }

    /// The existing hold the action works on, which a backend must load and lock.
    pub fn hold(&self) -> Option<HoldId> {
        match self {
            Self::PostHold { hold_id, .. }
            | Self::VoidHold { hold_id }
            | Self::ExpireHold { hold_id, .. } => Some(*hold_id),
            Self::OpenAccount { .. }
            | Self::SetStatus { .. }
            | Self::UpdateAccount { .. }
            | Self::Transfer { .. }
            | Self::Deposit { .. }
            | Self::Withdrawal { .. }
            | Self::CreatePayment { .. }
            | Self::Authorize { .. }
            | Self::Capture { .. }
            | Self::CancelPayment { .. }
            | Self::FailPayment { .. }
            | Self::Refund { .. }
            | Self::CreateHold { .. }
            | Self::PostTransaction { .. } => None,
        }
    }

    /// The currency whose system account the action moves money through, if any; a backend
    /// creates it when missing and loads and locks it with the others.
    pub fn system_currency(&self) -> Option<Currency> {
        match self {
            Self::Deposit { money, .. } | Self::Withdrawal { money, .. } => Some(money.currency),
            Self::OpenAccount { .. }
            | Self::SetStatus { .. }
            | Self::UpdateAccount { .. }
            | Self::Transfer { .. }
            | Self::CreatePayment { .. }
            | Self::Authorize { .. }
            | Self::Capture { .. }
            | Self::CancelPayment { .. }
            | Self::FailPayment { .. }
            | Self::Refund { .. }
            | Self::CreateHold { .. }
            | Self::PostHold { .. }
            | Self::VoidHold { .. }
            | Self::ExpireHold { .. }
            | Self::PostTransaction { .. } => None,
        }
    }
}
