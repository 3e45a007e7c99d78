//! Webhook endpoints as both backends store and read them (API.md "Webhook endpoints").

use coffre_domain::ids::WebhookEndpointId;
use coffre_domain::text::Description;
use coffre_domain::time::Timestamp;
use coffre_domain::webhook::{
    EndpointUrl, EventTypes, PreviousSecret, WebhookEndpoint, WebhookSecret,
};

use crate::ledger_rows::CorruptLedgerRow;

/// What became of an endpoint a change named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointAfter {
    Kept(WebhookEndpoint),
    Deleted,
}

/// An endpoint's columns, read back. `event_types` is a JSON array of the patterns. No
/// `Debug`: it holds the secrets.
pub struct WebhookEndpointRow {
    pub id: uuid::Uuid,
    pub url: String,
    pub event_types: String,
    pub description: Option<String>,
    pub enabled: bool,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for WebhookEndpointRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpointRow")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl WebhookEndpointRow {
    pub fn into_endpoint(self) -> Result<WebhookEndpoint, CorruptLedgerRow> {
        let bad = |column| CorruptLedgerRow {
            table: "webhook_endpoints",
            id: self.id,
            column,
        };
        let names: Vec<String> =
            serde_json::from_str(&self.event_types).map_err(|_| bad("event_types"))?;
        let event_types =
            EventTypes::parse(names.iter().map(String::as_str)).map_err(|_| bad("event_types"))?;
        let previous_secret = match (self.previous_secret, self.previous_secret_until) {
            (Some(secret), Some(until)) => Some(PreviousSecret {
                secret: WebhookSecret::new(secret),
                until: Timestamp::from_datetime(until),
            }),
            (None, None) => None,
            _ => return Err(bad("previous_secret")),
        };
        Ok(WebhookEndpoint {
            id: WebhookEndpointId::from_uuid(self.id),
            url: EndpointUrl::from_stored(self.url),
            event_types,
            description: self
                .description
                .map(Description::parse)
                .transpose()
                .map_err(|_| bad("description"))?,
            enabled: self.enabled,
            secret: WebhookSecret::new(self.secret),
            previous_secret,
            created_at: Timestamp::from_datetime(self.created_at),
            updated_at: Timestamp::from_datetime(self.updated_at),
        })
    }
}

/// An endpoint as columns, for an insert or an update. Its `Debug` leaves the secrets out.
pub struct WebhookEndpointColumns<'a> {
    pub id: uuid::Uuid,
    pub url: &'a str,
    pub event_types: String,
    pub description: Option<&'a str>,
    pub enabled: bool,
    pub secret: &'a str,
    pub previous_secret: Option<&'a str>,
    pub previous_secret_until: Option<chrono::DateTime<chrono::Utc>>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for WebhookEndpointColumns<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpointColumns")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl<'a> WebhookEndpointColumns<'a> {
    pub fn of(endpoint: &'a WebhookEndpoint) -> Self {
        Self {
            id: endpoint.id.as_uuid(),
            url: endpoint.url.as_str(),
            event_types: serde_json::Value::from(endpoint.event_types.names()).to_string(),
            description: endpoint.description.as_ref().map(|text| text.as_str()),
            enabled: endpoint.enabled,
            secret: endpoint.secret.expose(),
            previous_secret: endpoint
                .previous_secret
                .as_ref()
                .map(|previous| previous.secret.expose()),
            previous_secret_until: endpoint
                .previous_secret
                .as_ref()
                .map(|previous| previous.until.as_datetime()),
            created_at: endpoint.created_at.as_datetime(),
            updated_at: endpoint.updated_at.as_datetime(),
        }
    }
}
