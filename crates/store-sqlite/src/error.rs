//! The one mapping from SQLx failures to [`StoreError`] for SQLite.

use coffre_store::StoreError;
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::migrate::MigrateError;

// Primary result codes (the low byte of an extended code).
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
// Extended result code.
const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;

pub(crate) fn map_error(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(database_error) => map_database_error(database_error),
        error @ (sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed) => StoreError::Unavailable(Box::new(error)),
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
    let extended_code: i32 = error
        .code()
        .and_then(|code| code.parse().ok())
        .unwrap_or_default();
    match extended_code & 0xff {
        // The write lock stayed taken for the whole busy timeout.
        SQLITE_BUSY | SQLITE_LOCKED => StoreError::Contention,
        SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN => {
            StoreError::Unavailable(Box::new(sqlx::Error::Database(error)))
        }
        _ => match constraint_name(error.kind(), extended_code, error.message()) {
            Some(constraint) => StoreError::Constraint { constraint },
            None => StoreError::Internal(Box::new(sqlx::Error::Database(error))),
        },
    }
}

/// SQLite names a violated constraint only in its message. CHECK constraints carry their
/// declared name; a unique violation lists the columns, which become the name PostgreSQL gives
/// such a constraint by default (`<table>_pkey`, `<table>_<columns>_key`), so both backends
/// report the same name for the same constraint.
fn constraint_name(kind: ErrorKind, extended_code: i32, message: &str) -> Option<String> {
    match kind {
        ErrorKind::CheckViolation => message
            .strip_prefix("CHECK constraint failed: ")
            .map(str::to_owned),
        ErrorKind::UniqueViolation => {
            let target = message.strip_prefix("UNIQUE constraint failed: ")?;
            if let Some(index) = target.strip_prefix("index '") {
                return index.strip_suffix('\'').map(str::to_owned);
            }
            let mut columns = target.split(", ").map(|column| column.split_once('.'));
            let (table, first_column) = columns.next()??;
            if extended_code == SQLITE_CONSTRAINT_PRIMARYKEY {
                return Some(format!("{table}_pkey"));
            }
            let mut name = format!("{table}_{first_column}");
            for column in columns {
                let (_, column) = column?;
                name.push('_');
                name.push_str(column);
            }
            name.push_str("_key");
            Some(name)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection, SqliteConnection};
    use std::time::Duration;

    async fn error_of(connection: &mut SqliteConnection, sql: &'static str) -> StoreError {
        map_error(sqlx::raw_sql(sql).execute(connection).await.unwrap_err())
    }

    fn constraint(error: StoreError) -> String {
        match error {
            StoreError::Constraint { constraint } => constraint,
            other => panic!("expected a constraint, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn constraints_are_named_as_postgresql_names_them() {
        let (_store, url, _dir) = testing::fresh_database().await;
        let mut connection = SqliteConnection::connect(&url).await.unwrap();
        let insert = "INSERT INTO audit_events VALUES (1, zeroblob(16), 'now', NULL, 'LOGIN', \
                      'session', NULL, NULL, NULL, NULL, NULL, NULL, zeroblob(32), zeroblob(32))";
        sqlx::raw_sql(insert)
            .execute(&mut connection)
            .await
            .unwrap();

        let error = error_of(
            &mut connection,
            "INSERT INTO audit_events VALUES (2, randomblob(16), 'now', NULL, 'login', \
             'session', NULL, NULL, NULL, NULL, NULL, NULL, zeroblob(32), zeroblob(32))",
        )
        .await;
        assert_eq!(constraint(error), "audit_events_action_check");

        sqlx::raw_sql("CREATE TABLE pairs (a INTEGER PRIMARY KEY, b TEXT, c TEXT, UNIQUE (b, c))")
            .execute(&mut connection)
            .await
            .unwrap();
        sqlx::raw_sql("INSERT INTO pairs VALUES (1, 'x', 'y')")
            .execute(&mut connection)
            .await
            .unwrap();
        let error = error_of(&mut connection, "INSERT INTO pairs VALUES (1, 'z', 'z')").await;
        assert_eq!(constraint(error), "pairs_pkey");
        let error = error_of(&mut connection, "INSERT INTO pairs VALUES (2, 'x', 'y')").await;
        assert_eq!(constraint(error), "pairs_b_c_key");
        sqlx::raw_sql("CREATE UNIQUE INDEX pairs_upper_c ON pairs (upper(c))")
            .execute(&mut connection)
            .await
            .unwrap();
        let error = error_of(&mut connection, "INSERT INTO pairs VALUES (3, 'q', 'Y')").await;
        assert_eq!(constraint(error), "pairs_upper_c");

        let error = error_of(&mut connection, "SELECT * FROM no_such_table").await;
        assert!(matches!(error, StoreError::Internal(_)), "{error:?}");
    }

    #[tokio::test]
    async fn a_write_lock_held_too_long_is_contention() {
        let (_store, url, _dir) = testing::fresh_database().await;
        let options: SqliteConnectOptions = url.parse().unwrap();
        let options = options.busy_timeout(Duration::ZERO);
        let mut holder = options.connect().await.unwrap();
        let mut waiter = options.connect().await.unwrap();
        let _lock = holder.begin_with("BEGIN IMMEDIATE").await.unwrap();
        let error = waiter.begin_with("BEGIN IMMEDIATE").await.unwrap_err();
        assert!(matches!(map_error(error), StoreError::Contention));
    }

    #[test]
    fn connection_failures_are_unavailable() {
        let error = map_error(sqlx::Error::PoolClosed);
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        let error = map_error(sqlx::Error::RowNotFound);
        assert!(matches!(error, StoreError::Internal(_)), "{error:?}");
    }
}
