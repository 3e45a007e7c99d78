//! The event log in PostgreSQL: a batch's events in one INSERT over arrays, reads newest first,
//! and the retention purge.

use coffre_domain::event::EventId;
use coffre_domain::time::Timestamp;
use coffre_store::{
    EventFilter, EventRecord, EventRow, PURGE_BATCH_ROWS, Page, PageLimit, StoreError, TypeFilter,
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::{internal, map_error};

pub(crate) async fn insert(
    connection: &mut PgConnection,
    events: &[EventRecord],
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = events.iter().map(|event| event.id.as_uuid()).collect();
    let types: Vec<&str> = events
        .iter()
        .map(|event| event.event_type.as_str())
        .collect();
    let objects: Vec<&str> = events.iter().map(|event| event.object.as_str()).collect();
    let created: Vec<chrono::DateTime<chrono::Utc>> = events
        .iter()
        .map(|event| event.created_at.as_datetime())
        .collect();
    sqlx::query!(
        "INSERT INTO events (id, type, object, created_at) \
         SELECT id, type, object::json, created_at \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) \
              AS new(id, type, object, created_at)",
        &ids,
        &types as _,
        &objects as _,
        &created,
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

pub(crate) async fn find(pool: &PgPool, id: EventId) -> Result<Option<EventRecord>, StoreError> {
    sqlx::query_as!(
        EventRow,
        r#"SELECT id, type AS event_type, object::text AS "object!", created_at
           FROM events WHERE id = $1"#,
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await
    .map_err(map_error)?
    .map(|row| row.into_record().map_err(internal))
    .transpose()
}

pub(crate) async fn list(
    pool: &PgPool,
    filter: &EventFilter,
    limit: PageLimit,
    starting_after: Option<EventId>,
) -> Result<Page<EventRecord>, StoreError> {
    let (exactly, prefix) = TypeFilter::binds(filter.event_type.as_ref());
    let rows = sqlx::query_as!(
        EventRow,
        r#"SELECT id, type AS event_type, object::text AS "object!", created_at
           FROM events
           WHERE ($1::text IS NULL OR type = $1)
             AND ($2::text IS NULL OR starts_with(type, $2))
             AND ($3::timestamptz IS NULL OR created_at >= $3)
             AND ($4::timestamptz IS NULL OR created_at < $4)
             AND ($5::uuid IS NULL OR id < $5)
           ORDER BY id DESC LIMIT $6"#,
        exactly,
        prefix,
        filter.created_gte.map(|at| at.as_datetime()),
        filter.created_lt.map(|at| at.as_datetime()),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
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

pub(crate) async fn purge(pool: &PgPool, cutoff: Timestamp) -> Result<u64, StoreError> {
    let deleted = sqlx::query!(
        "DELETE FROM events WHERE id IN (SELECT id FROM events \
         WHERE created_at < $1 ORDER BY created_at, id LIMIT $2)",
        cutoff.as_datetime(),
        i64::from(PURGE_BATCH_ROWS),
    )
    .execute(pool)
    .await
    .map_err(map_error)?
    .rows_affected();
    Ok(deleted)
}
