//! Timestamps at the precision every backend stores exactly (microseconds), so a value read
//! back from either database equals the value written, and hashes over it stay stable.

use std::fmt;

use chrono::{DateTime, SecondsFormat, SubsecRound, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    /// Truncates to microseconds.
    pub fn from_datetime(datetime: DateTime<Utc>) -> Self {
        Self(datetime.trunc_subsecs(6))
    }

    pub const fn as_datetime(&self) -> DateTime<Utc> {
        self.0
    }

    /// `ttl` later, or this very instant if that is past the calendar: a deadline too far to
    /// write comes at once rather than never.
    pub fn deadline_after(self, ttl: TimeDelta) -> Self {
        self.0
            .checked_add_signed(ttl)
            .map_or(self, Self::from_datetime)
    }

    /// RFC 3339 in UTC with exactly six fraction digits: one spelling per instant.
    pub fn to_rfc3339(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Micros, true)
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(datetime: DateTime<Utc>) -> Self {
        Self::from_datetime(datetime)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        DateTime::<Utc>::deserialize(deserializer).map(Self::from_datetime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_utc_with_microseconds() {
        let datetime = DateTime::parse_from_rfc3339("2026-11-28T19:30:16.123456789+01:00")
            .unwrap()
            .with_timezone(&Utc);
        let timestamp = Timestamp::from_datetime(datetime);
        assert_eq!(timestamp.to_rfc3339(), "2026-11-28T18:30:16.123456Z");
        let json = serde_json::to_string(&timestamp).unwrap();
        assert_eq!(json, "\"2026-11-28T18:30:16.123456Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), timestamp);
    }
}
