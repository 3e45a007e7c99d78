//! Group commit (DESIGN.md §2): one task in front of `Store::commit_batch` gathers the commands that
//! arrive while the previous batch commits into the next batch, up to [`MAX_BATCH`]. Idle, a
//! command commits alone; under load, many share one transaction: one lock of each account,
//! one audit-chain append, one commit. Each command keeps its own outcome (the ledger decides
//! them one after another); the store isolates a command whose own data the database refuses,
//! and a fault of the database fails the commands it reaches (DESIGN.md §2, "Faults").

use std::sync::Arc;

use coffre_store::{BATCH_WAIT, Executed, LedgerRequest, Renderer, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::edge::metrics;

/// The most commands one transaction carries.
pub const MAX_BATCH: usize = 128;

/// Commands waiting for the dispatcher; past this, senders wait (backpressure).
const QUEUE: usize = 4_096;

struct Job {
    request: LedgerRequest,
    reply: oneshot::Sender<Result<Executed, StoreError>>,
}

#[derive(Clone)]
pub struct Dispatcher {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dispatcher")
    }
}

impl Dispatcher {
    /// Starts the dispatching task on the current runtime; it ends when every handle is gone.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(dispatch(store, crate::routes::event_renderer(), queue));
        Self { jobs }
    }

    /// Runs one command in the next batch and returns its own result.
    pub async fn enqueue(&self, request: LedgerRequest) -> Result<Executed, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { request, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Internal("the ledger dispatcher stopped".into())
}

async fn dispatch(store: Arc<dyn Store>, renderer: Renderer, mut queue: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let (requests, replies): (Vec<LedgerRequest>, Vec<_>) =
            jobs.drain(..).map(|job| (job.request, job.reply)).unzip();
        metrics::engine_batch(requests.len());
        // Bounded, so that a batch stuck on a dead connection cannot hold up every command
        // queued behind it: the store keeps its own deadlines, this is the backstop.
        let batch = store.commit_batch(requests, renderer.clone());
        let results = match tokio::time::timeout(BATCH_WAIT, batch).await {
            Ok(results) => results,
            Err(_elapsed) => {
                tracing::error!("a ledger batch outlived its deadline; its commands answer 503");
                Vec::new()
            }
        };
        let mut results = results.into_iter();
        for reply in replies {
            let result = results
                .next()
                .unwrap_or_else(|| Err(StoreError::deadline_exceeded()));
            let _ = reply.send(result);
        }
    }
}
