//! The audit chain in PostgreSQL: append inside a caller's transaction, list, verify.

use coffre_domain::audit::{
    AuditAction, AuditEvent, ChainHead, ChainReport, NewAuditEvent, canonical_json,
};
use coffre_domain::ids::AuditEventId;
use coffre_domain::time::Timestamp;
use coffre_store::{
    AUDIT_PAGE_ROWS, AuditFilter, AuditRow, CorruptRow, Page, PageLimit, StoreError, chain_head,
    walk_chain,
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::error::map_error;

/// Appends `events` after the chain head, inside the caller's transaction, and returns them as
/// stored.
///
/// It locks the head row until the transaction ends and every other append waits for that
/// lock, so call it last, just before commit. In READ COMMITTED an append that waited re-reads
/// the head after the lock is granted and sees the one the previous append committed.
pub(crate) async fn append_audit(
    connection: &mut PgConnection,
    events: Vec<NewAuditEvent>,
) -> Result<Vec<AuditEvent>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let head = sqlx::query!("SELECT seq, hash FROM audit_chain_head FOR UPDATE")
        .fetch_one(&mut *connection)
        .await
        .map_err(map_error)?;
    let head =
        chain_head(head.seq, &head.hash).map_err(|error| StoreError::Internal(error.into()))?;
    // Stamped under the lock, so `occurred_at` never goes backwards along `seq`.
    let (events, new_head) = AuditEvent::chain(head, events, Timestamp::now())
        .map_err(|error| StoreError::Internal(error.into()))?;

    let columns = Columns::of(&events);
    // The events and the new head in one statement, one round trip. `as _` on the arrays
    // whose elements may be NULL (or are `&str`): the macro would check them against arrays
    // of non-null `String`s.
    sqlx::query!(
        "WITH appended AS ( \
             INSERT INTO audit_events (seq, id, occurred_at, actor_id, action, resource_type, \
             resource_id, old_value, new_value, ip_address, user_agent, request_id, prev_hash, \
             hash) \
             SELECT seq, id, occurred_at, actor_id, action, resource_type, resource_id, \
             old_value::json, new_value::json, ip_address, user_agent, request_id, prev_hash, \
             hash \
             FROM UNNEST($1::bigint[], $2::uuid[], $3::timestamptz[], $4::uuid[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
             $12::text[], $13::bytea[], $14::bytea[]) AS event(seq, id, occurred_at, actor_id, \
             action, resource_type, resource_id, old_value, new_value, ip_address, user_agent, \
             request_id, prev_hash, hash) \
         ) \
         UPDATE audit_chain_head SET seq = $15, hash = $16",
        &columns.seq,
        &columns.id,
        &columns.occurred_at,
        &columns.actor_id as _,
        &columns.action as _,
        &columns.resource_type,
        &columns.resource_id as _,
        &columns.old_value as _,
        &columns.new_value as _,
        &columns.ip_address as _,
        &columns.user_agent as _,
        &columns.request_id as _,
        &columns.prev_hash,
        &columns.hash,
        new_head.seq,
        new_head.hash.0.as_slice(),
    )
    .execute(&mut *connection)
    .await
    .map_err(map_error)?;
    Ok(events)
}

/// The events as one array per column, for a single `INSERT ... SELECT FROM UNNEST`.
///
/// JSON goes over the wire as text and becomes `json` in SQL: bound as a `serde_json::Value`,
/// SQLx would send `jsonb`, which rewrites numbers and refuses `\u0000` on the way in.
struct Columns {
    seq: Vec<i64>,
    id: Vec<Uuid>,
    occurred_at: Vec<chrono::DateTime<chrono::Utc>>,
    actor_id: Vec<Option<Uuid>>,
    action: Vec<&'static str>,
    resource_type: Vec<String>,
    resource_id: Vec<Option<String>>,
    old_value: Vec<Option<String>>,
    new_value: Vec<Option<String>>,
    ip_address: Vec<Option<String>>,
    user_agent: Vec<Option<String>>,
    request_id: Vec<Option<String>>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl Columns {
    fn of(events: &[AuditEvent]) -> Self {
        Self {
            seq: events.iter().map(|event| event.seq).collect(),
            id: events.iter().map(|event| event.id.as_uuid()).collect(),
            occurred_at: events
                .iter()
                .map(|event| event.occurred_at.as_datetime())
                .collect(),
            actor_id: events
                .iter()
                .map(|event| event.actor_id.map(|id| id.as_uuid()))
                .collect(),
            action: events.iter().map(|event| event.action.as_str()).collect(),
            resource_type: events
                .iter()
                .map(|event| event.resource_type.as_str().to_owned())
                .collect(),
            resource_id: events
                .iter()
                .map(|event| event.resource_id.clone())
                .collect(),
            old_value: events
                .iter()
                .map(|event| event.old_value.as_ref().map(canonical_json))
                .collect(),
            new_value: events
                .iter()
                .map(|event| event.new_value.as_ref().map(canonical_json))
                .collect(),
            ip_address: events
                .iter()
                .map(|event| event.ip_address.clone())
                .collect(),
            user_agent: events
                .iter()
                .map(|event| event.user_agent.clone())
                .collect(),
            request_id: events
                .iter()
                .map(|event| event.request_id.clone())
                .collect(),
            prev_hash: events
                .iter()
                .map(|event| event.prev_hash.0.to_vec())
                .collect(),
            hash: events.iter().map(|event| event.hash.0.to_vec()).collect(),
        }
    }
}

/// `record_audit`: one transaction holding nothing but the append.
pub(crate) async fn record(
    pool: &PgPool,
    events: Vec<NewAuditEvent>,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let events = append_audit(&mut transaction, events).await?;
    transaction.commit().await.map_err(map_error)?;
    Ok(events)
}

pub(crate) async fn list(
    pool: &PgPool,
    filter: &AuditFilter,
    limit: PageLimit,
    starting_after: Option<AuditEventId>,
) -> Result<Page<AuditEvent>, StoreError> {
    // A cursor naming no event compares against NULL, which matches nothing: an empty page.
    let rows = sqlx::query_as!(
        AuditRow,
        "SELECT seq, id, occurred_at, actor_id, action, resource_type, resource_id, old_value, \
         new_value, ip_address, user_agent, request_id, prev_hash, hash \
         FROM audit_events \
         WHERE ($1::uuid IS NULL OR actor_id = $1) \
         AND ($2::text IS NULL OR resource_type = $2) \
         AND ($3::text IS NULL OR resource_id = $3) \
         AND ($4::text IS NULL OR action = $4) \
         AND ($5::uuid IS NULL OR seq < (SELECT cursor.seq FROM audit_events cursor \
                                          WHERE cursor.id = $5)) \
         ORDER BY seq DESC \
         LIMIT $6",
        filter.actor_id.map(|id| id.as_uuid()),
        filter.resource_type.as_deref(),
        filter.resource_id.as_deref(),
        filter.action.map(AuditAction::as_str),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    let events = rows
        .into_iter()
        .map(|row| {
            row.into_event()
                .map_err(|error| StoreError::Internal(error.into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_fetched(events, limit))
}

pub(crate) async fn head(pool: &PgPool) -> Result<ChainHead, StoreError> {
    let head = sqlx::query!("SELECT seq, hash FROM audit_chain_head")
        .fetch_one(pool)
        .await
        .map_err(map_error)?;
    chain_head(head.seq, &head.hash).map_err(|error| StoreError::Internal(error.into()))
}

/// Up to [`AUDIT_PAGE_ROWS`] rows after `after_seq`, in `seq` order, each decoded or not.
async fn rows_after(
    pool: &PgPool,
    after_seq: i64,
) -> Result<Vec<Result<AuditEvent, CorruptRow>>, StoreError> {
    let rows = sqlx::query_as!(
        AuditRow,
        "SELECT seq, id, occurred_at, actor_id, action, resource_type, resource_id, \
         old_value, new_value, ip_address, user_agent, request_id, prev_hash, hash \
         FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        after_seq,
        i64::from(AUDIT_PAGE_ROWS),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    Ok(rows.into_iter().map(AuditRow::into_event).collect())
}

pub(crate) async fn events_after(
    pool: &PgPool,
    after_seq: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    rows_after(pool, after_seq)
        .await?
        .into_iter()
        .map(|row| row.map_err(|error| StoreError::Internal(error.into())))
        .collect()
}

pub(crate) async fn verify(pool: &PgPool) -> Result<ChainReport, StoreError> {
    let head = head(pool).await?;
    walk_chain(head, |after_seq| rows_after(pool, after_seq)).await
}
