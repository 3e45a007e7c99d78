//! The rules of webhook deliveries: who wants what, signatures (checked with the independent
//! `standardwebhooks` crate), which addresses an attempt may reach, and what an attempt decides.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::net::IpAddr;

use chrono::TimeDelta;
use coffre_domain::delivery::{
    AttemptDecision, AttemptResult, BadRetrySchedule, DeliveryStatus, EndpointVerdict, NoAnswer,
    RetrySchedule, decide_attempt, is_public_address, signature_header,
};
use coffre_domain::event::EventType;
use coffre_domain::ids::WebhookEndpointId;
use coffre_domain::time::Timestamp;
use coffre_domain::webhook::{EndpointUrl, EventTypes, WebhookEndpoint, WebhookSecret};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_datetime(chrono::DateTime::from_timestamp(1_767_225_600 + secs, 0).unwrap())
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER: &str = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkgISE=";

fn headers(id: &str, timestamp: i64, signature: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("webhook-id", id.parse().unwrap());
    headers.insert("webhook-timestamp", timestamp.to_string().parse().unwrap());
    headers.insert("webhook-signature", signature.parse().unwrap());
    headers
}

#[test]
fn a_signature_is_the_standard_webhooks_one() {
    // The example of the Standard Webhooks reference implementations.
    let secret = WebhookSecret::new(SECRET.into());
    let body = r#"{"test": 2432232314}"#;
    let header = signature_header(
        &[&secret],
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1_614_265_330,
        body,
    );
    assert_eq!(
        header.as_deref(),
        Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
    );

    let now = chrono::Utc::now().timestamp();
    let body = r#"{"id":"evt_1","type":"transfer.created"}"#;
    let header = signature_header(&[&secret], "evt_1", now, body).unwrap();
    let verifier = standardwebhooks::Webhook::new(SECRET).unwrap();
    verifier
        .verify(body.as_bytes(), &headers("evt_1", now, &header))
        .unwrap();
    assert!(
        verifier
            .verify(b"{}", &headers("evt_1", now, &header))
            .is_err()
    );
    assert!(
        verifier
            .verify(body.as_bytes(), &headers("evt_2", now, &header))
            .is_err()
    );
}

#[test]
fn two_live_secrets_sign_side_by_side_and_each_verifies() {
    let (new, old) = (
        WebhookSecret::new(OTHER.into()),
        WebhookSecret::new(SECRET.into()),
    );
    let now = chrono::Utc::now().timestamp();
    let body = r#"{"a":1}"#;
    let header = signature_header(&[&new, &old], "evt_9", now, body).unwrap();
    let parts: Vec<&str> = header.split(' ').collect();
    assert_eq!(parts.len(), 2);
    assert_eq!(
        parts[0],
        signature_header(&[&new], "evt_9", now, body).unwrap()
    );
    for secret in [SECRET, OTHER] {
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(body.as_bytes(), &headers("evt_9", now, &header))
            .unwrap();
    }
    let broken = WebhookSecret::new("whsec_%%%".into());
    let unprefixed = WebhookSecret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
    assert_eq!(
        signature_header(&[&broken, &old], "evt_9", now, body),
        signature_header(&[&old], "evt_9", now, body)
    );
    assert_eq!(
        signature_header(&[&broken, &unprefixed], "evt_9", now, body),
        None
    );
    assert_eq!(signature_header(&[], "evt_9", now, body), None);
}

#[test]
fn an_endpoint_wants_the_events_of_its_types_made_while_it_exists_and_is_enabled() {
    let mut endpoint = WebhookEndpoint {
        id: WebhookEndpointId::new(),
        url: EndpointUrl::parse("https://example.test/hooks", false).unwrap(),
        event_types: EventTypes::parse(["payment.*", "transfer.created"]).unwrap(),
        description: None,
        enabled: true,
        secret: WebhookSecret::new(SECRET.into()),
        previous_secret: None,
        created_at: at(100),
        updated_at: at(100),
    };
    assert!(endpoint.wants(EventType::PaymentCaptured, at(100)));
    assert!(endpoint.wants(EventType::TransferCreated, at(101)));
    assert!(!endpoint.wants(EventType::TransferCreated, at(99)));
    assert!(!endpoint.wants(EventType::HoldCreated, at(101)));
    endpoint.enabled = false;
    assert!(!endpoint.wants(EventType::PaymentCaptured, at(101)));
}

#[test]
fn only_public_addresses_are_reachable() {
    let public = [
        "93.184.216.34",
        "8.8.8.8",
        "2606:4700::1111",
        "100.128.0.1",
        "172.32.0.1",
    ];
    for text in public {
        assert!(is_public_address(text.parse().unwrap()), "{text}");
    }
    let private = [
        "127.0.0.1",
        "127.255.0.9",
        "10.1.2.3",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.255",
        "0.0.0.0",
        "0.1.2.3",
        "255.255.255.255",
        "240.0.0.1",
        "224.0.0.1",
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
    ];
    for text in private {
        let ip: IpAddr = text.parse().unwrap();
        assert!(!is_public_address(ip), "{text}");
    }
    assert!(is_public_address("::ffff:8.8.8.8".parse().unwrap()));
}

#[test]
fn schedules_parse_from_waits_with_units() {
    let schedule: RetrySchedule = "100ms, 2s,3m,4h".parse().unwrap();
    assert_eq!(schedule.max_attempts(), 5);
    assert_eq!(
        schedule.wait_after(1, 0),
        Some(TimeDelta::milliseconds(100))
    );
    assert_eq!(schedule.wait_after(2, 0), Some(TimeDelta::seconds(2)));
    assert_eq!(schedule.wait_after(3, 0), Some(TimeDelta::minutes(3)));
    assert_eq!(schedule.wait_after(4, 0), Some(TimeDelta::hours(4)));
    assert_eq!(schedule.wait_after(5, 0), None);
    assert_eq!(schedule.to_string(), "100ms,2000ms,180000ms,14400000ms");
    assert_eq!(schedule.to_string().parse::<RetrySchedule>(), Ok(schedule));
    assert!("168h".parse::<RetrySchedule>().is_ok());
    let twenty = vec!["1s"; 20].join(",");
    assert_eq!(twenty.parse::<RetrySchedule>().unwrap().max_attempts(), 21);
    for bad in [
        "",
        "5",
        "s",
        "0s",
        "-5s",
        "5x",
        "5 s",
        "5s,",
        "1.5s",
        "169h",
        "9999999999999999999h",
        vec!["1s"; 21].join(",").as_str(),
    ] {
        assert_eq!(
            bad.parse::<RetrySchedule>(),
            Err(BadRetrySchedule),
            "{bad:?}"
        );
    }
}

#[test]
fn jitter_stretches_a_wait_by_at_most_a_tenth() {
    let schedule: RetrySchedule = "10s".parse().unwrap();
    assert_eq!(schedule.wait_after(1, 100), Some(TimeDelta::seconds(11)));
    assert_eq!(schedule.wait_after(1, -100), Some(TimeDelta::seconds(9)));
    assert_eq!(schedule.wait_after(1, 1000), Some(TimeDelta::seconds(11)));
    assert_eq!(schedule.wait_after(1, -1000), Some(TimeDelta::seconds(9)));
    assert_eq!(
        schedule.wait_after(1, 25),
        Some(TimeDelta::milliseconds(10_250))
    );
}

fn answered(status: u16) -> AttemptResult {
    AttemptResult::Answered {
        status,
        retry_after: None,
    }
}

#[test]
fn an_attempt_decides_its_delivery_and_its_endpoint() {
    let schedule: RetrySchedule = "5s,1m".parse().unwrap();
    let now = at(0);
    for status in [200, 201, 204, 299] {
        assert_eq!(
            decide_attempt(1, answered(status), now, &schedule, 0),
            AttemptDecision {
                delivery: DeliveryStatus::Succeeded,
                endpoint: EndpointVerdict::Healthy
            },
            "{status}"
        );
    }
    for status in [100, 199, 300, 301, 400, 404, 500, 503] {
        assert_eq!(
            decide_attempt(1, answered(status), now, &schedule, 0),
            AttemptDecision {
                delivery: DeliveryStatus::Pending {
                    next_attempt_at: at(5)
                },
                endpoint: EndpointVerdict::Unhealthy
            },
            "{status}"
        );
    }
    let timed_out = AttemptResult::NoAnswer(NoAnswer::TimedOut);
    assert_eq!(
        decide_attempt(2, timed_out, now, &schedule, 0).delivery,
        DeliveryStatus::Pending {
            next_attempt_at: at(60)
        }
    );
    assert_eq!(
        decide_attempt(3, timed_out, now, &schedule, 0),
        AttemptDecision {
            delivery: DeliveryStatus::Failed,
            endpoint: EndpointVerdict::Unhealthy
        }
    );
    assert_eq!(
        decide_attempt(1, answered(410), now, &schedule, 0),
        AttemptDecision {
            delivery: DeliveryStatus::Failed,
            endpoint: EndpointVerdict::Gone
        }
    );
}

#[test]
fn retry_after_delays_the_retry_and_pauses_the_endpoint() {
    let schedule: RetrySchedule = "5s,1m".parse().unwrap();
    let asked = |secs| AttemptResult::Answered {
        status: 429,
        retry_after: Some(TimeDelta::seconds(secs)),
    };
    assert_eq!(
        decide_attempt(1, asked(30), at(0), &schedule, 0),
        AttemptDecision {
            delivery: DeliveryStatus::Pending {
                next_attempt_at: at(30)
            },
            endpoint: EndpointVerdict::PausedUntil(at(30))
        }
    );
    // A shorter Retry-After does not bring the schedule's retry forward.
    assert_eq!(
        decide_attempt(1, asked(1), at(0), &schedule, 0).delivery,
        DeliveryStatus::Pending {
            next_attempt_at: at(5)
        }
    );
    // At most a week.
    let week = 7 * 24 * 3600;
    assert_eq!(
        decide_attempt(1, asked(week * 2), at(0), &schedule, 0).endpoint,
        EndpointVerdict::PausedUntil(at(week))
    );
    // The last attempt fails even when asked to come back.
    assert_eq!(
        decide_attempt(3, asked(30), at(0), &schedule, 0).delivery,
        DeliveryStatus::Failed
    );
}

#[test]
fn statuses_and_reasons_have_one_spelling_each() {
    let pending = DeliveryStatus::Pending {
        next_attempt_at: at(1),
    };
    assert_eq!(pending.as_str(), "pending");
    assert_eq!(pending.next_attempt_at(), Some(at(1)));
    assert_eq!(DeliveryStatus::Succeeded.as_str(), "succeeded");
    assert_eq!(DeliveryStatus::Succeeded.next_attempt_at(), None);
    assert_eq!(DeliveryStatus::Failed.as_str(), "failed");
    assert_eq!(DeliveryStatus::Failed.next_attempt_at(), None);
    for reason in [
        NoAnswer::TimedOut,
        NoAnswer::Unreachable,
        NoAnswer::AddressRefused,
    ] {
        assert_eq!(NoAnswer::parse(reason.as_str()), Some(reason));
    }
    assert_eq!(NoAnswer::TimedOut.as_str(), "timed_out");
    assert_eq!(NoAnswer::Unreachable.as_str(), "unreachable");
    assert_eq!(NoAnswer::AddressRefused.as_str(), "address_refused");
    assert_eq!(NoAnswer::parse("other"), None);
}

#[test]
fn a_redelivery_is_audited_on_its_endpoint() {
    use coffre_domain::audit::{AuditAction, AuditContext, ResourceType};
    use coffre_domain::delivery::redelivery_queued;
    use coffre_domain::event::EventId;
    use coffre_domain::ids::{UserId, WebhookDeliveryId};

    let (endpoint, event, delivery) = (
        WebhookEndpointId::new(),
        EventId::new(),
        WebhookDeliveryId::new(),
    );
    let context = AuditContext {
        actor_id: Some(UserId::new()),
        ..AuditContext::default()
    };
    let audit = redelivery_queued(endpoint, event, delivery, &context);
    assert_eq!(audit.action, AuditAction::WebhookRedeliveryQueued);
    assert_eq!(audit.action.as_str(), "WEBHOOK_REDELIVERY_QUEUED");
    assert_eq!(audit.resource_type, ResourceType::WebhookEndpoint);
    assert_eq!(audit.resource_id, Some(endpoint.to_string()));
    assert_eq!(audit.old_value, None);
    assert_eq!(
        audit.new_value,
        Some(
            serde_json::json!({"event_id": event.to_string(), "delivery_id": delivery.to_string()})
        )
    );
    assert_eq!(audit.context, context);
}
