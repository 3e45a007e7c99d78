//! Runs a transaction in a task of its own.
//!
//! A client that disconnects drops its handler's future; if that future owned a transaction, a
//! pooled connection could be left mid-transaction. Spawned, the transaction finishes (commits
//! or rolls back) whatever happens to the caller.

use std::future::Future;

use coffre_store::StoreError;

pub(crate) async fn run<T, F>(transaction: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, StoreError>> + Send + 'static,
{
    tokio::spawn(transaction)
        .await
        .map_err(|join_error| StoreError::Internal(Box::new(join_error)))?
}
