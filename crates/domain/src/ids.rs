//! Typed identifiers. Every id is a UUID v7, so ids sort by creation time, which gives
//! newest-first pagination and a stable ascending lock order for free.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::try_parse(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                Self(uuid)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

id_type!(
    /// A person allowed to log in.
    UserId
);
id_type!(
    /// A login session; access and refresh tokens belong to one.
    SessionId
);
id_type!(
    /// A ledger account (customer or system).
    AccountId
);
id_type!(
    /// A money movement of any kind (transfer, deposit, withdrawal, capture, refund).
    TransferId
);
id_type!(
    /// Postings applied together, all or nothing; each posting is one transfer.
    TransactionId
);
id_type!(
    /// One ledger line: one side of a transfer, on one account.
    EntryId
);
id_type!(
    /// A card-style payment.
    PaymentId
);
id_type!(
    /// Money reserved on one account for another (a two-phase transfer), or a payment's
    /// authorization.
    HoldId
);
id_type!(
    /// One entry of the audit log.
    AuditEventId
);
id_type!(
    /// Where events are delivered.
    WebhookEndpointId
);
id_type!(
    /// One event on its way to one endpoint, with its attempts.
    WebhookDeliveryId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_and_sort_by_creation() {
        let first = AccountId::new();
        let second = AccountId::new();
        assert_eq!(first.as_uuid().get_version_num(), 7);
        assert!(first < second);
    }

    #[test]
    fn ids_round_trip_through_text_and_json() {
        let id = UserId::new();
        assert_eq!(id.to_string().parse::<UserId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), id);
        assert!("not-a-uuid".parse::<UserId>().is_err());
    }
}
