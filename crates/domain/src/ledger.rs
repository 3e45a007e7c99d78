//! The ledger state machine: `apply` decides a batch of commands against the accounts a
//! backend has loaded and locked, one command after another, and returns each command's
//! outcome or typed refusal together with the effects to persist. A refused command changes
//! nothing; every accepted movement writes two lines that sum to zero.
//!
//! Nothing here does I/O: the backend loads, calls [`apply`], and writes what it returns.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Neg;

use serde_json::json;

use chrono::TimeDelta;

use crate::access::{self, Actor, Denied, PaymentParties};
use crate::audit::{AuditAction, AuditContext, NewAuditEvent};
use crate::ids::{AccountId, EntryId, PaymentId, TransferId, UserId};
use crate::money::{Amount, Currency, Money, SignedMinor};
use crate::payment::{
    AfterRefund, AnyPayment, AuthorizationCode, FailureReason, Payment, PaymentState, PaymentView,
    Terms, TooMuch,
};
use crate::text::{AccountName, Description};
use crate::time::Timestamp;

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
/// which money enters and leaves, and which alone may go below zero.
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
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Account {
    pub fn is_system(&self) -> bool {
        self.owner_id.is_none()
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

    fn audit_action(self) -> AuditAction {
        match self {
            Self::Transfer => AuditAction::Transfer,
            Self::Deposit => AuditAction::Deposit,
            Self::Withdrawal => AuditAction::Withdrawal,
            Self::Capture => AuditAction::PaymentCaptured,
            Self::Refund => AuditAction::PaymentRefunded,
        }
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
    pub created_at: Timestamp,
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
    },
    SetStatus {
        account_id: AccountId,
        status: AccountStatus,
    },
    Transfer {
        id: TransferId,
        from: AccountId,
        to: AccountId,
        money: Money,
        description: Option<Description>,
    },
    /// Money entering from the currency's system account.
    Deposit {
        id: TransferId,
        account_id: AccountId,
        money: Money,
        description: Option<Description>,
    },
    /// Money leaving to the currency's system account.
    Withdrawal {
        id: TransferId,
        account_id: AccountId,
        money: Money,
        description: Option<Description>,
    },
    CreatePayment {
        id: PaymentId,
        payer: AccountId,
        payee: AccountId,
        money: Money,
    },
    /// Holds the amount on the payer's account for `ttl`.
    Authorize {
        payment_id: PaymentId,
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
    /// The background sweep: expires the authorization if it is due, else changes nothing.
    ExpirePayment {
        payment_id: PaymentId,
    },
}

impl Action {
    /// The existing accounts the action reads, which a backend must load and lock.
    /// A payment action's accounts are its payment's payer and payee, which a backend reads
    /// from the payment it loads; they are not listed here.
    pub fn accounts(&self) -> Vec<AccountId> {
        match self {
            Self::OpenAccount { .. } => Vec::new(),
            Self::SetStatus { account_id, .. }
            | Self::Deposit { account_id, .. }
            | Self::Withdrawal { account_id, .. } => vec![*account_id],
            Self::Transfer { from, to, .. } => vec![*from, *to],
            Self::CreatePayment { payer, payee, .. } => vec![*payer, *payee],
            Self::Authorize { .. }
            | Self::Capture { .. }
            | Self::CancelPayment { .. }
            | Self::FailPayment { .. }
            | Self::Refund { .. }
            | Self::ExpirePayment { .. } => Vec::new(),
        }
    }

    /// A stable name, for metrics and logs.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::OpenAccount { .. } => "open_account",
            Self::SetStatus { .. } => "set_account_status",
            Self::Transfer { .. } => "transfer",
            Self::Deposit { .. } => "deposit",
            Self::Withdrawal { .. } => "withdrawal",
            Self::CreatePayment { .. } => "create_payment",
            Self::Authorize { .. } => "authorize_payment",
            Self::Capture { .. } => "capture_payment",
            Self::CancelPayment { .. } => "cancel_payment",
            Self::FailPayment { .. } => "fail_payment",
            Self::Refund { .. } => "refund_payment",
            Self::ExpirePayment { .. } => "expire_payment",
        }
    }

    /// The existing payment the action works on, which a backend must load and lock.
    pub fn payment(&self) -> Option<PaymentId> {
        match self {
            Self::Authorize { payment_id, .. }
            | Self::Capture { payment_id, .. }
            | Self::CancelPayment { payment_id }
            | Self::FailPayment { payment_id, .. }
            | Self::Refund { payment_id, .. }
            | Self::ExpirePayment { payment_id } => Some(*payment_id),
            Self::OpenAccount { .. }
            | Self::SetStatus { .. }
            | Self::Transfer { .. }
            | Self::Deposit { .. }
            | Self::Withdrawal { .. }
            | Self::CreatePayment { .. } => None,
        }
    }

    /// The currency whose system account the action moves money through, if any; a backend
    /// creates it when missing and loads and locks it with the others.
    pub fn system_currency(&self) -> Option<Currency> {
        match self {
            Self::Deposit { money, .. } | Self::Withdrawal { money, .. } => Some(money.currency),
            Self::OpenAccount { .. }
            | Self::SetStatus { .. }
            | Self::Transfer { .. }
            | Self::CreatePayment { .. }
            | Self::Authorize { .. }
            | Self::Capture { .. }
            | Self::CancelPayment { .. }
            | Self::FailPayment { .. }
            | Self::Refund { .. }
            | Self::ExpirePayment { .. } => None,
        }
    }
}

/// What an accepted command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Account(Account),
    Transfer(Transfer),
    Payment(PaymentView),
    /// The payer could not cover the authorization: the payment is now `failed`
    /// (`insufficient_funds`), and the request answers `INSUFFICIENT_FUNDS`.
    AuthorizationDeclined(PaymentView),
}

/// Why a command was refused. A refusal changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
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
    #[error("the balance of account {0} would exceed the largest balance Coffre keeps")]
    BalanceLimit(AccountId),
    /// The backend did not load the system account the command needs: a bug, not the
    /// client's doing.
    #[error("the system account of {0} was not loaded")]
    SystemAccountMissing(Currency),
}

/// The largest balance an account may reach, so that sums over many accounts stay far from
/// `i64`'s range.
pub const MAX_BALANCE_MINOR: i64 = 1_000_000_000_000_000_000;

pub type CommandResult = Result<Outcome, Refusal>;

/// The accounts and payments a batch works on, as loaded (and locked) by a backend.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    accounts: BTreeMap<AccountId, Account>,
    payments: BTreeMap<PaymentId, AnyPayment>,
}

impl Ledger {
    pub fn new(accounts: impl IntoIterator<Item = Account>) -> Self {
        Self {
            accounts: accounts
                .into_iter()
                .map(|account| (account.id, account))
                .collect(),
            payments: BTreeMap::new(),
        }
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

    fn system_account(&self, currency: Currency) -> Result<&Account, Refusal> {
        self.accounts
            .values()
            .find(|account| account.is_system() && account.currency == currency)
            .ok_or(Refusal::SystemAccountMissing(currency))
    }

    fn customer_account(&self, id: AccountId) -> Result<&Account, Refusal> {
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
    pub audit: Vec<NewAuditEvent>,
}

/// Applies `commands` in order to `ledger` at `now`. The ledger ends holding every account's
/// state after the batch; the effects say which accounts to write and what else to insert.
pub fn apply(
    ledger: &mut Ledger,
    commands: &[Command],
    now: Timestamp,
) -> (Vec<CommandResult>, Effects) {
    let mut effects = Effects::default();
    let results = commands
        .iter()
        .map(|command| apply_one(ledger, command, now, &mut effects))
        .collect();
    (results, effects)
}

fn apply_one(
    ledger: &mut Ledger,
    command: &Command,
    now: Timestamp,
    effects: &mut Effects,
) -> CommandResult {
    let actor = command.actor.as_ref();
    let actor = || actor.ok_or(Refusal::Forbidden);
    if let Some(payment_id) = command.action.payment() {
        expire_if_due(ledger, payment_id, now, &command.context, effects)?;
    }
    match &command.action {
        Action::OpenAccount {
            id,
            owner_id,
            currency,
            name,
        } => {
            access::create_account(actor()?, *owner_id).map_err(|_| Refusal::Forbidden)?;
            let account = Account {
                id: *id,
                owner_id: Some(*owner_id),
                currency: *currency,
                name: name.clone(),
                balance: SignedMinor::ZERO,
                held: SignedMinor::ZERO,
                status: AccountStatus::Active,
                created_at: now,
                updated_at: now,
            };
            effects
                .audit
                .push(account_opened(&account, &command.context));
            effects.opened.insert(account.id);
            ledger.accounts.insert(account.id, account.clone());
            Ok(Outcome::Account(account))
        }
        Action::SetStatus { account_id, status } => {
            access::freeze_account(actor()?).map_err(|_| Refusal::Forbidden)?;
            let account = ledger
                .accounts
                .get_mut(account_id)
                .ok_or(Refusal::AccountNotFound(*account_id))?;
            // Unfreezing stays allowed, so one frozen before this rule can still be repaired.
            if account.is_system() && *status == AccountStatus::Frozen {
                return Err(Refusal::SystemAccountFreeze(*account_id));
            }
            if account.status != *status {
                let before = account.status;
                account.status = *status;
                account.updated_at = now;
                effects
                    .audit
                    .push(status_changed(account, before, &command.context));
                if !effects.opened.contains(account_id) {
                    effects.changed.insert(*account_id);
                }
            }
            Ok(Outcome::Account(account.clone()))
        }
        Action::Transfer {
            id,
            from,
            to,
            money,
            description,
        } => {
            let source = ledger.customer_account(*from)?;
            access::transfer_from(actor()?, source.owner_id)
                .map_err(|denied| refusal(denied, *from))?;
            ledger.customer_account(*to)?;
            if from == to {
                return Err(Refusal::SameAccount);
            }
            let movement = Movement {
                id: *id,
                kind: TransferKind::Transfer,
                from: *from,
                to: *to,
                money: *money,
                description: description.clone(),
            };
            movement.post_with_event(ledger, now, effects, &command.context)
        }
        Action::Deposit {
            id,
            account_id,
            money,
            description,
        } => {
            access::deposit(actor()?).map_err(|_| Refusal::Forbidden)?;
            ledger.customer_account(*account_id)?;
            let system = ledger.system_account(money.currency)?.id;
            let movement = Movement {
                id: *id,
                kind: TransferKind::Deposit,
                from: system,
                to: *account_id,
                money: *money,
                description: description.clone(),
            };
            movement.post_with_event(ledger, now, effects, &command.context)
        }
        Action::Withdrawal {
            id,
            account_id,
            money,
            description,
        } => {
            let account = ledger.customer_account(*account_id)?;
            access::withdraw(actor()?, account.owner_id)
                .map_err(|denied| refusal(denied, *account_id))?;
            let system = ledger.system_account(money.currency)?.id;
            let movement = Movement {
                id: *id,
                kind: TransferKind::Withdrawal,
                from: *account_id,
                to: system,
                money: *money,
                description: description.clone(),
            };
            movement.post_with_event(ledger, now, effects, &command.context)
        }
        Action::CreatePayment {
            id,
            payer,
            payee,
            money,
        } => {
            let source = ledger.customer_account(*payer)?;
            access::create_payment(actor()?, source.owner_id)
                .map_err(|denied| refusal(denied, *payer))?;
            let target = ledger.customer_account(*payee)?;
            if payer == payee {
                return Err(Refusal::SameAccount);
            }
            if source.currency != money.currency || target.currency != money.currency {
                return Err(Refusal::CurrencyMismatch);
            }
            // A frozen account sends nothing, not even the promise of a payment.
            if source.status == AccountStatus::Frozen {
                return Err(Refusal::AccountFrozen(source.id));
            }
            let payment = AnyPayment::Pending(Payment::new(Terms {
                id: *id,
                payer_account_id: *payer,
                payee_account_id: *payee,
                money: *money,
                created_at: now,
            }));
            let view = payment.view();
            effects.audit.push(payment_event(
                AuditAction::PaymentCreated,
                None,
                &view,
                None,
                &command.context,
            ));
            effects.payments_opened.insert(*id);
            ledger.payments.insert(*id, payment);
            Ok(Outcome::Payment(view))
        }
        Action::ExpirePayment { payment_id } => ledger
            .payment(*payment_id)
            .map(|payment| Outcome::Payment(payment.view()))
            .ok_or(Refusal::PaymentNotFound(*payment_id)),
        Action::Authorize {
            payment_id,
            code,
            ttl,
        } => {
            let (payment, parties) = ledger.payment_for(*payment_id)?;
            access::authorize_payment(actor()?, &parties)
                .map_err(|denied| payment_refusal(denied, *payment_id))?;
            let AnyPayment::Pending(pending) = payment.clone() else {
                return Err(invalid(payment, PaymentState::Authorized));
            };
            let payer = ledger
                .account(pending.terms.payer_account_id)
                .ok_or(Refusal::AccountNotFound(pending.terms.payer_account_id))?;
            if payer.status == AccountStatus::Frozen {
                return Err(Refusal::AccountFrozen(payer.id));
            }
            // A hold towards a frozen payee could never be captured: it would only lock the
            // payer's money until it expires.
            let payee = ledger
                .account(pending.terms.payee_account_id)
                .ok_or(Refusal::AccountNotFound(pending.terms.payee_account_id))?;
            if payee.status == AccountStatus::Frozen {
                return Err(Refusal::AccountFrozen(payee.id));
            }
            let amount = SignedMinor::from(pending.terms.money.amount);
            let (after, action) = if payer.available() < amount {
                let reason = FailureReason::parse("insufficient_funds".to_owned())
                    .map_err(|_| Refusal::InsufficientFunds)?;
                (
                    AnyPayment::Failed(pending.fail(reason, now)),
                    AuditAction::PaymentFailed,
                )
            } else {
                hold(ledger, payer.id, amount, now, effects)?;
                (
                    AnyPayment::Authorized(pending.authorize(code.clone(), *ttl, now)),
                    AuditAction::PaymentAuthorized,
                )
            };
            let view = ledger.replace_payment(after, effects);
            effects.audit.push(payment_event(
                action,
                Some(payment),
                &view,
                None,
                &command.context,
            ));
            Ok(match action {
                AuditAction::PaymentFailed => Outcome::AuthorizationDeclined(view),
                _ => Outcome::Payment(view),
            })
        }
        Action::Capture {
            payment_id,
            transfer_id,
            amount,
        } => {
            let (payment, parties) = ledger.payment_for(*payment_id)?;
            access::capture_payment(actor()?, &parties)
                .map_err(|denied| payment_refusal(denied, *payment_id))?;
            let AnyPayment::Authorized(authorized) = payment.clone() else {
                return Err(invalid(payment, PaymentState::Captured));
            };
            let held = SignedMinor::from(authorized.held());
            let payer = authorized.terms.payer_account_id;
            let captured = match authorized.capture(*amount, now) {
                Ok(captured) => captured,
                Err(TooMuch(_)) => return Err(Refusal::AmountExceedsAuthorized),
            };
            // The hold is released and the captured part moves, or neither happens.
            release(ledger, payer, held, now, effects)?;
            let movement = Movement {
                id: *transfer_id,
                kind: TransferKind::Capture,
                from: payer,
                to: captured.terms.payee_account_id,
                money: Money {
                    amount: captured.state.captured,
                    currency: captured.terms.money.currency,
                },
                description: None,
            };
            let transfer = match movement.post(ledger, now, effects) {
                Ok(transfer) => transfer,
                Err(refused) => {
                    hold(ledger, payer, held, now, effects)?;
                    return Err(refused);
                }
            };
            let view = ledger.replace_payment(AnyPayment::Captured(captured), effects);
            effects.audit.push(payment_event(
                AuditAction::PaymentCaptured,
                Some(payment),
                &view,
                Some(&transfer),
                &command.context,
            ));
            Ok(Outcome::Payment(view))
        }
        Action::CancelPayment { payment_id } => {
            let (payment, parties) = ledger.payment_for(*payment_id)?;
            access::cancel_payment(actor()?, &parties)
                .map_err(|denied| payment_refusal(denied, *payment_id))?;
            let canceled = match payment.clone() {
                AnyPayment::Pending(pending) => pending.cancel(now),
                AnyPayment::Authorized(authorized) => {
                    let held = SignedMinor::from(authorized.held());
                    release(
                        ledger,
                        authorized.terms.payer_account_id,
                        held,
                        now,
                        effects,
                    )?;
                    authorized.cancel(now)
                }
                _ => return Err(invalid(payment, PaymentState::Canceled)),
            };
            let view = ledger.replace_payment(AnyPayment::Canceled(canceled), effects);
            effects.audit.push(payment_event(
                AuditAction::PaymentCanceled,
                Some(payment),
                &view,
                None,
                &command.context,
            ));
            Ok(Outcome::Payment(view))
        }
        Action::FailPayment { payment_id, reason } => {
            let (payment, parties) = ledger.payment_for(*payment_id)?;
            access::fail_payment(actor()?, &parties)
                .map_err(|denied| payment_refusal(denied, *payment_id))?;
            let AnyPayment::Pending(pending) = payment.clone() else {
                return Err(invalid(payment, PaymentState::Failed));
            };
            let failed = AnyPayment::Failed(pending.fail(reason.clone(), now));
            let view = ledger.replace_payment(failed, effects);
            effects.audit.push(payment_event(
                AuditAction::PaymentFailed,
                Some(payment),
                &view,
                None,
                &command.context,
            ));
            Ok(Outcome::Payment(view))
        }
        Action::Refund {
            payment_id,
            transfer_id,
            amount,
        } => {
            let (payment, parties) = ledger.payment_for(*payment_id)?;
            access::refund_payment(actor()?, &parties)
                .map_err(|denied| payment_refusal(denied, *payment_id))?;
            let AnyPayment::Captured(captured) = payment.clone() else {
                return Err(invalid(payment, PaymentState::Refunded));
            };
            let terms = captured.terms.clone();
            let (refunded, after) = match captured.refund(*amount, now) {
                Ok(refund) => refund,
                Err(TooMuch(_)) => return Err(Refusal::AmountExceedsRefundable),
            };
            let movement = Movement {
                id: *transfer_id,
                kind: TransferKind::Refund,
                from: terms.payee_account_id,
                to: terms.payer_account_id,
                money: Money {
                    amount: refunded,
                    currency: terms.money.currency,
                },
                description: None,
            };
            let transfer = movement.post(ledger, now, effects)?;
            let after = match after {
                AfterRefund::Partly(captured) => AnyPayment::Captured(captured),
                AfterRefund::Fully(refunded) => AnyPayment::Refunded(refunded),
            };
            let view = ledger.replace_payment(after, effects);
            effects.audit.push(payment_event(
                AuditAction::PaymentRefunded,
                Some(payment),
                &view,
                Some(&transfer),
                &command.context,
            ));
            Ok(Outcome::Transfer(transfer))
        }
    }
}

impl Ledger {
    /// A payment and the owners of its two accounts, which decide who may touch it.
    fn payment_for(&self, id: PaymentId) -> Result<(AnyPayment, PaymentParties), Refusal> {
        let payment = self.payments.get(&id).ok_or(Refusal::PaymentNotFound(id))?;
        let terms = payment.terms();
        let owner = |account| self.account(account).and_then(|account| account.owner_id);
        let parties = PaymentParties {
            payer_owner: owner(terms.payer_account_id),
            payee_owner: owner(terms.payee_account_id),
        };
        Ok((payment.clone(), parties))
    }

    /// Stores the payment's new state; returns its view.
    fn replace_payment(&mut self, payment: AnyPayment, effects: &mut Effects) -> PaymentView {
        let id = payment.terms().id;
        if !effects.payments_opened.contains(&id) {
            effects.payments_changed.insert(id);
        }
        let view = payment.view();
        self.payments.insert(id, payment);
        view
    }
}

/// An authorization past its deadline no longer holds funds: it becomes `canceled`
/// (`expired`) before anything else touches it, whatever that is.
fn expire_if_due(
    ledger: &mut Ledger,
    payment_id: PaymentId,
    now: Timestamp,
    context: &AuditContext,
    effects: &mut Effects,
) -> Result<(), Refusal> {
    let Some(AnyPayment::Authorized(authorized)) = ledger.payments.get(&payment_id) else {
        return Ok(());
    };
    if !authorized.is_expired(now) {
        return Ok(());
    }
    let authorized = authorized.clone();
    let before = AnyPayment::Authorized(authorized.clone());
    let held = SignedMinor::from(authorized.held());
    release(
        ledger,
        authorized.terms.payer_account_id,
        held,
        now,
        effects,
    )?;
    let view = ledger.replace_payment(AnyPayment::Canceled(authorized.expire(now)), effects);
    // The sweep, not the request that happened to touch it, expires the payment.
    let context = AuditContext {
        actor_id: None,
        ..context.clone()
    };
    effects.audit.push(payment_event(
        AuditAction::PaymentExpired,
        Some(before),
        &view,
        None,
        &context,
    ));
    Ok(())
}

/// Adds `amount` to the account's holds; a customer's holds never exceed its balance.
fn hold(
    ledger: &mut Ledger,
    account_id: AccountId,
    amount: SignedMinor,
    now: Timestamp,
    effects: &mut Effects,
) -> Result<(), Refusal> {
    change_held(ledger, account_id, amount, now, effects)
}

fn release(
    ledger: &mut Ledger,
    account_id: AccountId,
    amount: SignedMinor,
    now: Timestamp,
    effects: &mut Effects,
) -> Result<(), Refusal> {
    let negated = SignedMinor::ZERO
        .checked_sub(amount)
        .ok_or(Refusal::BalanceLimit(account_id))?;
    change_held(ledger, account_id, negated, now, effects)
}

fn change_held(
    ledger: &mut Ledger,
    account_id: AccountId,
    delta: SignedMinor,
    now: Timestamp,
    effects: &mut Effects,
) -> Result<(), Refusal> {
    let account = ledger
        .accounts
        .get_mut(&account_id)
        .ok_or(Refusal::AccountNotFound(account_id))?;
    let held = account
        .held
        .checked_add(delta)
        .filter(|held| !held.is_negative())
        .ok_or(Refusal::BalanceLimit(account_id))?;
    if !account.is_system() && held > account.balance {
        return Err(Refusal::InsufficientFunds);
    }
    account.held = held;
    account.updated_at = now;
    if !effects.opened.contains(&account_id) {
        effects.changed.insert(account_id);
    }
    Ok(())
}

fn invalid(payment: AnyPayment, to: PaymentState) -> Refusal {
    Refusal::InvalidState {
        from: payment.state(),
        to,
    }
}

fn payment_refusal(denied: Denied, payment: PaymentId) -> Refusal {
    match denied {
        Denied::Hidden => Refusal::PaymentNotFound(payment),
        Denied::Forbidden => Refusal::Forbidden,
    }
}

fn payment_event(
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
        resource_type: "payment".to_owned(),
        resource_id: Some(after.id.to_string()),
        old_value: before.map(|payment| json!({"state": payment.state().as_str()})),
        new_value: Some(new_value),
        context: context.clone(),
    }
}

fn refusal(denied: Denied, account: AccountId) -> Refusal {
    match denied {
        Denied::Hidden => Refusal::AccountNotFound(account),
        Denied::Forbidden => Refusal::Forbidden,
    }
}

/// A movement between two distinct accounts the ledger holds, decided after access checks.
struct Movement {
    id: TransferId,
    kind: TransferKind,
    from: AccountId,
    to: AccountId,
    money: Money,
    description: Option<Description>,
}

impl Movement {
    /// A transfer, deposit or withdrawal: the movement and the event that records it.
    fn post_with_event(
        self,
        ledger: &mut Ledger,
        now: Timestamp,
        effects: &mut Effects,
        context: &AuditContext,
    ) -> CommandResult {
        let transfer = self.post(ledger, now, effects)?;
        effects.audit.push(transfer_event(&transfer, context));
        Ok(Outcome::Transfer(transfer))
    }

    /// The remaining checks in API.md's order (currency, frozen, funds), then the two lines.
    fn post(
        self,
        ledger: &mut Ledger,
        now: Timestamp,
        effects: &mut Effects,
    ) -> Result<Transfer, Refusal> {
        let (from, to) = match (ledger.account(self.from), ledger.account(self.to)) {
            (Some(from), Some(to)) => (from, to),
            (None, _) => return Err(Refusal::AccountNotFound(self.from)),
            (_, None) => return Err(Refusal::AccountNotFound(self.to)),
        };
        if from.currency != self.money.currency || to.currency != self.money.currency {
            return Err(Refusal::CurrencyMismatch);
        }
        for account in [from, to] {
            if account.status == AccountStatus::Frozen {
                return Err(Refusal::AccountFrozen(account.id));
            }
        }
        let amount = SignedMinor::from(self.money.amount);
        if !from.is_system() && from.available() < amount {
            return Err(Refusal::InsufficientFunds);
        }
        let from_after = debit(from, amount)?;
        let to_after = credit(to, amount)?;

        let transfer = Transfer {
            id: self.id,
            kind: self.kind,
            from_account_id: self.from,
            to_account_id: self.to,
            amount: self.money.amount,
            currency: self.money.currency,
            description: self.description,
            created_at: now,
        };
        for (account_id, line, balance_after) in [
            (self.from, self.money.amount.neg(), from_after),
            (self.to, amount, to_after),
        ] {
            if let Some(account) = ledger.accounts.get_mut(&account_id) {
                account.balance = balance_after;
                account.updated_at = now;
            }
            if !effects.opened.contains(&account_id) {
                effects.changed.insert(account_id);
            }
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
        Ok(transfer)
    }
}

/// The balance after `amount` leaves `account`. Only a system account may go below zero, and
/// never below `-MAX_BALANCE_MINOR`.
fn debit(account: &Account, amount: SignedMinor) -> Result<SignedMinor, Refusal> {
    let after = account
        .balance
        .checked_sub(amount)
        .filter(|after| after.minor() >= MAX_BALANCE_MINOR.saturating_neg())
        .ok_or(Refusal::BalanceLimit(account.id))?;
    if after.is_negative() && !account.is_system() {
        return Err(Refusal::InsufficientFunds);
    }
    Ok(after)
}

fn credit(account: &Account, amount: SignedMinor) -> Result<SignedMinor, Refusal> {
    account
        .balance
        .checked_add(amount)
        .filter(|after| after.minor() <= MAX_BALANCE_MINOR)
        .ok_or(Refusal::BalanceLimit(account.id))
}

fn account_opened(account: &Account, context: &AuditContext) -> NewAuditEvent {
    NewAuditEvent {
        action: AuditAction::AccountCreated,
        resource_type: "account".to_owned(),
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

fn status_changed(
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
        resource_type: "account".to_owned(),
        resource_id: Some(account.id.to_string()),
        old_value: Some(json!({"status": before.as_str()})),
        new_value: Some(json!({"status": account.status.as_str()})),
        context: context.clone(),
    }
}

fn transfer_event(transfer: &Transfer, context: &AuditContext) -> NewAuditEvent {
    NewAuditEvent {
        action: transfer.kind.audit_action(),
        resource_type: "transfer".to_owned(),
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

/// One account as `ledger/verify` sees it: its cached balance and holds, the sum of its ledger
/// lines, and the sum of the authorized payments it pays, recomputed from their rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountCheck {
    pub id: AccountId,
    pub owner_id: Option<UserId>,
    pub currency: Currency,
    pub balance: SignedMinor,
    pub held: SignedMinor,
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
    /// Accounts whose balance is not the sum of their lines, whose holds are not the sum of
    /// their authorized payments, or that are customer accounts below zero (balance or
    /// available).
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

/// The ledger invariants over every account: each balance equals the sum of its lines, each
/// hold the sum of its authorized payments, each currency sums to zero, and no customer
/// account is negative.
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
        let below_zero = account.owner_id.is_some()
            && (account.balance.is_negative()
                || account
                    .balance
                    .checked_sub(account.held)
                    .is_none_or(|available| available.is_negative()));
        let stale = account.balance != account.lines_sum || account.held != account.holds_sum;
        if stale || account.held.is_negative() || below_zero {
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
    use crate::user::Role;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    fn money(minor: i64, currency: Currency) -> Money {
        Money {
            amount: Amount::from_minor(minor).unwrap(),
            currency,
        }
    }

    fn actor(role: Role) -> Actor {
        Actor {
            user_id: UserId::new(),
            role,
        }
    }

    fn account(owner: Option<UserId>, currency: Currency, balance: i64) -> Account {
        Account {
            id: AccountId::new(),
            owner_id: owner,
            currency,
            name: None,
            balance: SignedMinor::new(balance),
            held: SignedMinor::ZERO,
            status: AccountStatus::Active,
            created_at: Timestamp::now(),
            updated_at: Timestamp::now(),
        }
    }

    fn command(actor: Actor, action: Action) -> Command {
        Command {
            actor: Some(actor),
            context: AuditContext::default(),
            action,
        }
    }

    fn transfer(actor: Actor, from: AccountId, to: AccountId, money: Money) -> Command {
        command(
            actor,
            Action::Transfer {
                id: TransferId::new(),
                from,
                to,
                money,
                description: None,
            },
        )
    }

    struct World {
        alice: Actor,
        bob: Actor,
        manager: Actor,
        admin: Actor,
        a: AccountId,
        b: AccountId,
        system: AccountId,
        ledger: Ledger,
    }

    fn world() -> World {
        let (alice, bob) = (actor(Role::User), actor(Role::User));
        let a = account(Some(alice.user_id), eur(), 1_000);
        let b = account(Some(bob.user_id), eur(), 0);
        let system = account(None, eur(), -1_000);
        World {
            alice,
            bob,
            manager: actor(Role::Manager),
            admin: actor(Role::Admin),
            a: a.id,
            b: b.id,
            system: system.id,
            ledger: Ledger::new([a, b, system]),
        }
    }

    fn apply_one_command(ledger: &mut Ledger, command: Command) -> (CommandResult, Effects) {
        let (mut results, effects) = apply(ledger, &[command], Timestamp::now());
        (results.remove(0), effects)
    }

    #[test]
    fn a_transfer_writes_two_lines_that_sum_to_zero() {
        let mut w = world();
        let cmd = transfer(w.alice, w.a, w.b, money(250, eur()));
        let (result, effects) = apply_one_command(&mut w.ledger, cmd);
        let Ok(Outcome::Transfer(transfer)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(transfer.kind, TransferKind::Transfer);
        let lines: Vec<i64> = effects.entries.iter().map(|e| e.amount.minor()).collect();
        assert_eq!(lines, vec![-250, 250]);
        let after: Vec<i64> = effects
            .entries
            .iter()
            .map(|e| e.balance_after.minor())
            .collect();
        assert_eq!(after, vec![750, 250]);
        assert_eq!(w.ledger.account(w.a).unwrap().balance.minor(), 750);
        assert_eq!(w.ledger.account(w.b).unwrap().balance.minor(), 250);
        assert_eq!(effects.changed, BTreeSet::from([w.a, w.b]));
        assert_eq!(effects.audit.len(), 1);
        assert_eq!(effects.audit[0].action, AuditAction::Transfer);
    }

    #[test]
    fn checks_run_in_the_contract_order() {
        let mut w = world();
        let usd = Currency::parse("USD").unwrap();
        let missing = AccountId::new();
        let cases = [
            // Someone else's account is invisible to a user, and forbidden to a manager.
            (
                transfer(w.bob, w.a, w.b, money(1, eur())),
                Refusal::AccountNotFound(w.a),
            ),
            (
                transfer(w.manager, w.a, w.b, money(1, eur())),
                Refusal::Forbidden,
            ),
            (
                transfer(w.alice, w.a, missing, money(1, eur())),
                Refusal::AccountNotFound(missing),
            ),
            // The system account is not a transfer party.
            (
                transfer(w.alice, w.a, w.system, money(1, eur())),
                Refusal::AccountNotFound(w.system),
            ),
            // Same account comes before currency and funds.
            (
                transfer(w.alice, w.a, w.a, money(5_000, usd)),
                Refusal::SameAccount,
            ),
            (
                transfer(w.alice, w.a, w.b, money(5_000, usd)),
                Refusal::CurrencyMismatch,
            ),
            (
                transfer(w.alice, w.a, w.b, money(1_001, eur())),
                Refusal::InsufficientFunds,
            ),
        ];
        let before = w.ledger.clone();
        for (cmd, refusal) in cases {
            let (result, effects) = apply_one_command(&mut w.ledger, cmd);
            assert_eq!(result, Err(refusal));
            assert_eq!(effects, Effects::default());
            assert_eq!(w.ledger, before);
        }
    }

    #[test]
    fn frozen_accounts_neither_send_nor_receive() {
        let mut w = world();
        let freeze = command(
            w.manager,
            Action::SetStatus {
                account_id: w.b,
                status: AccountStatus::Frozen,
            },
        );
        let (result, effects) = apply_one_command(&mut w.ledger, freeze);
        assert!(matches!(result, Ok(Outcome::Account(ref a)) if a.status == AccountStatus::Frozen));
        assert_eq!(effects.audit[0].action, AuditAction::AccountFrozen);

        let (result, _) =
            apply_one_command(&mut w.ledger, transfer(w.alice, w.a, w.b, money(1, eur())));
        assert_eq!(result, Err(Refusal::AccountFrozen(w.b)));
        let (result, _) =
            apply_one_command(&mut w.ledger, transfer(w.bob, w.b, w.a, money(1, eur())));
        assert_eq!(result, Err(Refusal::AccountFrozen(w.b)));

        // Freezing again changes nothing and writes nothing.
        let again = command(
            w.admin,
            Action::SetStatus {
                account_id: w.b,
                status: AccountStatus::Frozen,
            },
        );
        let (result, effects) = apply_one_command(&mut w.ledger, again);
        assert!(result.is_ok());
        assert_eq!(effects, Effects::default());

        let by_user = command(
            w.bob,
            Action::SetStatus {
                account_id: w.b,
                status: AccountStatus::Active,
            },
        );
        assert_eq!(
            apply_one_command(&mut w.ledger, by_user).0,
            Err(Refusal::Forbidden)
        );
    }

    #[test]
    fn a_system_account_cannot_be_frozen_but_can_be_unfrozen() {
        let mut w = world();
        for actor in [w.manager, w.admin] {
            let freeze = command(
                actor,
                Action::SetStatus {
                    account_id: w.system,
                    status: AccountStatus::Frozen,
                },
            );
            let before = w.ledger.clone();
            let (result, effects) = apply_one_command(&mut w.ledger, freeze);
            assert_eq!(result, Err(Refusal::SystemAccountFreeze(w.system)));
            assert_eq!(effects, Effects::default());
            assert_eq!(w.ledger, before);
        }
        let unfreeze = command(
            w.manager,
            Action::SetStatus {
                account_id: w.system,
                status: AccountStatus::Active,
            },
        );
        assert!(apply_one_command(&mut w.ledger, unfreeze).0.is_ok());
    }

    #[test]
    fn deposits_and_withdrawals_go_through_the_system_account() {
        let mut w = world();
        let deposit = |actor| {
            command(
                actor,
                Action::Deposit {
                    id: TransferId::new(),
                    account_id: w.b,
                    money: money(300, eur()),
                    description: None,
                },
            )
        };
        assert_eq!(
            apply_one_command(&mut w.ledger, deposit(w.manager)).0,
            Err(Refusal::Forbidden)
        );
        let (result, effects) = apply_one_command(&mut w.ledger, deposit(w.admin));
        let Ok(Outcome::Transfer(t)) = result else {
            panic!("{result:?}")
        };
        assert_eq!((t.from_account_id, t.to_account_id), (w.system, w.b));
        assert_eq!(effects.audit[0].action, AuditAction::Deposit);
        assert_eq!(w.ledger.account(w.system).unwrap().balance.minor(), -1_300);

        let withdrawal = |actor, minor| {
            command(
                actor,
                Action::Withdrawal {
                    id: TransferId::new(),
                    account_id: w.b,
                    money: money(minor, eur()),
                    description: None,
                },
            )
        };
        assert_eq!(
            apply_one_command(&mut w.ledger, withdrawal(w.alice, 1)).0,
            Err(Refusal::AccountNotFound(w.b))
        );
        assert_eq!(
            apply_one_command(&mut w.ledger, withdrawal(w.manager, 1)).0,
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            apply_one_command(&mut w.ledger, withdrawal(w.bob, 301)).0,
            Err(Refusal::InsufficientFunds)
        );
        let (result, _) = apply_one_command(&mut w.ledger, withdrawal(w.admin, 300));
        assert!(result.is_ok());
        assert_eq!(w.ledger.account(w.b).unwrap().balance.minor(), 0);
        assert_eq!(w.ledger.account(w.system).unwrap().balance.minor(), -1_000);
    }

    #[test]
    fn a_missing_system_account_is_reported_not_invented() {
        let alice = actor(Role::Admin);
        let a = account(Some(alice.user_id), eur(), 0);
        let mut ledger = Ledger::new([a.clone()]);
        let cmd = command(
            alice,
            Action::Deposit {
                id: TransferId::new(),
                account_id: a.id,
                money: money(1, eur()),
                description: None,
            },
        );
        assert_eq!(
            apply_one_command(&mut ledger, cmd).0,
            Err(Refusal::SystemAccountMissing(eur()))
        );
    }

    #[test]
    fn balances_stop_at_the_limit() {
        let alice = actor(Role::User);
        let a = account(Some(alice.user_id), eur(), Amount::MAX_MINOR);
        let b = account(Some(UserId::new()), eur(), MAX_BALANCE_MINOR);
        let mut ledger = Ledger::new([a.clone(), b.clone()]);
        let cmd = transfer(alice, a.id, b.id, money(1, eur()));
        assert_eq!(
            apply_one_command(&mut ledger, cmd).0,
            Err(Refusal::BalanceLimit(b.id))
        );
    }

    #[test]
    fn opening_an_account_for_someone_else_takes_an_admin() {
        let mut ledger = Ledger::default();
        let user = actor(Role::User);
        let open = |actor: Actor, owner_id| {
            command(
                actor,
                Action::OpenAccount {
                    id: AccountId::new(),
                    owner_id,
                    currency: eur(),
                    name: None,
                },
            )
        };
        let (result, _) = apply_one_command(&mut ledger, open(actor(Role::Manager), user.user_id));
        assert_eq!(result, Err(Refusal::Forbidden));
        let (result, effects) = apply_one_command(&mut ledger, open(user, user.user_id));
        let Ok(Outcome::Account(account)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(account.owner_id, Some(user.user_id));
        assert_eq!(effects.opened, BTreeSet::from([account.id]));
        assert_eq!(effects.audit[0].action, AuditAction::AccountCreated);
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
