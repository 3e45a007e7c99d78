//! The audit chain in SQLite: append inside a caller's write transaction, list, verify.

use chrono::{DateTime, Utc};
use coffre_domain::audit::{
    AuditAction, AuditEvent, ChainHead, ChainReport, NewAuditEvent, canonical_json,
};
use coffre_domain::ids::AuditEventId;
use coffre_domain::time::Timestamp;
use coffre_store::{
    AUDIT_PAGE_ROWS, AuditFilter, AuditRow, CorruptRow, Page, PageLimit, StoreError, chain_head,
    parse_json_column, walk_chain,
};
use serde_json::json;
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use crate::error::map_error;
use crate::json_rows;
use crate::transaction::begin_immediate;

/// Appends `events` after the chain head, inside the caller's transaction, and returns them as
/// stored.
///
/// The transaction must have begun with [`begin_immediate`]: holding the write lock from the
/// start is what keeps two appends from reading the same head.
pub(crate) async fn append_audit(
    connection: &mut SqliteConnection,
    events: Vec<NewAuditEvent>,
) -> Result<Vec<AuditEvent>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let head = sqlx::query!(r#"SELECT seq AS "seq!", hash AS "hash!" FROM audit_chain_head"#)
        .fetch_one(&mut *connection)
        .await
        .map_err(map_error)?;
    let head =
        chain_head(head.seq, &head.hash).map_err(|error| StoreError::Internal(error.into()))?;
    // Stamped under the lock, so `occurred_at` never goes backwards along `seq`.
    let (events, new_head) = AuditEvent::chain(head, events, Timestamp::now())
        .map_err(|error| StoreError::Internal(error.into()))?;

    // One statement for all of them (see [`json_rows`]).
    let rows = json_rows::array(events.iter().map(|event| {
        json!({
            "seq": event.seq,
            "id": json_rows::id(event.id.as_uuid()),
            "occurred_at": json_rows::timestamp(event.occurred_at),
            "actor_id": json_rows::optional_id(event.actor_id.map(|id| id.as_uuid())),
            "action": event.action.as_str(),
            "resource_type": event.resource_type.as_str(),
            "resource_id": event.resource_id,
            "old_value": event.old_value.as_ref().map(canonical_json),
            "new_value": event.new_value.as_ref().map(canonical_json),
            "ip_address": event.ip_address,
            "user_agent": event.user_agent,
            "request_id": event.request_id,
            "prev_hash": json_rows::blob(&event.prev_hash.0),
            "hash": json_rows::blob(&event.hash.0),
        })
    }));
    sqlx::query!(
        "INSERT INTO audit_events (seq, id, occurred_at, actor_id, action, resource_type, \
         resource_id, old_value, new_value, ip_address, user_agent, request_id, prev_hash, \
         hash) \
         SELECT value ->> '$.seq', unhex(value ->> '$.id'), value ->> '$.occurred_at', \
                unhex(value ->> '$.actor_id'), value ->> '$.action', \
                value ->> '$.resource_type', value ->> '$.resource_id', \
                value ->> '$.old_value', value ->> '$.new_value', value ->> '$.ip_address', \
                value ->> '$.user_agent', value ->> '$.request_id', \
                unhex(value ->> '$.prev_hash'), unhex(value ->> '$.hash') \
         FROM jsonb_each(?1)",
        rows,
    )
    .execute(&mut *connection)
    .await
    .map_err(map_error)?;

    let head_hash = new_head.hash.0.as_slice();
    sqlx::query!(
        "UPDATE audit_chain_head SET seq = ?1, hash = ?2",
        new_head.seq,
        head_hash,
    )
    .execute(&mut *connection)
    .await
    .map_err(map_error)?;
    Ok(events)
}

/// `record_audit`: one write transaction holding nothing but the append.
pub(crate) async fn record(
    pool: &SqlitePool,
    events: Vec<NewAuditEvent>,
) -> Result<Vec<AuditEvent>, StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let events = append_audit(&mut transaction, events).await?;
    transaction.commit().await.map_err(map_error)?;
    Ok(events)
}

/// An `audit_events` row as SQLite stores it: JSON as text.
struct SqliteAuditRow {
    seq: i64,
    id: Uuid,
    occurred_at: DateTime<Utc>,
    actor_id: Option<Uuid>,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    old_value: Option<String>,
    new_value: Option<String>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    prev_hash: Vec<u8>,
    hash: Vec<u8>,
}

impl SqliteAuditRow {
    fn into_event(self) -> Result<AuditEvent, CorruptRow> {
        let seq = self.seq;
        AuditRow {
            seq,
            id: self.id,
            occurred_at: self.occurred_at,
            actor_id: self.actor_id,
            action: self.action,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            old_value: parse_json_column(seq, "old_value", self.old_value)?,
            new_value: parse_json_column(seq, "new_value", self.new_value)?,
            ip_address: self.ip_address,
            user_agent: self.user_agent,
            request_id: self.request_id,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
        .into_event()
    }
}

pub(crate) async fn list(
    pool: &SqlitePool,
    filter: &AuditFilter,
    limit: PageLimit,
    starting_after: Option<AuditEventId>,
) -> Result<Page<AuditEvent>, StoreError> {
    let actor_id = filter.actor_id.map(|id| id.as_uuid());
    let action = filter.action.map(AuditAction::as_str);
    let starting_after = starting_after.map(|id| id.as_uuid());
    let rows_to_fetch = limit.rows_to_fetch();
    // A cursor naming no event compares against NULL, which matches nothing: an empty page.
    let rows = sqlx::query_as!(
        SqliteAuditRow,
        r#"SELECT seq AS "seq!", id AS "id!: uuid::Uuid",
                  occurred_at AS "occurred_at!: chrono::DateTime<chrono::Utc>",
                  actor_id AS "actor_id?: uuid::Uuid", action AS "action!",
                  resource_type AS "resource_type!", resource_id AS "resource_id?",
                  old_value AS "old_value?", new_value AS "new_value?",
                  ip_address AS "ip_address?", user_agent AS "user_agent?",
                  request_id AS "request_id?", prev_hash AS "prev_hash!", hash AS "hash!"
           FROM audit_events
           WHERE (?1 IS NULL OR actor_id = ?1)
             AND (?2 IS NULL OR resource_type = ?2)
             AND (?3 IS NULL OR resource_id = ?3)
             AND (?4 IS NULL OR action = ?4)
             AND (?5 IS NULL OR seq < (SELECT cursor.seq FROM audit_events AS cursor
                                       WHERE cursor.id = ?5))
           ORDER BY seq DESC
           LIMIT ?6"#,
        actor_id,
        filter.resource_type,
        filter.resource_id,
        action,
        starting_after,
        rows_to_fetch,
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

pub(crate) async fn head(pool: &SqlitePool) -> Result<ChainHead, StoreError> {
    let head = sqlx::query!(r#"SELECT seq AS "seq!", hash AS "hash!" FROM audit_chain_head"#)
        .fetch_one(pool)
        .await
        .map_err(map_error)?;
    chain_head(head.seq, &head.hash).map_err(|error| StoreError::Internal(error.into()))
}

/// Up to [`AUDIT_PAGE_ROWS`] rows after `after_seq`, in `seq` order, each decoded or not.
async fn rows_after(
    pool: &SqlitePool,
    after_seq: i64,
) -> Result<Vec<Result<AuditEvent, CorruptRow>>, StoreError> {
    let page_rows = i64::from(AUDIT_PAGE_ROWS);
    let rows = sqlx::query_as!(
        SqliteAuditRow,
        r#"SELECT seq AS "seq!", id AS "id!: uuid::Uuid",
                  occurred_at AS "occurred_at!: chrono::DateTime<chrono::Utc>",
                  actor_id AS "actor_id?: uuid::Uuid", action AS "action!",
                  resource_type AS "resource_type!", resource_id AS "resource_id?",
                  old_value AS "old_value?", new_value AS "new_value?",
                  ip_address AS "ip_address?", user_agent AS "user_agent?",
                  request_id AS "request_id?", prev_hash AS "prev_hash!", hash AS "hash!"
           FROM audit_events WHERE seq > ?1 ORDER BY seq LIMIT ?2"#,
        after_seq,
        page_rows,
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    Ok(rows.into_iter().map(SqliteAuditRow::into_event).collect())
}

pub(crate) async fn events_after(
    pool: &SqlitePool,
    after_seq: i64,
) -> Result<Vec<AuditEvent>, StoreError> {
    rows_after(pool, after_seq)
        .await?
        .into_iter()
        .map(|row| row.map_err(|error| StoreError::Internal(error.into())))
        .collect()
}

pub(crate) async fn verify(pool: &SqlitePool) -> Result<ChainReport, StoreError> {
    let head = head(pool).await?;
    walk_chain(head, |after_seq| rows_after(pool, after_seq)).await
}
