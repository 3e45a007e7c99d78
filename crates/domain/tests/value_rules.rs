//! Free text and timestamps: the bounds of a text, and one spelling per instant.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use coffre_domain::text::{AccountName, Description, TextError};
use coffre_domain::time::Timestamp;

#[test]
fn text_prints_as_given_up_to_its_bound() {
    let name = AccountName::parse("Épargne".into()).unwrap();
    assert_eq!(name.to_string(), "Épargne");
    assert_eq!(name.as_str(), "Épargne");
    assert!(Description::parse("x".repeat(500)).is_ok());
    assert_eq!(
        Description::parse("x".repeat(501)),
        Err(TextError::TooLong { max: 500 })
    );
    assert_eq!(
        AccountName::parse("a\u{0}b".into()),
        Err(TextError::ControlCharacter)
    );
}

#[test]
fn a_timestamp_keeps_microseconds_and_prints_them_in_utc() {
    let datetime: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-03-04T05:06:07.987654321Z")
        .unwrap()
        .to_utc();
    let timestamp = Timestamp::from(datetime);
    let expected: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-03-04T05:06:07.987654Z")
        .unwrap()
        .to_utc();
    assert_eq!(timestamp.as_datetime(), expected);
    assert_eq!(timestamp, Timestamp::from_datetime(datetime));
    assert_eq!(timestamp.to_string(), "2026-03-04T05:06:07.987654Z");
    assert_eq!(
        format!("{timestamp:?}"),
        "Timestamp(2026-03-04T05:06:07.987654Z)"
    );
    let now = Timestamp::now();
    assert_eq!(now.as_datetime().timestamp_subsec_nanos() % 1_000, 0);
}
