//! An account's past, read from its ledger lines: its balance at a point in time, and the lines
//! and totals of a window (a statement).

use coffre_domain::ids::EntryId;
use coffre_domain::money::SignedMinor;
use coffre_domain::time::Timestamp;

/// A point in an account's history, with or without the lines written at that very instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointInTime {
    /// After every line written at or before the instant (a balance "as of").
    AtOrBefore(Timestamp),
    /// After every line written before the instant (a statement's opening balance).
    Before(Timestamp),
}

/// An account's balance at a [`PointInTime`]: the `balance_after` of its newest line by then,
/// or zero when it had none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceAt {
    pub balance: SignedMinor,
    pub last_entry_id: Option<EntryId>,
}

impl BalanceAt {
    pub const NO_LINES: BalanceAt = BalanceAt {
        balance: SignedMinor::ZERO,
        last_entry_id: None,
    };
}

/// The lines written at or after `from` and before `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// A window's lines summed by direction: `debits` is the sum of the negative lines as a positive
/// number, `credits` the sum of the positive ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowTotals {
    pub debits: SignedMinor,
    pub credits: SignedMinor,
}
