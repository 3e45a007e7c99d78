//! The one mapping from SQLx failures to [`StoreError`] for PostgreSQL.

use coffre_store::StoreError;
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::migrate::MigrateError;

use crate::primary::ReadOnlyHost;

/// SQLSTATEs of a transaction PostgreSQL aborted so another could proceed; retrying it may
/// succeed.
const SERIALIZATION_FAILURE: &str = "40001";
const DEADLOCK_DETECTED: &str = "40P01";

/// SQLSTATEs that mean the server cannot serve this connection now: the request may succeed
/// later, against the same settings.
fn is_connection_level(sqlstate: &str) -> bool {
    sqlstate.starts_with("08") // connection exception
        || matches!(
            sqlstate,
            "57P01" // admin_shutdown
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now
                | "57P04" // database_dropped
                | "53300" // too_many_connections
                | "3D000" // invalid_catalog_name: the database does not exist
                | "28000" // invalid_authorization_specification
                | "28P01" // invalid_password
                // A limit of `SESSION_LIMITS` ran out: the server did not finish the work in
                // time. Nothing of a transaction it cancelled committed.
                | "57014" // query_canceled: statement_timeout
                | "55P03" // lock_not_available: lock_timeout
                | "25P03" // idle_in_transaction_session_timeout
                | "57P05" // idle_session_timeout
                // A write on a server that became a standby, or read-only, since the session
                // opened: nothing was written; the primary is elsewhere now.
                | "25006" // read_only_sql_transaction
        )
}

pub(crate) fn map_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(database_error) => map_database_error(database_error),
        // The connection broke (reset, closed, confused): a COMMIT in flight may or may not
        // have committed, so it is `Unavailable` either way, never `Internal` (a retry with
        // the same key is safe).
        error @ (sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::BeginFailed
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(Box::new(error)),
        // No host of the URL is writable now: a failover is under way.
        sqlx::Error::Configuration(ref cause) if cause.is::<ReadOnlyHost>() => {
            StoreError::Unavailable(Box::new(error))
        }
        other => StoreError::Internal(Box::new(other)),
    }
}

/// Stored data the domain refuses: only an edit behind the store's back produces it.
pub(crate) fn internal(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Internal(Box::new(error))
}

pub(crate) fn map_migrate_error(error: MigrateError) -> StoreError {
    match error {
        MigrateError::Execute(error) | MigrateError::ExecuteMigration(error, _) => map_error(error),
        other => StoreError::Internal(Box::new(other)),
    }
}

fn map_database_error(error: Box<dyn DatabaseError>) -> StoreError {
    let sqlstate = error
        .code()
        .map(|code| code.into_owned())
        .unwrap_or_default();
    if sqlstate == SERIALIZATION_FAILURE || sqlstate == DEADLOCK_DETECTED {
        tracing::debug!(%sqlstate, "transaction aborted by contention: {}", error.message());
        return StoreError::Contention;
    }
    if is_connection_level(&sqlstate) {
        return StoreError::Unavailable(Box::new(sqlx::Error::Database(error)));
    }
    let names_a_constraint = matches!(
        error.kind(),
        ErrorKind::UniqueViolation
            | ErrorKind::ForeignKeyViolation
            | ErrorKind::CheckViolation
            | ErrorKind::ExclusionViolation
    );
    match error.constraint() {
        Some(constraint) if names_a_constraint => StoreError::Constraint {
            constraint: constraint.to_owned(),
        },
        _ => StoreError::Internal(Box::new(sqlx::Error::Database(error))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use sqlx::{Connection, PgConnection};

    async fn error_of(connection: &mut PgConnection, sql: &'static str) -> StoreError {
        let error = sqlx::raw_sql(sql).execute(connection).await.unwrap_err();
        map_error(error)
    }

    #[tokio::test]
    async fn database_errors_map_to_what_the_caller_can_do() {
        let (_store, url) = testing::fresh_database().await;
        let mut connection = PgConnection::connect(&url).await.unwrap();

        let error = error_of(
            &mut connection,
            "DO $$ BEGIN RAISE EXCEPTION 'lost a race' USING ERRCODE = 'serialization_failure'; END $$",
        )
        .await;
        assert!(matches!(error, StoreError::Contention), "{error:?}");

        let error = error_of(
            &mut connection,
            "DO $$ BEGIN RAISE EXCEPTION 'cycle' USING ERRCODE = 'deadlock_detected'; END $$",
        )
        .await;
        assert!(matches!(error, StoreError::Contention), "{error:?}");

        let error = error_of(
            &mut connection,
            "INSERT INTO audit_events VALUES (1, gen_random_uuid(), now(), NULL, 'lower', 'x', \
             NULL, NULL, NULL, NULL, NULL, NULL, '\\x00'::bytea, '\\x00'::bytea)",
        )
        .await;
        match error {
            StoreError::Constraint { constraint } => {
                assert_eq!(constraint, "audit_events_action_check");
            }
            other => panic!("expected a constraint, got {other:?}"),
        }

        let error = error_of(&mut connection, "SELECT * FROM no_such_table").await;
        assert!(matches!(error, StoreError::Internal(_)), "{error:?}");

        let error = error_of(
            &mut connection,
            "DO $$ BEGIN RAISE EXCEPTION 'bye' USING ERRCODE = 'admin_shutdown'; END $$",
        )
        .await;
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");

        // A session on a server gone read-only (a demoted primary) writes nothing.
        let error = error_of(
            &mut connection,
            "SET transaction_read_only = on; CREATE TABLE never_written (id int)",
        )
        .await;
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
    }

    #[test]
    fn connection_failures_are_unavailable() {
        let error = map_error(sqlx::Error::PoolTimedOut);
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        let error = map_error(sqlx::Error::RowNotFound);
        assert!(matches!(error, StoreError::Internal(_)), "{error:?}");
        let read_only = crate::primary::ReadOnlyHost::for_tests("h2:5433");
        let error = map_error(sqlx::Error::Configuration(Box::new(read_only)));
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        let error = map_error(sqlx::Error::Configuration("bad".into()));
        assert!(matches!(error, StoreError::Internal(_)), "{error:?}");
    }
}
