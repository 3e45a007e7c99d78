//! Webhook endpoints in PostgreSQL: each change with the endpoint's row locked, and its audit
//! event.

use coffre_domain::audit::AuditContext;
use coffre_domain::ids::WebhookEndpointId;
use coffre_domain::time::Timestamp;
use coffre_domain::webhook::{Changed, EndpointChange, WebhookEndpoint};
use coffre_store::{
    EndpointAfter, Page, PageLimit, StoreError, WebhookEndpointColumns, WebhookEndpointRow,
};
use sqlx::PgPool;

use crate::audit::append_audit;
use crate::error::{internal, map_error};

pub(crate) async fn create(
    pool: PgPool,
    endpoint: WebhookEndpoint,
    ctx: AuditContext,
) -> Result<(), StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let c = WebhookEndpointColumns::of(&endpoint);
    sqlx::query!(
        "INSERT INTO webhook_endpoints (id, url, event_types, description, enabled, secret, \
         previous_secret, previous_secret_until, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        c.id,
        c.url,
        c.event_types,
        c.description,
        c.enabled,
        c.secret,
        c.previous_secret,
        c.previous_secret_until,
        c.created_at,
        c.updated_at,
    )
    .execute(&mut *transaction)
    .await
    .map_err(map_error)?;
    append_audit(&mut transaction, vec![endpoint.created(&ctx)]).await?;
    transaction.commit().await.map_err(map_error)
}

pub(crate) async fn find(
    pool: &PgPool,
    id: WebhookEndpointId,
) -> Result<Option<WebhookEndpoint>, StoreError> {
    sqlx::query_as!(
        WebhookEndpointRow,
        "SELECT id, url, event_types, description, enabled, secret, previous_secret, \
         previous_secret_until, created_at, updated_at FROM webhook_endpoints WHERE id = $1",
        id.as_uuid(),
    )
    .fetch_optional(pool)
    .await
    .map_err(map_error)?
    .map(|row| row.into_endpoint().map_err(internal))
    .transpose()
}

pub(crate) async fn list(
    pool: &PgPool,
    limit: PageLimit,
    starting_after: Option<WebhookEndpointId>,
) -> Result<Page<WebhookEndpoint>, StoreError> {
    let rows = sqlx::query_as!(
        WebhookEndpointRow,
        "SELECT id, url, event_types, description, enabled, secret, previous_secret, \
         previous_secret_until, created_at, updated_at FROM webhook_endpoints \
         WHERE ($1::uuid IS NULL OR id < $1) ORDER BY id DESC LIMIT $2",
        starting_after.map(|id| id.as_uuid()),
        limit.rows_to_fetch(),
    )
    .fetch_all(pool)
    .await
    .map_err(map_error)?;
    let endpoints = rows
        .into_iter()
        .map(|row| row.into_endpoint().map_err(internal))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_fetched(endpoints, limit))
}

pub(crate) async fn change(
    pool: PgPool,
    id: WebhookEndpointId,
    change: EndpointChange,
    ctx: AuditContext,
) -> Result<Option<EndpointAfter>, StoreError> {
    let mut transaction = pool.begin().await.map_err(map_error)?;
    let row = sqlx::query_as!(
        WebhookEndpointRow,
        "SELECT id, url, event_types, description, enabled, secret, previous_secret, \
         previous_secret_until, created_at, updated_at FROM webhook_endpoints WHERE id = $1 \
         FOR UPDATE",
        id.as_uuid(),
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
    let after = match endpoint.change(change, Timestamp::now(), &ctx) {
        Changed::Kept(after, event) => {
            if let Some(event) = event {
                let c = WebhookEndpointColumns::of(&after);
                sqlx::query!(
                    "UPDATE webhook_endpoints SET url = $2, event_types = $3, enabled = $4, \
                     secret = $5, previous_secret = $6, previous_secret_until = $7, \
                     updated_at = $8 WHERE id = $1",
                    c.id,
                    c.url,
                    c.event_types,
                    c.enabled,
                    c.secret,
                    c.previous_secret,
                    c.previous_secret_until,
                    c.updated_at,
                )
                .execute(&mut *transaction)
                .await
                .map_err(map_error)?;
                append_audit(&mut transaction, vec![event]).await?;
            }
            EndpointAfter::Kept(after)
        }
        Changed::Deleted(event) => {
            sqlx::query!("DELETE FROM webhook_endpoints WHERE id = $1", id.as_uuid())
                .execute(&mut *transaction)
                .await
                .map_err(map_error)?;
            append_audit(&mut transaction, vec![event]).await?;
            EndpointAfter::Deleted
        }
    };
    transaction.commit().await.map_err(map_error)?;
    Ok(Some(after))
}
