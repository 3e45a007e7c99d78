//! Roles, emails, passwords and the login throttle's three policies, each at its edges.
#![allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]

use chrono::{DateTime, Duration};
use coffre_domain::throttle::{ThrottlePolicy, ThrottleState};
use coffre_domain::time::Timestamp;
use coffre_domain::user::{Email, EmailError, Password, Role};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_datetime(DateTime::UNIX_EPOCH + Duration::seconds(secs))
}

#[test]
fn roles_print_as_their_names() {
    for (role, name) in [
        (Role::User, "user"),
        (Role::Manager, "manager"),
        (Role::Admin, "admin"),
    ] {
        assert_eq!(role.to_string(), name);
        assert_eq!(Role::parse(name), Some(role));
    }
}

#[test]
fn an_email_may_be_254_characters_and_no_more() {
    // 64 + 1 + 189: the longest local part and a domain of labels of at most 63.
    let domain = format!("{}.{}.{}", "b".repeat(63), "c".repeat(63), "d".repeat(61));
    let longest = format!("{}@{domain}", "a".repeat(64));
    assert_eq!(longest.chars().count(), 254);
    let email = Email::parse(&longest).unwrap();
    assert_eq!(email.as_str(), longest);
    assert_eq!(email.to_string(), longest);
    let longer = format!("{}@{domain}x", "a".repeat(64));
    assert_eq!(Email::parse(&longer), Err(EmailError::TooLong));
    // The limit counts the address once trimmed.
    assert!(Email::parse(&format!("  {longest}  ")).is_ok());
}

#[test]
fn a_password_is_given_back_as_typed_only_to_the_hasher() {
    let password = Password::parse("Correct Horse 42".into()).unwrap();
    assert_eq!(password.expose(), "Correct Horse 42");
}

fn fail_times(policy: ThrottlePolicy, times: u32, now: Timestamp) -> ThrottleState {
    let mut state = None;
    for _ in 0..times {
        state = Some(policy.record_failure(state.as_ref(), now));
    }
    state.unwrap()
}

/// Failures allowed before a wait, the longest wait, and the quiet time that forgets.
fn assert_policy(policy: ThrottlePolicy, free: u32, cap_secs: i64) {
    let state = fail_times(policy, free, at(0));
    assert_eq!(policy.retry_after_secs(Some(&state), at(0)), None);
    let state = fail_times(policy, free + 1, at(0));
    assert_eq!(policy.retry_after_secs(Some(&state), at(0)), Some(1));
    let state = fail_times(policy, free + 40, at(0));
    assert_eq!(policy.retry_after_secs(Some(&state), at(0)), Some(cap_secs));
    // Failures within fifteen minutes of the last one add up; a quiet fifteen minutes forgets.
    assert_eq!(
        policy.record_failure(Some(&state), at(899)).failures,
        free + 41
    );
    assert_eq!(policy.record_failure(Some(&state), at(900)).failures, 1);
}

#[test]
fn each_key_has_its_own_allowance_and_cap() {
    assert_policy(ThrottlePolicy::EMAIL_AND_IP, 5, 900);
    assert_policy(ThrottlePolicy::IP, 20, 900);
    assert_policy(ThrottlePolicy::EMAIL, 50, 60);
}

#[test]
fn a_wait_ends_exactly_at_its_deadline() {
    let policy = ThrottlePolicy::IP;
    let state = ThrottleState {
        failures: 21,
        last_failure_at: at(0),
        blocked_until: Some(at(4)),
    };
    assert_eq!(policy.retry_after_secs(Some(&state), at(0)), Some(4));
    let almost = Timestamp::from_datetime(at(4).as_datetime() - Duration::milliseconds(1));
    assert_eq!(policy.retry_after_secs(Some(&state), almost), Some(1));
    assert_eq!(policy.retry_after_secs(Some(&state), at(4)), None);
    assert_eq!(policy.retry_after_secs(Some(&state), at(5)), None);
    let late = Timestamp::from_datetime(at(0).as_datetime() + Duration::milliseconds(2_499));
    assert_eq!(policy.retry_after_secs(Some(&state), late), Some(2));
    let unblocked = ThrottleState {
        blocked_until: None,
        ..state
    };
    assert_eq!(policy.retry_after_secs(Some(&unblocked), at(0)), None);
}
