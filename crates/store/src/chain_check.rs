//! The chain check over stored rows, shared by both backends' `verify_audit_chain`.

use coffre_domain::audit::{AuditEvent, ChainHead, ChainReport, ChainVerifier};

use std::future::Future;

use crate::rows::CorruptRow;
use crate::{AUDIT_PAGE_ROWS, StoreError};

/// Both backends' `verify_audit_chain`: walks the rows up to `head` a page at a time
/// (`rows_after(seq)` returns up to [`AUDIT_PAGE_ROWS`] rows after `seq`, in `seq` order) and
/// checks that the chain links and ends at `head`.
///
/// Read the head before the walk: every event up to it committed with it, so events appended
/// during the walk lie beyond it and are left for the next check.
pub async fn walk_chain<F, Fut>(
    head: ChainHead,
    mut rows_after: F,
) -> Result<ChainReport, StoreError>
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = Result<Vec<Result<AuditEvent, CorruptRow>>, StoreError>>,
{
    let mut check = ChainCheck::new();
    let mut after_seq = 0_i64;
    while after_seq < head.seq {
        let rows = rows_after(after_seq).await?;
        let full_page = rows.len() == usize::from(AUDIT_PAGE_ROWS);
        for row in rows {
            let seq = match &row {
                Ok(event) => event.seq,
                Err(corrupt) => corrupt.seq(),
            };
            if seq > head.seq {
                return Ok(check.finish_at(head));
            }
            after_seq = seq;
            if !check.push(row) {
                return Ok(check.finish());
            }
        }
        if !full_page {
            break;
        }
    }
    Ok(check.finish_at(head))
}

/// A [`ChainVerifier`] fed with rows as read from storage: a row the domain cannot decode
/// breaks the chain at its `seq` instead of failing the whole check, so `verify` still names
/// the first bad event after any edit made behind the database's back.
///
/// Feed it every row up to the stored head's `seq` and finish with [`ChainCheck::finish_at`]:
/// a chain whose newest events were deleted still links, and only the head row, which every
/// append moves in the same transaction, shows that it stops short.
#[derive(Debug, Clone)]
pub struct ChainCheck {
    verifier: ChainVerifier,
    last_linked: ChainHead,
    rows_checked: u64,
    undecodable_seq: Option<i64>,
    broken: bool,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self {
            verifier: ChainVerifier::new(),
            last_linked: ChainHead::EMPTY,
            rows_checked: 0,
            undecodable_seq: None,
            broken: false,
        }
    }
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
                    self.last_linked = ChainHead {
                        seq: event.seq,
                        hash: event.hash,
                    };
                } else {
                    self.broken = true;
                }
            }
            Err(corrupt) => {
                // As with a gap, the first seq that is missing or unreadable is the bad one.
                let expected_seq = self.last_linked.seq.saturating_add(1);
                self.undecodable_seq = Some(expected_seq.min(corrupt.seq()));
                self.broken = true;
            }
        }
        !self.broken
    }

    /// The verdict once every row with `seq <= head.seq` was pushed: the chain must end
    /// exactly at `head`. Missing newest events name the first one missing; a last event whose
    /// hash is not the head's names the head's seq.
    pub fn finish_at(self, head: ChainHead) -> ChainReport {
        let last = self.last_linked;
        let mut report = self.finish();
        if report.ok && last != head {
            report.ok = false;
            report.first_bad_seq = Some(if last.seq < head.seq {
                last.seq.saturating_add(1)
            } else {
                head.seq
            });
        }
        report
    }

    /// The verdict over the rows pushed, without comparing them with the head.
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
    use coffre_domain::audit::{AuditAction, AuditContext, ChainHead, NewAuditEvent, ResourceType};
    use coffre_domain::time::Timestamp;

    fn chain_of(count: usize) -> Vec<AuditEvent> {
        let events = (0..count)
            .map(|_| NewAuditEvent {
                action: AuditAction::Login,
                resource_type: ResourceType::Session,
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

    fn head_of(event: &AuditEvent) -> ChainHead {
        ChainHead {
            seq: event.seq,
            hash: event.hash,
        }
    }

    #[test]
    fn a_chain_must_end_at_its_head() {
        let events = chain_of(5);
        let head = head_of(&events[4]);
        let mut check = ChainCheck::new();
        for event in events.iter().take(3).cloned() {
            assert!(check.push(Ok(event)));
        }
        // The newest two deleted: what remains links, but stops short of the head.
        let report = check.clone().finish_at(head);
        assert_eq!((report.ok, report.first_bad_seq), (false, Some(4)));
        assert!(check.clone().finish().ok);
        assert!(check.finish_at(head_of(&events[2])).ok);

        // The last event present but not the one the head recorded.
        let mut check = ChainCheck::new();
        for event in chain_of(5) {
            assert!(check.push(Ok(event)));
        }
        assert_eq!(check.finish_at(head).first_bad_seq, Some(5));

        // An empty table under a head that moved: every event is gone.
        assert_eq!(ChainCheck::new().finish_at(head).first_bad_seq, Some(1));
        assert!(ChainCheck::new().finish_at(ChainHead::EMPTY).ok);
    }

    #[test]
    fn a_broken_link_is_reported_by_the_verifier() {
        let mut events = chain_of(3);
        events[1].resource_type = ResourceType::Account;
        let mut check = ChainCheck::new();
        let pushed: Vec<bool> = events
            .into_iter()
            .map(|event| check.push(Ok(event)))
            .collect();
        assert_eq!(pushed, [true, false, false]);
        assert_eq!(check.finish().first_bad_seq, Some(2));
    }
}
