//! Metadata: a client's own string labels on a resource (an order number, a customer
//! reference), with Stripe's limits so that what works there works here. Coffre stores and
//! filters by it and never interprets it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// At most this many keys on one resource.
pub const MAX_KEYS: usize = 50;
pub const MAX_KEY_CHARS: usize = 40;
pub const MAX_VALUE_CHARS: usize = 500;
/// At most this many keys in one update: every key deleted and as many set.
pub const MAX_PATCH_KEYS: usize = MAX_KEYS * 2;
/// The prefix and suffix of a list filter's query parameter, `metadata[KEY]=VALUE`.
const FILTER_PREFIX: &str = "metadata[";
const FILTER_SUFFIX: &str = "]";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata may hold at most {MAX_KEYS} keys")]
    TooManyKeys,
    #[error("a metadata update may name at most {MAX_PATCH_KEYS} keys")]
    TooManyPatchKeys,
    #[error("metadata keys must be 1 to {MAX_KEY_CHARS} characters")]
    KeyLength,
    #[error("metadata keys must not contain `[` or `]`")]
    KeyBracket,
    #[error("metadata keys must not contain control characters")]
    KeyControl,
    #[error("the value of metadata key \"{0}\" must be at most {MAX_VALUE_CHARS} characters")]
    ValueTooLong(MetadataKey),
    #[error("the value of metadata key \"{0}\" must not contain NUL characters")]
    ValueNul(MetadataKey),
    #[error("the metadata filter on key \"{0}\" is given more than once")]
    RepeatedFilter(MetadataKey),
    #[error("at most {MAX_KEYS} metadata filters may be given")]
    TooManyFilters,
    #[error("stored metadata is not a map of strings")]
    Stored,
}

/// A metadata key: 1 to 40 characters, no control character, and no `[` or `]` (they would be
/// ambiguous in a `metadata[KEY]` filter).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct MetadataKey(String);

impl MetadataKey {
    pub fn parse(key: String) -> Result<Self, MetadataError> {
        let chars = key.chars().count();
        if chars == 0 || chars > MAX_KEY_CHARS {
            Err(MetadataError::KeyLength)
        } else if key.contains(['[', ']']) {
            Err(MetadataError::KeyBracket)
        } else if key.chars().any(char::is_control) {
            Err(MetadataError::KeyControl)
        } else {
            Ok(Self(key))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MetadataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A metadata value: at most 500 characters, possibly empty. NUL is refused because
/// PostgreSQL's `jsonb` cannot store it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct MetadataValue(String);

impl MetadataValue {
    fn parse(key: &MetadataKey, value: String) -> Result<Self, MetadataError> {
        if value.chars().count() > MAX_VALUE_CHARS {
            Err(MetadataError::ValueTooLong(key.clone()))
        } else if value.contains('\0') {
            Err(MetadataError::ValueNul(key.clone()))
        } else {
            Ok(Self(value))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A resource's metadata: at most 50 valid keys, each with a valid value. Deserializing checks
/// every limit, so a request body that holds one is already valid.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>")]
pub struct Metadata(BTreeMap<MetadataKey, MetadataValue>);

impl TryFrom<BTreeMap<String, String>> for Metadata {
    type Error = MetadataError;

    fn try_from(map: BTreeMap<String, String>) -> Result<Self, Self::Error> {
        if map.len() > MAX_KEYS {
            return Err(MetadataError::TooManyKeys);
        }
        map.into_iter()
            .map(|(key, value)| {
                let key = MetadataKey::parse(key)?;
                let value = MetadataValue::parse(&key, value)?;
                Ok((key, value))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl Metadata {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(candidate, _)| candidate.as_str() == key)
            .map(|(_, value)| value.as_str())
    }

    /// Keys in ascending order, with their values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// This metadata with `patch` applied: a key set to a value takes it, a key set to null is
    /// removed (whether or not it was there). Refused if the result would hold too many keys.
    pub fn merged(&self, patch: &MetadataPatch) -> Result<Self, MetadataError> {
        let mut merged = self.0.clone();
        for (key, value) in &patch.0 {
            match value {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        if merged.len() > MAX_KEYS {
            return Err(MetadataError::TooManyKeys);
        }
        Ok(Self(merged))
    }

    /// As stored: a JSON object of strings.
    pub fn to_json(&self) -> serde_json::Value {
        json_object(self.iter())
    }

    /// Reads stored metadata back, checking it as a request's would be.
    pub fn from_json(text: &str) -> Result<Self, MetadataError> {
        serde_json::from_str(text).map_err(|_| MetadataError::Stored)
    }

    /// Reads stored metadata back from a decoded JSON value (PostgreSQL's `jsonb`).
    pub fn from_value(value: serde_json::Value) -> Result<Self, MetadataError> {
        serde_json::from_value(value).map_err(|_| MetadataError::Stored)
    }
}

/// An update to a resource's metadata, `{key: "value" | null, …}`: each key named is set, or
/// removed when null; keys not named keep their values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "BTreeMap<String, Option<String>>")]
pub struct MetadataPatch(BTreeMap<MetadataKey, Option<MetadataValue>>);

impl TryFrom<BTreeMap<String, Option<String>>> for MetadataPatch {
    type Error = MetadataError;

    fn try_from(map: BTreeMap<String, Option<String>>) -> Result<Self, Self::Error> {
        if map.len() > MAX_PATCH_KEYS {
            return Err(MetadataError::TooManyPatchKeys);
        }
        map.into_iter()
            .map(|(key, value)| {
                let key = MetadataKey::parse(key)?;
                let value = value
                    .map(|value| MetadataValue::parse(&key, value))
                    .transpose()?;
                Ok((key, value))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl MetadataPatch {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Keys in ascending order, with the value each is set to (`None`: removed).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.0
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_ref().map(MetadataValue::as_str)))
    }
}

/// A list's metadata filter: `?metadata[KEY]=VALUE`, repeatable; a resource matches when its
/// metadata holds every pair.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataFilter(BTreeMap<MetadataKey, MetadataValue>);

impl MetadataFilter {
    /// The filter named by the `metadata[KEY]` parameters among a query's decoded pairs; other
    /// parameters are not its business and are skipped. A key given twice is refused: the
    /// two values could never both match.
    pub fn from_query_pairs<N, V>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, MetadataError>
    where
        N: AsRef<str>,
        V: Into<String>,
    {
        let mut filter = BTreeMap::new();
        for (name, value) in pairs {
            let Some(key) = filter_key(name.as_ref()) else {
                continue;
            };
            if filter.len() == MAX_KEYS {
                return Err(MetadataError::TooManyFilters);
            }
            let key = MetadataKey::parse(key.to_owned())?;
            let value = MetadataValue::parse(&key, value.into())?;
            if filter.contains_key(&key) {
                return Err(MetadataError::RepeatedFilter(key));
            }
            filter.insert(key, value);
        }
        Ok(Self(filter))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a query parameter is one of the filter's, `metadata[KEY]`: the parameters
    /// [`MetadataFilter::from_query_pairs`] reads, and a list's typed query must not.
    pub fn is_filter_parameter(name: &str) -> bool {
        filter_key(name).is_some()
    }

    /// The pairs a match must hold, keys ascending.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
    }

    /// The pairs as a JSON object, for PostgreSQL's containment test (`metadata @> $1`).
    pub fn to_json(&self) -> serde_json::Value {
        json_object(self.iter())
    }
}

/// The KEY of a `metadata[KEY]` parameter name.
fn filter_key(name: &str) -> Option<&str> {
    name.strip_prefix(FILTER_PREFIX)
        .and_then(|rest| rest.strip_suffix(FILTER_SUFFIX))
}

fn json_object<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> serde_json::Value {
    serde_json::Value::Object(
        pairs
            .map(|(key, value)| (key.to_owned(), serde_json::Value::from(value)))
            .collect(),
    )
}

#[cfg(test)]
mod tests;
