//! The audit events the ledger records, one builder per kind of change.

use serde_json::json;

use crate::audit::{AuditAction, AuditContext, NewAuditEvent, ResourceType};
use crate::hold::{HoldState, HoldView};
use crate::metadata::Metadata;
use crate::money::SignedMinor;
use crate::payment::{AnyPayment, PaymentView};
use crate::text::AccountName;

use super::limits::BalanceLimits;
use super::model::{Account, AccountStatus, Transfer, TransferKind};
use super::transactions::Transaction;

pub(super) fn account_opened(account: &Account, context: &AuditContext) -> NewAuditEvent {
    NewAuditEvent {
        action: AuditAction::AccountCreated,
        resource_type: ResourceType::Account,
        resource_id: Some(account.id.to_string()),
        old_value: None,
        new_value: Some(json!({
            "owner_id": account.owner_id,
            "currency": account.currency.code(),
            "name": account.name.as_ref().map(AccountName::as_str),
        })),
        context: context.clone(),
    }
}

pub(super) fn status_changed(
    account: &Account,
    before: AccountStatus,
    context: &AuditContext,
) -> NewAuditEvent {
    let action = match account.status {
        AccountStatus::Frozen => AuditAction::AccountFrozen,
        AccountStatus::Active => AuditAction::AccountUnfrozen,
    };
    NewAuditEvent {
        action,
        resource_type: ResourceType::Account,
        resource_id: Some(account.id.to_string()),
        old_value: Some(json!({"status": before.as_str()})),
        new_value: Some(json!({"status": account.status.as_str()})),
        context: context.clone(),
    }
}

/// `before` and the account's limits now, as the account JSON prints them.
pub(super) fn limits_changed(
    account: &Account,
    before: BalanceLimits,
    context: &AuditContext,
) -> NewAuditEvent {
    let limits = |limits: BalanceLimits| {
        json!({
            "overdraft_limit": limits.overdraft_limit.format(account.currency),
            "max_balance": limits.max_balance.map(|max| max.format(account.currency)),
        })
    };
    NewAuditEvent {
        action: AuditAction::AccountLimitsChanged,
        resource_type: ResourceType::Account,
        resource_id: Some(account.id.to_string()),
        old_value: Some(limits(before)),
        new_value: Some(limits(account.limits)),
        context: context.clone(),
    }
}

/// A resource's metadata before and after a change.
pub(crate) fn metadata_changed(
    resource_type: ResourceType,
    resource_id: String,
    before: &Metadata,
    after: &Metadata,
    context: &AuditContext,
) -> NewAuditEvent {
    NewAuditEvent {
        action: AuditAction::MetadataUpdated,
        resource_type,
        resource_id: Some(resource_id),
        old_value: Some(json!({"metadata": before.to_json()})),
        new_value: Some(json!({"metadata": after.to_json()})),
        context: context.clone(),
    }
}

pub(super) fn transfer_event(transfer: &Transfer, context: &AuditContext) -> NewAuditEvent {
    NewAuditEvent {
        action: transfer_action(transfer.kind),
        resource_type: ResourceType::Transfer,
        resource_id: Some(transfer.id.to_string()),
        old_value: None,
        new_value: Some(json!({
            "kind": transfer.kind.as_str(),
            "from_account_id": transfer.from_account_id,
            "to_account_id": transfer.to_account_id,
            "amount": transfer.amount.format(transfer.currency),
            "currency": transfer.currency.code(),
        })),
        context: context.clone(),
    }
}

/// One event for the whole transaction, naming each posting in order.
pub(super) fn transaction_event(
    transaction: &Transaction,
    context: &AuditContext,
) -> NewAuditEvent {
    let postings: Vec<_> = transaction
        .postings
        .iter()
        .map(|transfer| {
            json!({
                "transfer_id": transfer.id,
                "from_account_id": transfer.from_account_id,
                "to_account_id": transfer.to_account_id,
                "amount": transfer.amount.format(transfer.currency),
                "currency": transfer.currency.code(),
            })
        })
        .collect();
    NewAuditEvent {
        action: AuditAction::Transaction,
        resource_type: ResourceType::Transaction,
        resource_id: Some(transaction.id.to_string()),
        old_value: None,
        new_value: Some(json!({
            "description": transaction.description.as_ref().map(|text| text.as_str()),
            "metadata": transaction.metadata.to_json(),
            "postings": postings,
        })),
        context: context.clone(),
    }
}

fn transfer_action(kind: TransferKind) -> AuditAction {
    match kind {
        TransferKind::Transfer => AuditAction::Transfer,
        TransferKind::Deposit => AuditAction::Deposit,
        TransferKind::Withdrawal => AuditAction::Withdrawal,
        TransferKind::Capture => AuditAction::PaymentCaptured,
        TransferKind::Refund => AuditAction::PaymentRefunded,
    }
}

pub(super) fn payment_event(
    action: AuditAction,
    before: Option<AnyPayment>,
    after: &PaymentView,
    transfer: Option<&Transfer>,
    context: &AuditContext,
) -> NewAuditEvent {
    let currency = after.currency;
    let amount = |minor: i64| SignedMinor::new(minor).format(currency);
    let mut new_value = json!({
        "state": after.state.as_str(),
        "amount": after.amount.format(currency),
        "currency": currency.code(),
        "authorized_amount": amount(after.authorized_minor),
        "captured_amount": amount(after.captured_minor),
        "refunded_amount": amount(after.refunded_minor),
        "failure_reason": after.failure_reason,
    });
    if let (Some(transfer), Some(object)) = (transfer, new_value.as_object_mut()) {
        object.insert("transfer_id".to_owned(), json!(transfer.id));
        object.insert(
            "transfer_amount".to_owned(),
            json!(transfer.amount.format(transfer.currency)),
        );
    }
    NewAuditEvent {
        action,
        resource_type: ResourceType::Payment,
        resource_id: Some(after.id.to_string()),
        old_value: before.map(|payment| json!({"state": payment.state().as_str()})),
        new_value: Some(new_value),
        context: context.clone(),
    }
}

/// A hold's transition from `before` (none when it is created), with the transfer a post made.
pub(super) fn hold_event(
    action: AuditAction,
    before: Option<HoldState>,
    after: &HoldView,
    transfer: Option<&Transfer>,
    context: &AuditContext,
) -> NewAuditEvent {
    let currency = after.currency;
    let amount = |minor: i64| SignedMinor::new(minor).format(currency);
    let mut new_value = json!({
        "state": after.state.as_str(),
        "from_account_id": after.from_account_id,
        "to_account_id": after.to_account_id,
        "amount": after.amount.format(currency),
        "currency": currency.code(),
        "held_amount": amount(after.held_minor),
        "posted_amount": amount(after.posted_minor),
        "released_amount": amount(after.released_minor),
        "payment_id": after.payment_id,
        "metadata": after.metadata.to_json(),
        "expires_at": after.expires_at,
    });
    if let (Some(transfer), Some(object)) = (transfer, new_value.as_object_mut()) {
        object.insert("transfer_id".to_owned(), json!(transfer.id));
        object.insert(
            "transfer_amount".to_owned(),
            json!(transfer.amount.format(transfer.currency)),
        );
    }
    NewAuditEvent {
        action,
        resource_type: ResourceType::Hold,
        resource_id: Some(after.id.to_string()),
        old_value: before.map(|state| json!({"state": state.as_str()})),
        new_value: Some(new_value),
        context: context.clone(),
    }
}
