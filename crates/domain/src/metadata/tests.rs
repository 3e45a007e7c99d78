use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn metadata(value: serde_json::Value) -> Result<Metadata, String> {
    serde_json::from_value(value).map_err(|error| error.to_string())
}

fn patch(value: serde_json::Value) -> Result<MetadataPatch, String> {
    serde_json::from_value(value).map_err(|error| error.to_string())
}

fn keys(count: usize) -> serde_json::Map<String, serde_json::Value> {
    (0..count)
        .map(|index| (format!("k{index}"), json!("v")))
        .collect()
}

#[test]
fn keys_are_one_to_forty_characters_without_brackets_or_control_characters() {
    assert!(MetadataKey::parse("é".repeat(40)).is_ok());
    assert_eq!(
        MetadataKey::parse("é".repeat(41)),
        Err(MetadataError::KeyLength)
    );
    assert_eq!(
        MetadataKey::parse(String::new()),
        Err(MetadataError::KeyLength)
    );
    assert!(MetadataKey::parse("a".into()).is_ok());
    assert_eq!(
        MetadataKey::parse("a[b".into()),
        Err(MetadataError::KeyBracket)
    );
    assert_eq!(
        MetadataKey::parse("a]b".into()),
        Err(MetadataError::KeyBracket)
    );
    assert_eq!(
        MetadataKey::parse("a\nb".into()),
        Err(MetadataError::KeyControl)
    );
    assert_eq!(
        MetadataKey::parse("order id".into()).unwrap().as_str(),
        "order id"
    );
}

#[test]
fn values_are_at_most_five_hundred_characters_without_nul() {
    let held = metadata(json!({"note": "é".repeat(500), "empty": ""})).unwrap();
    assert_eq!(held.get("note"), Some("é".repeat(500).as_str()));
    assert_eq!(held.get("empty"), Some(""));
    assert_eq!(held.get("other"), None);
    let too_long = metadata(json!({"note": "é".repeat(501)})).unwrap_err();
    assert!(
        too_long.contains("\"note\" must be at most 500"),
        "{too_long}"
    );
    let nul = metadata(json!({"note": "a\u{0}b"})).unwrap_err();
    assert!(nul.contains("NUL"), "{nul}");
    assert!(metadata(json!({"note": 5})).is_err());
    assert!(
        metadata(json!({"a[": "x"}))
            .unwrap_err()
            .contains("`[` or `]`")
    );
}

#[test]
fn at_most_fifty_keys() {
    assert_eq!(metadata(json!(keys(50))).unwrap().iter().count(), 50);
    let refused = metadata(json!(keys(51))).unwrap_err();
    assert!(refused.contains("at most 50 keys"), "{refused}");
}

#[test]
fn a_patch_sets_named_keys_removes_null_ones_and_keeps_the_rest() {
    let before = metadata(json!({"a": "1", "b": "2", "c": "3"})).unwrap();
    let after = before
        .merged(&patch(json!({"a": "one", "b": null, "d": "4", "absent": null})).unwrap())
        .unwrap();
    assert_eq!(
        after,
        metadata(json!({"a": "one", "c": "3", "d": "4"})).unwrap()
    );
    assert_eq!(before.merged(&MetadataPatch::default()).unwrap(), before);
    assert!(MetadataPatch::default().is_empty());
    let named = patch(json!({"b": null, "a": "x"})).unwrap();
    assert_eq!(
        named.iter().collect::<Vec<_>>(),
        [("a", Some("x")), ("b", None)]
    );
}

#[test]
fn a_patch_is_refused_when_the_result_would_exceed_fifty_keys() {
    let full = metadata(json!(keys(50))).unwrap();
    assert_eq!(
        full.merged(&patch(json!({"more": "x"})).unwrap()),
        Err(MetadataError::TooManyKeys)
    );
    let swapped = full
        .merged(&patch(json!({"k0": null, "more": "x"})).unwrap())
        .unwrap();
    assert_eq!(swapped.iter().count(), 50);
    assert_eq!(swapped.get("more"), Some("x"));
}

#[test]
fn a_patch_names_at_most_a_hundred_keys_each_checked() {
    let mut hundred = keys(50);
    hundred.extend((0..50).map(|index| (format!("gone{index}"), serde_json::Value::Null)));
    assert!(patch(json!(hundred)).is_ok());
    hundred.insert("one more".into(), json!("x"));
    assert!(
        patch(json!(hundred))
            .unwrap_err()
            .contains("at most 100 keys")
    );
    assert!(patch(json!({"": null})).is_err());
    assert!(patch(json!({"k": "é".repeat(501)})).is_err());
}

#[test]
fn stored_metadata_reads_back_and_corrupt_rows_are_named() {
    let held = metadata(json!({"b": "2", "a": "1"})).unwrap();
    assert_eq!(held.to_json(), json!({"a": "1", "b": "2"}));
    assert_eq!(
        Metadata::from_json(&held.to_json().to_string()),
        Ok(held.clone())
    );
    assert_eq!(Metadata::from_value(held.to_json()), Ok(held.clone()));
    assert_eq!(Metadata::from_json("[1]"), Err(MetadataError::Stored));
    assert_eq!(
        Metadata::from_value(json!({"a": 1})),
        Err(MetadataError::Stored)
    );
    assert!(Metadata::default().is_empty());
    assert!(!held.is_empty());
    assert_eq!(Metadata::default().to_json(), json!({}));
}

#[test]
fn a_filter_takes_the_metadata_parameters_and_skips_the_others() {
    let filter = MetadataFilter::from_query_pairs([
        ("limit", "5"),
        ("metadata[order]", "42"),
        ("metadata[shop]", "paris"),
        ("metadata", "x"),
        ("metadata[x", "y"),
    ])
    .unwrap();
    assert_eq!(
        filter.iter().collect::<Vec<_>>(),
        [("order", "42"), ("shop", "paris")]
    );
    assert_eq!(filter.to_json(), json!({"order": "42", "shop": "paris"}));
    assert!(!filter.is_empty());
    assert!(
        MetadataFilter::from_query_pairs([("limit", "5")])
            .unwrap()
            .is_empty()
    );
    for (name, is_filter) in [
        ("metadata[order]", true),
        ("metadata[]", true),
        ("metadata", false),
        ("metadata[x", false),
        ("xmetadata[x]", false),
        ("limit", false),
    ] {
        assert_eq!(
            MetadataFilter::is_filter_parameter(name),
            is_filter,
            "{name}"
        );
    }
}

#[test]
fn a_filter_refuses_repeated_bad_or_too_many_keys() {
    assert_eq!(
        MetadataFilter::from_query_pairs([("metadata[a]", "1"), ("metadata[a]", "2")]),
        Err(MetadataError::RepeatedFilter(
            MetadataKey::parse("a".into()).unwrap()
        ))
    );
    assert_eq!(
        MetadataFilter::from_query_pairs([("metadata[]", "1")]),
        Err(MetadataError::KeyLength)
    );
    assert_eq!(
        MetadataFilter::from_query_pairs([("metadata[a]]", "1")]),
        Err(MetadataError::KeyBracket)
    );
    let names: Vec<String> = (0..51).map(|index| format!("metadata[k{index}]")).collect();
    let fifty = names.iter().take(50).map(|name| (name.as_str(), "v"));
    assert_eq!(
        MetadataFilter::from_query_pairs(fifty)
            .unwrap()
            .iter()
            .count(),
        50
    );
    let fifty_one = names.iter().map(|name| (name.as_str(), "v"));
    assert_eq!(
        MetadataFilter::from_query_pairs(fifty_one),
        Err(MetadataError::TooManyFilters)
    );
}

fn small_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-e]", "[xy]{0,2}", 0..5)
}

proptest! {
    /// Merging agrees with the obvious model: insert what is set, remove what is null.
    #[test]
    fn merging_is_set_or_remove_per_named_key(
        start in small_map(),
        changes in prop::collection::btree_map("[a-g]", prop::option::of("[xy]{0,2}"), 0..6),
    ) {
        let mut model = start.clone();
        for (key, value) in &changes {
            match value {
                Some(value) => model.insert(key.clone(), value.clone()),
                None => model.remove(key),
            };
        }
        let merged = Metadata::try_from(start)
            .unwrap()
            .merged(&MetadataPatch::try_from(changes).unwrap())
            .unwrap();
        prop_assert_eq!(merged, Metadata::try_from(model).unwrap());
    }
}
