//! Many rows in one statement. SQLite has no array parameters, so a batch's rows travel as one
//! JSON array that the statement reads with `json_each`: a statement per table rather than per
//! row, which is what keeps a batch's cost from growing with the number of accounts it touches.
//! Where a row is an object, `jsonb_each`: it parses the array once into SQLite's binary JSON,
//! so each `->>` reads a field without parsing the row's text again (BENCHMARKS.md, session
//! 12).
//!
//! Inside the array, blobs and ids are hex (the statement calls `unhex`), timestamps are
//! spelled exactly as SQLx writes every other one, and JSON columns travel as strings so the
//! stored text is the text we wrote.

use chrono::{DateTime, SecondsFormat, Utc};
use coffre_domain::time::Timestamp;
use serde_json::Value;
use uuid::Uuid;

pub(crate) fn id(id: Uuid) -> Value {
    Value::String(id.simple().to_string())
}

pub(crate) fn optional_id(id: Option<Uuid>) -> Value {
    id.map_or(Value::Null, self::id)
}

pub(crate) fn blob(bytes: &[u8]) -> Value {
    Value::String(hex::encode(bytes))
}

pub(crate) fn timestamp(at: Timestamp) -> Value {
    Value::String(sqlx_datetime(at.as_datetime()))
}

/// SQLx's own encoding of a `DateTime<Utc>` for SQLite, so rows written either way sort and
/// compare alike.
fn sqlx_datetime(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// The statement's one parameter.
pub(crate) fn array(rows: impl IntoIterator<Item = Value>) -> String {
    Value::Array(rows.into_iter().collect()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timestamp written through JSON must equal, as text, the one SQLx binds, or range
    /// queries and ordering over `created_at` would mix two spellings.
    #[tokio::test]
    async fn a_timestamp_through_json_is_spelled_as_sqlx_binds_it() {
        use sqlx::{Connection, SqliteConnection};
        let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let at = Timestamp::from_datetime(
            DateTime::parse_from_rfc3339("2026-12-02T10:11:12.345678Z")
                .unwrap()
                .with_timezone(&Utc),
        );
        let rows = array([serde_json::json!({ "at": timestamp(at) })]);
        let (bound, through_json): (String, String) = sqlx::query_as(
            "SELECT CAST(?1 AS TEXT), (SELECT value ->> '$.at' FROM jsonb_each(?2))",
        )
        .bind(at.as_datetime())
        .bind(rows)
        .fetch_one(&mut connection)
        .await
        .unwrap();
        assert_eq!(through_json, bound);
    }

    #[tokio::test]
    async fn ids_and_blobs_come_back_as_the_bytes_they_were() {
        use sqlx::{Connection, SqliteConnection};
        let mut connection = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let uuid = Uuid::now_v7();
        let bytes = [0_u8, 1, 0x7f, 0x80, 0xff];
        let rows = array([
            serde_json::json!({ "id": id(uuid), "blob": blob(&bytes), "none": optional_id(None) }),
        ]);
        let (back_id, back_blob, none): (Vec<u8>, Vec<u8>, Option<Vec<u8>>) = sqlx::query_as(
            "SELECT unhex(value ->> '$.id'), unhex(value ->> '$.blob'), unhex(value ->> '$.none') \
             FROM jsonb_each(?1)",
        )
        .bind(rows)
        .fetch_one(&mut connection)
        .await
        .unwrap();
        assert_eq!(back_id, uuid.as_bytes());
        assert_eq!(back_blob, bytes);
        assert_eq!(none, None);
    }
}
