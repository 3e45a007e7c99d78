//! Webhook deliveries in SQLite: the embedded database has one writer at a time, so each step
//! runs under the write lock (`BEGIN IMMEDIATE`); the lease on an endpoint still keeps a round's
//! sends from overlapping another's.

use coffre_domain::audit::AuditContext;
use coffre_domain::delivery::redelivery_queued;
use coffre_domain::event::EventId;
use coffre_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use coffre_domain::time::Timestamp;
use coffre_domain::webhook::WebhookEndpoint;
use coffre_store::deliveries::{
    AttemptRow, DeliveryRow, Due, DueRow, LeaseId, NewDelivery, answer_columns, attempts_column,
    join_attempts, plan_redelivery, sort_due,
};
use coffre_store::{
    Claim, Delivery, DeliveryFilter, EventRow, Page, PageLimit, RoundMade, StoreError,
    WebhookEndpointRow, stored_event_type,
};
use sqlx::{SqliteConnection, SqlitePool};
use uuid::Uuid;

use crate::audit::append_audit;
use crate::error::{internal, map_error};
use crate::transaction::begin_immediate;

type DateTime = chrono::DateTime<chrono::Utc>;

async fn enabled_endpoints(
    connection: &mut SqliteConnection,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    sqlx::query_as!(
        WebhookEndpointRow,
        r#"SELECT id AS "id!: uuid::Uuid", url AS "url!", event_types AS "event_types!",
                  description, enabled AS "enabled!: bool", secret AS "secret!",
                  previous_secret, previous_secret_until AS "previous_secret_until: DateTime",
                  created_at AS "created_at!: DateTime", updated_at AS "updated_at!: DateTime"
           FROM webhook_endpoints WHERE enabled = 1 ORDER BY id"#,
    )
    .fetch_all(connection)
    .await
    .map_err(map_error)?
    .into_iter()
    .map(|row| row.into_endpoint().map_err(internal))
    .collect()
}

async fn insert_pending(
    connection: &mut SqliteConnection,
    deliveries: &[NewDelivery],
    now: Timestamp,
) -> Result<(), StoreError> {
    let now = now.as_datetime();
    for new in deliveries {
        let (id, endpoint, event) = (
            new.id.as_uuid(),
            new.endpoint_id.as_uuid(),
            new.event_id.as_uuid(),
        );
        sqlx::query!(
            "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, \
             next_attempt_at, created_at, updated_at) \
             VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?4, ?4)",
            id,
            endpoint,
            event,
            now,
        )
        .execute(&mut *connection)
        .await
        .map_err(map_error)?;
    }
    Ok(())
}

pub(crate) async fn claim(
    pool: &SqlitePool,
    now: Timestamp,
    lease_until: Timestamp,
    max: u32,
) -> Result<Option<Claim>, StoreError> {
    let lease = LeaseId(Uuid::now_v7());
    let (lease_id, until, now_at, max) = (
        lease.0,
        lease_until.as_datetime(),
        now.as_datetime(),
        i64::from(max),
    );
    let mut transaction = begin_immediate(pool).await?;
    let row = sqlx::query_as!(
        WebhookEndpointRow,
        r#"UPDATE webhook_endpoints SET lease_id = ?1, lease_until = ?2
           WHERE id = (SELECT e.id FROM webhook_endpoints e
                       WHERE e.enabled = 1 AND (e.lease_until IS NULL OR e.lease_until <= ?3)
                         AND (EXISTS (SELECT 1 FROM webhook_outbox o WHERE o.endpoint_id = e.id)
                              OR EXISTS (SELECT 1 FROM webhook_deliveries d
                                         WHERE d.endpoint_id = e.id AND d.status = 'pending'
                                           AND d.next_attempt_at <= ?3))
                       ORDER BY e.lease_until NULLS FIRST, e.id LIMIT 1)
           RETURNING id AS "id!: uuid::Uuid", url AS "url!", event_types AS "event_types!",
                     description, enabled AS "enabled!: bool", secret AS "secret!",
                     previous_secret, previous_secret_until AS "previous_secret_until: DateTime",
                     created_at AS "created_at!: DateTime", updated_at AS "updated_at!: DateTime""#,
        lease_id,
        until,
        now_at,
    )
    .fetch_optional(&mut *transaction)
    .await
    .map_err(map_error)?;
    let Some(endpoint) = row
        .map(|row| row.into_endpoint().map_err(internal))
        .transpose()?
    else {
        return Ok(None);
    };
    let endpoint_id = endpoint.id.as_uuid();
    let rows = sqlx::query!(
        r#"SELECT d.delivery_id AS "delivery_id: Uuid", d.attempts AS "attempts: i64",
                  e.id AS "event_id!: Uuid", e.type AS "event_type!", e.object AS "object!",
                  e.created_at AS "created_at!: DateTime"
           FROM (SELECT * FROM (SELECT id AS delivery_id, attempts, event_id
                                FROM webhook_deliveries
                                WHERE endpoint_id = ?1 AND status = 'pending'
                                  AND next_attempt_at <= ?2
                                ORDER BY event_id LIMIT ?3)
                 UNION ALL
                 SELECT * FROM (SELECT NULL, NULL, event_id FROM webhook_outbox
                                WHERE endpoint_id = ?1 ORDER BY event_id LIMIT ?3)) d
           JOIN events e ON e.id = d.event_id
           ORDER BY d.event_id, d.delivery_id IS NULL, d.delivery_id LIMIT ?3"#,
        endpoint_id,
        now_at,
        max,
    )
    .fetch_all(&mut *transaction)
    .await
    .map_err(map_error)?
    .into_iter()
    .map(|row| DueRow {
        // Both columns come from one arm of the union: both set, or both null.
        stored: row.delivery_id.zip(row.attempts),
        event: EventRow {
            id: row.event_id,
            event_type: row.event_type,
            object: row.object,
            created_at: row.created_at,
        },
    })
    .collect();
    let (due, unwanted) = sort_due(&endpoint, rows)?;
    for event in unwanted {
        let event = event.as_uuid();
        sqlx::query!(
            "DELETE FROM webhook_outbox WHERE endpoint_id = ?1 AND event_id = ?2",
            endpoint_id,
            event,
        )
        .execute(&mut *transaction)
        .await
        .map_err(map_error)?;
    }
    transaction.commit().await.map_err(map_error)?;
    Ok(Some(Claim {
        lease,
        endpoint,
        due,
    }))
}

pub(crate) async fn record(pool: &SqlitePool, round: RoundMade) -> Result<(), StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let now = round.now.as_datetime();
    let endpoint = round.endpoint_id.as_uuid();
    for made in &round.attempts {
        let delivery = made.delivery_id.as_uuid();
        let number = attempts_column(&made.attempt);
        let attempted_at = made.attempt.attempted_at.as_datetime();
        let status = made.status_after.as_str();
        let next = made
            .status_after
            .next_attempt_at()
            .map(|at| at.as_datetime());
        if made.due == Due::Outbox {
            let event = made.event_id.as_uuid();
            let taken = sqlx::query!(
                "DELETE FROM webhook_outbox WHERE endpoint_id = ?1 AND event_id = ?2",
                endpoint,
                event,
            )
            .execute(&mut *transaction)
            .await
            .map_err(map_error)?
            .rows_affected();
            if taken == 0 {
                tracing::warn!(
                    endpoint = %round.endpoint_id,
                    "a webhook attempt not recorded: its outbox row was taken meanwhile"
                );
                continue;
            }
            sqlx::query!(
                "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, \
                 next_attempt_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)",
                delivery,
                endpoint,
                event,
                status,
                next,
                attempted_at,
                now,
            )
            .execute(&mut *transaction)
            .await
            .map_err(map_error)?;
        } else {
            sqlx::query!(
                "UPDATE webhook_deliveries SET status = ?2, attempts = ?3, next_attempt_at = ?4, \
                 updated_at = ?5 WHERE id = ?1",
                delivery,
                status,
                number,
                next,
                now,
            )
            .execute(&mut *transaction)
            .await
            .map_err(map_error)?;
        }
        let (code, error) = answer_columns(made.attempt.answer);
        let duration = i64::from(made.attempt.duration_ms);
        let body = made.attempt.response_body.as_deref();
        sqlx::query!(
            "INSERT INTO webhook_attempts (delivery_id, number, attempted_at, response_code, \
             error, duration_ms, response_body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            delivery,
            number,
            attempted_at,
            code,
            error,
            duration,
            body,
        )
        .execute(&mut *transaction)
        .await
        .map_err(map_error)?;
    }
    let (lease, claimable_from) = (round.lease.0, round.claimable_from.as_datetime());
    sqlx::query!(
        "UPDATE webhook_endpoints SET lease_id = NULL, lease_until = ?3 \
         WHERE id = ?1 AND lease_id = ?2",
        endpoint,
        lease,
        claimable_from,
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?;
    transaction.commit().await.map_err(map_error)
}

pub(crate) async fn list(
    pool: &SqlitePool,
    endpoint: WebhookEndpointId,
    filter: DeliveryFilter,
    limit: PageLimit,
    starting_after: Option<WebhookDeliveryId>,
) -> Result<Page<Delivery>, StoreError> {
    let mut connection = pool.acquire().await.map_err(map_error)?;
    let (endpoint, status, after, rows_to_fetch) = (
        endpoint.as_uuid(),
        filter.status(),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    );
    let rows = sqlx::query_as!(
        DeliveryRow,
        r#"SELECT d.id AS "id!: Uuid", d.endpoint_id AS "endpoint_id!: Uuid",
                  d.event_id AS "event_id!: Uuid", e.type AS "event_type!", d.status AS "status!",
                  d.next_attempt_at AS "next_attempt_at: DateTime",
                  d.created_at AS "created_at!: DateTime", d.updated_at AS "updated_at!: DateTime"
           FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
           WHERE d.endpoint_id = ?1 AND (?2 IS NULL OR d.status = ?2)
             AND (?3 IS NULL OR d.id < ?3)
           ORDER BY d.id DESC LIMIT ?4"#,
        endpoint,
        status,
        after,
        rows_to_fetch,
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(map_error)?;
    let mut attempts = Vec::new();
    for row in &rows {
        let id = row.id;
        attempts.extend(
            sqlx::query_as!(
                AttemptRow,
                r#"SELECT delivery_id AS "delivery_id!: Uuid", number AS "number!",
                          attempted_at AS "attempted_at!: DateTime", response_code, error,
                          duration_ms AS "duration_ms!", response_body
                   FROM webhook_attempts WHERE delivery_id = ?1"#,
                id,
            )
            .fetch_all(&mut *connection)
            .await
            .map_err(map_error)?,
        );
    }
    let deliveries = join_attempts(rows, attempts).map_err(internal)?;
    Ok(Page::from_fetched(deliveries, limit))
}

pub(crate) async fn redeliver(
    pool: &SqlitePool,
    event: EventId,
    now: Timestamp,
    ctx: &AuditContext,
) -> Result<Option<Vec<Delivery>>, StoreError> {
    let mut transaction = begin_immediate(pool).await?;
    let id = event.as_uuid();
    let Some(event_type) =
        sqlx::query_scalar!(r#"SELECT type AS "type!" FROM events WHERE id = ?1"#, id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(map_error)?
    else {
        return Ok(None);
    };
    let event_type = stored_event_type(id, &event_type).map_err(internal)?;
    let endpoints = enabled_endpoints(&mut transaction).await?;
    let planned = plan_redelivery(event, event_type, &endpoints);
    insert_pending(&mut transaction, &planned, now).await?;
    let audit = planned
        .iter()
        .map(|new| redelivery_queued(new.endpoint_id, event, new.id, ctx))
        .collect();
    append_audit(&mut transaction, audit).await?;
    transaction.commit().await.map_err(map_error)?;
    Ok(Some(
        planned
            .into_iter()
            .map(|new| new.queued(event_type, now))
            .collect(),
    ))
}

pub(crate) async fn oldest_due(
    pool: &SqlitePool,
    now: Timestamp,
) -> Result<Option<DateTime>, StoreError> {
    let now = now.as_datetime();
    let oldest = sqlx::query!(
        r#"SELECT (SELECT min(e.created_at) FROM webhook_endpoints w
                   JOIN events e ON e.id = (SELECT o.event_id FROM webhook_outbox o
                                            WHERE o.endpoint_id = w.id
                                            ORDER BY o.event_id LIMIT 1)
                   WHERE w.enabled = 1)
                      AS "outbox: DateTime",
                  (SELECT min(d.next_attempt_at) FROM webhook_deliveries d
                   JOIN webhook_endpoints w ON w.id = d.endpoint_id
                   WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 AND w.enabled = 1)
                      AS "due: DateTime""#,
        now,
    )
    .fetch_one(pool)
    .await
    .map_err(map_error)?;
    Ok(match (oldest.outbox, oldest.due) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}
