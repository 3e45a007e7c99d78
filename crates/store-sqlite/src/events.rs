//! The event log in SQLite: a batch's events in one INSERT over a JSON array, reads newest
//! first, and the retention purge.

use coffre_domain::event::EventId;
use coffre_domain::time::Timestamp;
use coffre_store::{
    EventFilter, EventRecord, EventRow, PURGE_BATCH_ROWS, Page, PageLimit, StoreError, TypeFilter,
};
use serde_json::json;
use sqlx::{SqliteConnection, SqlitePool};

use crate::error::{internal, map_error};
use crate::json_rows;
use crate::transaction::begin_immediate;

/// The batch's events, one statement (see [`json_rows`]).
pub(crate) async fn insert(
    connection: &mut SqliteConnection,
    events: &[EventRecord],
) -> Result<(), StoreError> {
    let rows = json_rows::array(events.iter().map(|event| {
        json!({
            "id": json_rows::id(event.id.as_uuid()),
            "type": event.event_type.as_str(),
            "object": event.object,
            "created_at": json_rows::timestamp(event.created_at),
        })
    }));
    sqlx::query!(
        "INSERT INTO events (id, type, object, created_at) \
         SELECT unhex(value ->> '$.id'), value ->> '$.type', value ->> '$.object', \
                value ->> '$.created_at' \
         FROM jsonb_each(?1)",
        rows,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

pub(crate) async fn find(
    pool: &SqlitePool,
    id: EventId,
) -> Result<Option<EventRecord>, StoreError> {
    let id = id.as_uuid();
    sqlx::query_as!(
        EventRow,
        r#"SELECT id AS "id!: uuid::Uuid", type AS "event_type!", object AS "object!",
                  created_at AS "created_at!: chrono::DateTime<chrono::Utc>"
           FROM events WHERE id = ?1"#,
        id,
    )
    .fetch_optional(pool)
    .await
    .map_err(map_error)?
    .map(|row| row.into_record().map_err(internal))
    .transpose()
}

pub(crate) async fn list(
    pool: &SqlitePool,
    filter: &EventFilter,
    limit: PageLimit,
    starting_after: Option<EventId>,
) -> Result<Page<EventRecord>, StoreError> {
    let (exactly, prefix) = TypeFilter::binds(filter.event_type.as_ref());
    let gte = filter.created_gte.map(|at| at.as_datetime());
    let lt = filter.created_lt.map(|at| at.as_datetime());
    let after = starting_after.map(|id| id.as_uuid());
    let rows_to_fetch = limit.rows_to_fetch();
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT id AS "id!: uuid::Uuid", type AS "event_type!", object AS "object!",
                  created_at AS "created_at!: chrono::DateTime<chrono::Utc>"
           FROM events
           WHERE (?1 IS NULL OR type = ?1)
             AND (?2 IS NULL OR substr(type, 1, length(?2)) = ?2)
             AND (?3 IS NULL OR created_at >= ?3)
             AND (?4 IS NULL OR created_at < ?4)
             AND (?5 IS NULL OR id < ?5)
           ORDER BY id DESC LIMIT ?6"#,
        exactly,
        prefix,
        gte,
        lt,
        after,
        rows_to_fetch,
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    let events = rows
        .into_iter()
        .map(|row| row.into_record().map_err(internal))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_fetched(events, limit))
}

pub(crate) async fn purge(pool: &SqlitePool, cutoff: Timestamp) -> Result<u64, StoreError> {
    let batch = i64::from(PURGE_BATCH_ROWS);
    let cutoff = cutoff.as_datetime();
    let mut transaction = begin_immediate(pool).await?;
    let deleted = sqlx::query!(
        "DELETE FROM events WHERE id IN (SELECT id FROM events \
         WHERE created_at < ?1 ORDER BY created_at, id LIMIT ?2)",
        cutoff,
        batch,
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?
    .rows_affected();
    transaction.commit().await.map_err(map_error)?;
    Ok(deleted)
}
