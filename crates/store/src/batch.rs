//! How a backend runs a batch (DESIGN.md §2, "Faults"): every run of it has a deadline, the
//! whole batch a budget, and a command whose own data the database refuses is isolated so that
//! its neighbours still commit.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Executed, LedgerRequest, StoreError};

/// The longest one run of a batch may take, from asking the pool for a connection to the end
/// of its commit. A run that misses it fails its commands as `Unavailable`, and its connection is closed: it may be
/// stuck on a peer that vanished, or on a lock held elsewhere.
pub const ATTEMPT_DEADLINE: Duration = Duration::from_secs(5);

/// No run of a batch (a retry after contention, a part of a split batch) starts after this
/// much time since the batch began; its commands not yet decided fail as `Unavailable`.
pub const BATCH_BUDGET: Duration = Duration::from_secs(10);

/// The longest a caller of [`Store::commit_batch`](crate::Store::commit_batch) has to wait: every run
/// starts within the budget and ends within its deadline. A second more for the task hops.
pub const BATCH_WAIT: Duration = Duration::from_secs(16);

/// A batch, or one run of it, that ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the ledger batch missed its deadline")]
pub struct DeadlineExceeded;

impl StoreError {
    /// The batch ran out of time: as good as unavailable, and a retry with the same key is safe
    /// (it replays the batch's result if the batch committed after all, and runs afresh if it
    /// did not).
    pub fn deadline_exceeded() -> Self {
        Self::Unavailable(Box::new(DeadlineExceeded))
    }

    /// The same failure, for another command of the batch (a `StoreError` is not `Clone`: its
    /// sources are boxed errors). The kind, which is all a caller acts on, is kept; the cause was
    /// logged once.
    pub fn duplicate(&self) -> Self {
        match self {
            Self::Unavailable(source) => Self::Unavailable(source.to_string().into()),
            Self::Contention => Self::Contention,
            Self::Constraint { constraint } => Self::Constraint {
                constraint: constraint.clone(),
            },
            Self::Internal(source) => Self::Internal(source.to_string().into()),
        }
    }

    /// A failure caused by the data of one of the batch's commands (a constraint refused a
    /// row it wrote), not by the database: nothing was committed, and the batch without that
    /// command may well succeed.
    fn belongs_to_a_command(&self) -> bool {
        matches!(self, Self::Constraint { .. })
    }
}

/// Runs `batch` through `run` (one transaction over the requests it is given, with the
/// deadline before which it must not start another attempt) and returns one result per
/// request, in request order.
///
/// When a run fails for a reason that belongs to one command, the part is split in two and each
/// half runs again, in order, down to that command alone, which alone gets the error: the
/// others commit as if it had not been sent. A failure of the database itself (unavailable,
/// contention outlasting its retries, a missed deadline) fails the part and everything after
/// it, and nothing here runs it again: a run that failed that way may have committed.
pub async fn run_isolating<F, Fut>(
    batch: Vec<LedgerRequest>,
    mut run: F,
) -> Vec<Result<Executed, StoreError>>
where
    F: FnMut(Arc<Vec<LedgerRequest>>, Instant) -> Fut,
    Fut: Future<Output = Result<Vec<Executed>, StoreError>>,
{
    if batch.is_empty() {
        return Vec::new();
    }
    let budget_ends = Instant::now().checked_add(BATCH_BUDGET);
    let total = batch.len();
    let mut results = Vec::with_capacity(total);
    // The parts still to run, the next one last; a batch usually is one part, run once.
    let mut parts = vec![Arc::new(batch)];
    while let Some(part) = parts.pop() {
        let Some(budget_ends) = budget_ends.filter(|ends| Instant::now() < *ends) else {
            fail_rest(&mut results, total, &StoreError::deadline_exceeded());
            break;
        };
        let size = part.len();
        match run(Arc::clone(&part), budget_ends).await {
            Ok(executed) if executed.len() == size => results.extend(executed.into_iter().map(Ok)),
            Ok(_) => {
                let error = StoreError::Internal(
                    "the store answered a batch with the wrong number of results".into(),
                );
                fail_rest(&mut results, total, &error);
                break;
            }
            Err(error) if error.belongs_to_a_command() && size > 1 => {
                let requests = Arc::unwrap_or_clone(part);
                let middle = size.div_ceil(2);
                let (first, second) = requests.split_at(middle);
                parts.push(Arc::new(second.to_vec()));
                parts.push(Arc::new(first.to_vec()));
            }
            // The command alone: it gets the error, as an internal one.
            Err(error) if error.belongs_to_a_command() => results.push(Err(error)),
            Err(error) => {
                fail_rest(&mut results, total, &error);
                break;
            }
        }
    }
    results
}

/// Fills `results` up to `total` with `error`.
fn fail_rest(results: &mut Vec<Result<Executed, StoreError>>, total: usize, error: &StoreError) {
    while results.len() < total {
        results.push(Err(error.duplicate()));
    }
}
