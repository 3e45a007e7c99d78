//! Webhook deliveries in PostgreSQL: endpoints claimed with `FOR NO KEY UPDATE SKIP LOCKED`
//! (which the foreign-key checks of deliveries being written for the endpoint neither wait for
//! nor trip) under a lease, so several instances share the work without sending an attempt
//! twice; each round's attempts recorded in one transaction, which deletes the outbox rows it
//! sent and writes their deliveries.

use std::collections::HashSet;

use coffre_domain::audit::AuditContext;
use coffre_domain::delivery::redelivery_queued;
use coffre_domain::event::EventId;
use coffre_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use coffre_domain::time::Timestamp;
use coffre_store::deliveries::{
    AttemptMade, AttemptRow, DeliveryRow, Due, DueRow, LeaseId, NewDelivery, answer_columns,
    attempts_column, join_attempts, plan_redelivery, sort_due,
};
use coffre_store::{
    Claim, Delivery, DeliveryFilter, EventRow, Page, PageLimit, RoundMade, StoreError,
    WebhookEndpointRow, stored_event_type,
};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::audit::append_audit;
use crate::error::{internal, map_error};

type DateTime = chrono::DateTime<chrono::Utc>;

/// A delivery's bookkeeping (claims, attempts) commits without waiting for the disk:
/// a crash loses at most its last moments, which only sends those deliveries again (at least
/// once), and the money path's own commits, which must wait, do not queue behind these.
async fn begin(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    sqlx::raw_sql("SET LOCAL synchronous_commit = off")
        .execute(&mut *transaction)
        .await
        .map_err(map_error)?;
    Ok(transaction)
}

async fn enabled_endpoints(
    connection: &mut PgConnection,
) -> Result<Vec<coffre_domain::webhook::WebhookEndpoint>, StoreError> {
    sqlx::query_as!(
        WebhookEndpointRow,
        "SELECT id, url, event_types, description, enabled, secret, previous_secret, \
         previous_secret_until, created_at, updated_at FROM webhook_endpoints WHERE enabled \
         ORDER BY id",
    )
    .fetch_all(connection)
    .await
    .map_err(map_error)?
    .into_iter()
    .map(|row| row.into_endpoint().map_err(internal))
    .collect()
}

async fn insert_pending(
    connection: &mut PgConnection,
    deliveries: &[NewDelivery],
    now: Timestamp,
) -> Result<(), StoreError> {
    let ids: Vec<Uuid> = deliveries.iter().map(|new| new.id.as_uuid()).collect();
    let endpoints: Vec<Uuid> = deliveries
        .iter()
        .map(|new| new.endpoint_id.as_uuid())
        .collect();
    let events: Vec<Uuid> = deliveries
        .iter()
        .map(|new| new.event_id.as_uuid())
        .collect();
    sqlx::query!(
        "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, \
         next_attempt_at, created_at, updated_at) \
         SELECT id, endpoint_id, event_id, 'pending', 0, $4, $4, $4 \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[]) AS new(id, endpoint_id, event_id)",
        &ids,
        &endpoints,
        &events,
        now.as_datetime(),
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

pub(crate) async fn claim(
    pool: &PgPool,
    now: Timestamp,
    lease_until: Timestamp,
    max: u32,
) -> Result<Option<Claim>, StoreError> {
    let lease = LeaseId(Uuid::now_v7());
    let mut transaction = begin(pool).await?;
    let row = sqlx::query_as!(
        WebhookEndpointRow,
        "UPDATE webhook_endpoints SET lease_id = $1, lease_until = $2 \
         WHERE id = (SELECT e.id FROM webhook_endpoints e \
                     WHERE e.enabled AND (e.lease_until IS NULL OR e.lease_until <= $3) \
                       AND (EXISTS (SELECT 1 FROM webhook_outbox o WHERE o.endpoint_id = e.id) \
                            OR EXISTS (SELECT 1 FROM webhook_deliveries d \
                                       WHERE d.endpoint_id = e.id AND d.status = 'pending' \
                                         AND d.next_attempt_at <= $3)) \
                     ORDER BY e.lease_until NULLS FIRST, e.id \
                     LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED) \
         RETURNING id, url, event_types, description, enabled, secret, previous_secret, \
                   previous_secret_until, created_at, updated_at",
        lease.0,
        lease_until.as_datetime(),
        now.as_datetime(),
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
    let rows = sqlx::query!(
        r#"SELECT d.delivery_id, d.attempts, e.id AS "event_id!", e.type AS "event_type!",
                  e.object::text AS "object!", e.created_at AS "created_at!"
           FROM ((SELECT id AS delivery_id, attempts, event_id FROM webhook_deliveries
                  WHERE endpoint_id = $1 AND status = 'pending' AND next_attempt_at <= $2
                  ORDER BY event_id LIMIT $3)
                 UNION ALL
                 (SELECT NULL, NULL, event_id FROM webhook_outbox WHERE endpoint_id = $1
                  ORDER BY event_id LIMIT $3)) d
           JOIN events e ON e.id = d.event_id
           ORDER BY d.event_id, d.delivery_id NULLS LAST LIMIT $3"#,
        endpoint.id.as_uuid(),
        now.as_datetime(),
        i64::from(max),
    )
    .fetch_all(&mut *transaction)
    .await
    .map_err(map_error)?
    .into_iter()
    .map(|row| DueRow {
        // Both columns come from one arm of the union: both set, or both null.
        stored: row.delivery_id.zip(row.attempts.map(i64::from)),
        event: EventRow {
            id: row.event_id,
            event_type: row.event_type,
            object: row.object,
            created_at: row.created_at,
        },
    })
    .collect();
    let (due, unwanted) = sort_due(&endpoint, rows)?;
    if !unwanted.is_empty() {
        let unwanted: Vec<Uuid> = unwanted.iter().map(|id| id.as_uuid()).collect();
        sqlx::query!(
            "DELETE FROM webhook_outbox WHERE endpoint_id = $1 AND event_id = ANY($2)",
            endpoint.id.as_uuid(),
            &unwanted,
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

/// The delivery states the attempts left, as the columns `status` and `next_attempt_at`.
fn status_columns(made: &[&AttemptMade]) -> (Vec<&'static str>, Vec<Option<DateTime>>) {
    made.iter()
        .map(|m| {
            let status = &m.status_after;
            (
                status.as_str(),
                status.next_attempt_at().map(|at| at.as_datetime()),
            )
        })
        .unzip()
}

/// Writes the deliveries of the round's attempts at outbox rows (`made`), deleting the rows,
/// and returns those attempts; an attempt whose row is gone (another instance took the
/// endpoint after this one's lease ran out, and recorded it) is left out.
async fn write_from_outbox<'a>(
    connection: &mut PgConnection,
    round: &RoundMade,
    made: Vec<&'a AttemptMade>,
) -> Result<Vec<&'a AttemptMade>, StoreError> {
    if made.is_empty() {
        return Ok(made);
    }
    let ids: Vec<Uuid> = made.iter().map(|m| m.delivery_id.as_uuid()).collect();
    let events: Vec<Uuid> = made.iter().map(|m| m.event_id.as_uuid()).collect();
    let (statuses, next) = status_columns(&made);
    let attempted: Vec<DateTime> = made
        .iter()
        .map(|m| m.attempt.attempted_at.as_datetime())
        .collect();
    let written: HashSet<Uuid> = sqlx::query_scalar!(
        "WITH taken AS (DELETE FROM webhook_outbox WHERE endpoint_id = $1 AND event_id = ANY($3) \
                        RETURNING event_id) \
         INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, attempts, \
                                         next_attempt_at, created_at, updated_at) \
         SELECT u.id, $1, u.event_id, u.status, 1, u.next, u.attempted_at, $7 \
         FROM UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[], $6::timestamptz[]) \
              AS u(id, event_id, status, next, attempted_at) \
         JOIN taken USING (event_id) \
         RETURNING id",
        round.endpoint_id.as_uuid(),
        &ids,
        &events,
        &statuses as _,
        &next as _,
        &attempted,
        round.now.as_datetime(),
    )
    .fetch_all(connection)
    .await
    .map_err(map_error)?
    .into_iter()
    .collect();
    if written.len() < made.len() {
        tracing::warn!(
            endpoint = %round.endpoint_id,
            attempts = made.len().saturating_sub(written.len()),
            "webhook attempts not recorded: another instance took the endpoint meanwhile"
        );
    }
    Ok(made
        .into_iter()
        .filter(|m| written.contains(&m.delivery_id.as_uuid()))
        .collect())
}

/// Moves the stored deliveries of the round's other attempts (`made`) to their new states.
async fn update_stored(
    connection: &mut PgConnection,
    now: Timestamp,
    made: &[&AttemptMade],
) -> Result<(), StoreError> {
    if made.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = made.iter().map(|m| m.delivery_id.as_uuid()).collect();
    let numbers: Vec<i32> = made.iter().map(|m| attempts_column(&m.attempt)).collect();
    let (statuses, next) = status_columns(made);
    sqlx::query!(
        "UPDATE webhook_deliveries d \
         SET status = u.status, attempts = u.number, next_attempt_at = u.next, updated_at = $5 \
         FROM UNNEST($1::uuid[], $2::text[], $3::int4[], $4::timestamptz[]) \
              AS u(id, status, number, next) \
         WHERE d.id = u.id",
        &ids,
        &statuses as _,
        &numbers,
        &next as _,
        now.as_datetime(),
    )
    .execute(connection)
    .await
    .map_err(map_error)?;
    Ok(())
}

pub(crate) async fn record(pool: PgPool, round: RoundMade) -> Result<(), StoreError> {
    let mut transaction = begin(&pool).await?;
    let (from_outbox, stored): (Vec<&AttemptMade>, Vec<&AttemptMade>) =
        round.attempts.iter().partition(|m| m.due == Due::Outbox);
    update_stored(&mut transaction, round.now, &stored).await?;
    let mut made = write_from_outbox(&mut transaction, &round, from_outbox).await?;
    made.extend(stored);
    let deliveries: Vec<Uuid> = made.iter().map(|m| m.delivery_id.as_uuid()).collect();
    let numbers: Vec<i32> = made.iter().map(|m| attempts_column(&m.attempt)).collect();
    let attempted: Vec<DateTime> = made
        .iter()
        .map(|m| m.attempt.attempted_at.as_datetime())
        .collect();
    let (codes, errors): (Vec<Option<i32>>, Vec<Option<&str>>) = made
        .iter()
        .map(|m| answer_columns(m.attempt.answer))
        .unzip();
    let durations: Vec<i32> = made
        .iter()
        .map(|m| i32::try_from(m.attempt.duration_ms).unwrap_or(i32::MAX))
        .collect();
    let bodies: Vec<Option<&str>> = made
        .iter()
        .map(|m| m.attempt.response_body.as_deref())
        .collect();
    if !made.is_empty() {
        sqlx::query!(
            "INSERT INTO webhook_attempts (delivery_id, number, attempted_at, response_code, \
             error, duration_ms, response_body) \
             SELECT * FROM UNNEST($1::uuid[], $2::int4[], $3::timestamptz[], $4::int4[], \
                                  $5::text[], $6::int4[], $7::text[])",
            &deliveries,
            &numbers,
            &attempted,
            &codes as _,
            &errors as _,
            &durations,
            &bodies as _,
        )
        .execute(&mut *transaction)
        .await
        .map_err(map_error)?;
    }
    sqlx::query!(
        "UPDATE webhook_endpoints SET lease_id = NULL, lease_until = $3 \
         WHERE id = $1 AND lease_id = $2",
        round.endpoint_id.as_uuid(),
        round.lease.0,
        round.claimable_from.as_datetime(),
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?;
    transaction.commit().await.map_err(map_error)
}

async fn attempts_of(
    connection: &mut PgConnection,
    deliveries: &[Uuid],
) -> Result<Vec<AttemptRow>, StoreError> {
    sqlx::query_as!(
        AttemptRow,
        r#"SELECT delivery_id, number::int8 AS "number!", attempted_at,
                  response_code::int8 AS response_code, error, duration_ms::int8 AS "duration_ms!",
                  response_body
           FROM webhook_attempts WHERE delivery_id = ANY($1)"#,
        deliveries,
    )
    .fetch_all(connection)
    .await
    .map_err(map_error)
}

pub(crate) async fn list(
    pool: &PgPool,
    endpoint: WebhookEndpointId,
    filter: DeliveryFilter,
    limit: PageLimit,
    starting_after: Option<WebhookDeliveryId>,
) -> Result<Page<Delivery>, StoreError> {
    let mut connection = pool.acquire().await.map_err(map_error)?;
    let rows = sqlx::query_as!(
        DeliveryRow,
        "SELECT d.id, d.endpoint_id, d.event_id, e.type AS event_type, d.status, \
                d.next_attempt_at, d.created_at, d.updated_at \
         FROM webhook_deliveries d JOIN events e ON e.id = d.event_id \
         WHERE d.endpoint_id = $1 AND ($2::text IS NULL OR d.status = $2) \
           AND ($3::uuid IS NULL OR d.id < $3) \
         ORDER BY d.id DESC LIMIT $4",
        endpoint.as_uuid(),
        filter.status(),
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(map_error)?;
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let attempts = attempts_of(&mut connection, &ids).await?;
    let deliveries = join_attempts(rows, attempts).map_err(internal)?;
    Ok(Page::from_fetched(deliveries, limit))
}

pub(crate) async fn redeliver(
    pool: PgPool,
    event: EventId,
    now: Timestamp,
    ctx: AuditContext,
) -> Result<Option<Vec<Delivery>>, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let Some(row) = sqlx::query!(
        "SELECT type AS event_type FROM events WHERE id = $1",
        event.as_uuid()
    )
    .fetch_optional(&mut *transaction)
    .await
    .map_err(map_error)?
    else {
        return Ok(None);
    };
    let event_type = stored_event_type(event.as_uuid(), &row.event_type).map_err(internal)?;
    let endpoints = enabled_endpoints(&mut transaction).await?;
    let planned = plan_redelivery(event, event_type, &endpoints);
    insert_pending(&mut transaction, &planned, now).await?;
    let audit = planned
        .iter()
        .map(|new| redelivery_queued(new.endpoint_id, event, new.id, &ctx))
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
    pool: &PgPool,
    now: Timestamp,
) -> Result<Option<DateTime>, StoreError> {
    sqlx::query_scalar!(
        "SELECT LEAST( \
             (SELECT min(e.created_at) FROM webhook_endpoints w \
              CROSS JOIN LATERAL (SELECT o.event_id FROM webhook_outbox o \
                                  WHERE o.endpoint_id = w.id ORDER BY o.event_id LIMIT 1) o \
              JOIN events e ON e.id = o.event_id WHERE w.enabled), \
             (SELECT min(d.next_attempt_at) FROM webhook_deliveries d \
              JOIN webhook_endpoints w ON w.id = d.endpoint_id \
              WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND w.enabled))",
        now.as_datetime(),
    )
    .fetch_one(pool)
    .await
    .map_err(map_error)
}
