//! The chain check over stored rows, shared by both backends' `verify_audit_chain`.

use coffre_domain::audit::{AuditEvent, ChainReport, ChainVerifier};

use crate::rows::CorruptRow;

/// A [`ChainVerifier`] fed with rows as read from storage: a row the domain cannot decode
/// breaks the chain at its `seq` instead of failing the whole check, so `verify` still names
/// the first bad event after any edit made behind the database's back.
#[derive(Debug, Clone, Default)]
pub struct ChainCheck {
    verifier: ChainVerifier,
    last_linked_seq: i64,
    rows_checked: u64,
    undecodable_seq: Option<i64>,
    broken: bool,
}

impl ChainCheck {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next row in `seq` order; returns false once the chain is broken (stop
    /// feeding then).
    pub fn push(&mut self, row: Result<AuditEvent, CorruptRow>) -> bool {
        if self.broken {
            return false;
        }
        self.rows_checked = self.rows_checked.saturating_add(1);
        match row {
            Ok(event) => {
                if self.verifier.push(&event) {
                    self.last_linked_seq = event.seq;
                } else {
                    self.broken = true;
                }
            }
            Err(corrupt) => {
                // As with a gap, the first seq that is missing or unreadable is the bad one.
                let expected_seq = self.last_linked_seq.saturating_add(1);
                self.undecodable_seq = Some(expected_seq.min(corrupt.seq()));
                self.broken = true;
            }
        }
        !self.broken
    }

    pub fn finish(self) -> ChainReport {
        match self.undecodable_seq {
            None => self.verifier.finish(),
            Some(seq) => ChainReport {
                ok: false,
                events_checked: self.rows_checked,
                first_bad_seq: Some(seq),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffre_domain::audit::{AuditAction, AuditContext, ChainHead, NewAuditEvent};
    use coffre_domain::time::Timestamp;

    fn chain_of(count: usize) -> Vec<AuditEvent> {
        let events = (0..count)
            .map(|_| NewAuditEvent {
                action: AuditAction::Login,
                resource_type: "session".into(),
                resource_id: None,
                old_value: None,
                new_value: None,
                context: AuditContext::default(),
            })
            .collect();
        AuditEvent::chain(ChainHead::EMPTY, events, Timestamp::now())
            .unwrap()
            .0
    }

    fn undecodable(seq: i64) -> CorruptRow {
        CorruptRow::UnknownAction {
            seq,
            action: "MINT".into(),
        }
    }

    #[test]
    fn a_sound_chain_passes() {
        let mut check = ChainCheck::new();
        for event in chain_of(3) {
            assert!(check.push(Ok(event)));
        }
        let report = check.finish();
        assert!(report.ok);
        assert_eq!(report.events_checked, 3);
    }

    #[test]
    fn an_undecodable_row_is_the_first_bad_seq() {
        let mut events = chain_of(3).into_iter();
        let mut check = ChainCheck::new();
        assert!(check.push(Ok(events.next().unwrap())));
        assert!(!check.push(Err(undecodable(2))));
        assert!(!check.push(Ok(events.nth(1).unwrap())));
        let report = check.finish();
        assert_eq!((report.ok, report.events_checked), (false, 2));
        assert_eq!(report.first_bad_seq, Some(2));
    }

    #[test]
    fn an_undecodable_row_after_a_gap_names_the_gap() {
        let mut check = ChainCheck::new();
        assert!(check.push(Ok(chain_of(1).remove(0))));
        assert!(!check.push(Err(undecodable(5))));
        assert_eq!(check.finish().first_bad_seq, Some(2));
    }

    #[test]
    fn a_broken_link_is_reported_by_the_verifier() {
        let mut events = chain_of(3);
        events[1].resource_type = "account".into();
        let mut check = ChainCheck::new();
        let pushed: Vec<bool> = events
            .into_iter()
            .map(|event| check.push(Ok(event)))
            .collect();
        assert_eq!(pushed, [true, false, false]);
        assert_eq!(check.finish().first_bad_seq, Some(2));
    }
}
