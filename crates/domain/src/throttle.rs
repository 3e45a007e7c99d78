//! How repeated login failures slow an attacker down without locking a victim out for good.
//!
//! Failures are counted per key over a sliding window; past a free allowance each further
//! failure doubles the wait before the next attempt, up to a cap. A success clears the key.
//! Three keys are charged per failure (see `LoginKeys`), each with its own policy:
//! - the (email, client IP) pair: the tight limit that stops one machine guessing one password;
//! - the client IP: stops one machine spraying many accounts;
//! - the email alone: a loose limit, so many machines together are slowed, while its short cap
//!   means a victim behind another IP is never kept out for more than a minute.

use chrono::Duration;

use crate::time::Timestamp;

/// The parameters of one key's throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed in a window before any wait is imposed.
    pub free_failures: u32,
    /// A quiet window this long forgets earlier failures.
    pub window_secs: i64,
    /// The longest wait ever imposed.
    pub max_block_secs: i64,
}

impl ThrottlePolicy {
    pub const EMAIL_AND_IP: ThrottlePolicy = ThrottlePolicy {
        free_failures: 5,
        window_secs: 15 * 60,
        max_block_secs: 15 * 60,
    };
    pub const IP: ThrottlePolicy = ThrottlePolicy {
        free_failures: 20,
        window_secs: 15 * 60,
        max_block_secs: 15 * 60,
    };
    pub const EMAIL: ThrottlePolicy = ThrottlePolicy {
        free_failures: 50,
        window_secs: 15 * 60,
        max_block_secs: 60,
    };
}

/// What is remembered about one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    pub failures: u32,
    pub last_failure_at: Timestamp,
    pub blocked_until: Option<Timestamp>,
}

impl ThrottlePolicy {
    /// Seconds the caller must still wait at `now`, if any.
    pub fn retry_after_secs(&self, state: Option<&ThrottleState>, now: Timestamp) -> Option<i64> {
        let blocked_until = state?.blocked_until?;
        let remaining = blocked_until
            .as_datetime()
            .signed_duration_since(now.as_datetime());
        // Round up, so a client that waits exactly as told is let through.
        let millis = remaining.num_milliseconds();
        (millis > 0).then(|| millis.saturating_add(999) / 1000)
    }

    /// The state after one more failure at `now`.
    pub fn record_failure(&self, state: Option<&ThrottleState>, now: Timestamp) -> ThrottleState {
        let window = Duration::seconds(self.window_secs);
        let previous = state
            .filter(|state| {
                state
                    .last_failure_at
                    .as_datetime()
                    .checked_add_signed(window)
                    .is_some_and(|window_end| now.as_datetime() < window_end)
            })
            .map_or(0, |state| state.failures);
        let failures = previous.saturating_add(1);
        let over = failures.saturating_sub(self.free_failures);
        let blocked_until = (over > 0).then(|| {
            // 1 s, 2 s, 4 s, … capped; the exponent is bounded so the power cannot overflow.
            let exponent = over.saturating_sub(1).min(20);
            let block_secs = 2_i64.saturating_pow(exponent).min(self.max_block_secs);
            let until = now
                .as_datetime()
                .checked_add_signed(Duration::seconds(block_secs))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
            Timestamp::from_datetime(until)
        });
        ThrottleState {
            failures,
            last_failure_at: now,
            blocked_until,
        }
    }
}

impl ThrottlePolicy {
    /// Undoes one [`ThrottlePolicy::record_failure`] for an attempt that turned out to succeed
    /// (attempts are charged before the password is checked): one failure fewer, and no block
    /// once the failures left are within the free allowance. A block set past the allowance
    /// stays: keeping a busy key waiting a little longer is the safe side.
    pub fn refund(&self, state: &ThrottleState) -> ThrottleState {
        let failures = state.failures.saturating_sub(1);
        ThrottleState {
            failures,
            last_failure_at: state.last_failure_at,
            blocked_until: state
                .blocked_until
                .filter(|_| failures > self.free_failures),
        }
    }
}

/// The three keys one login attempt is charged to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginKeys {
    pub email_and_ip: String,
    pub ip: String,
    pub email: String,
}

impl LoginKeys {
    pub fn new(email: &str, ip: &str) -> Self {
        Self {
            email_and_ip: format!("email+ip:{email}|{ip}"),
            ip: format!("ip:{ip}"),
            email: format!("email:{email}"),
        }
    }

    /// Each key with its policy.
    pub fn with_policies(&self) -> [(&str, ThrottlePolicy); 3] {
        [
            (self.email_and_ip.as_str(), ThrottlePolicy::EMAIL_AND_IP),
            (self.ip.as_str(), ThrottlePolicy::IP),
            (self.email.as_str(), ThrottlePolicy::EMAIL),
        ]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects)]
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_datetime(chrono::DateTime::UNIX_EPOCH + Duration::seconds(secs))
    }

    fn fail_times(policy: ThrottlePolicy, times: u32, now: Timestamp) -> ThrottleState {
        let mut state = None;
        for _ in 0..times {
            state = Some(policy.record_failure(state.as_ref(), now));
        }
        state.unwrap()
    }

    #[test]
    fn free_failures_impose_no_wait() {
        let policy = ThrottlePolicy::EMAIL_AND_IP;
        let state = fail_times(policy, 5, at(0));
        assert_eq!(state.failures, 5);
        assert_eq!(policy.retry_after_secs(Some(&state), at(0)), None);
    }

    #[test]
    fn waits_double_and_stop_at_the_cap() {
        let policy = ThrottlePolicy::EMAIL_AND_IP;
        let waits: Vec<_> = (6..=18)
            .map(|n| {
                let state = fail_times(policy, n, at(0));
                policy.retry_after_secs(Some(&state), at(0)).unwrap()
            })
            .collect();
        assert_eq!(
            waits,
            [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900, 900]
        );
    }

    #[test]
    fn the_email_key_never_blocks_longer_than_a_minute() {
        let policy = ThrottlePolicy::EMAIL;
        let state = fail_times(policy, 10_000, at(0));
        assert_eq!(policy.retry_after_secs(Some(&state), at(0)), Some(60));
        assert_eq!(policy.retry_after_secs(Some(&state), at(60)), None);
    }

    #[test]
    fn a_quiet_window_forgets() {
        let policy = ThrottlePolicy::EMAIL_AND_IP;
        let state = fail_times(policy, 8, at(0));
        let after_quiet = policy.record_failure(Some(&state), at(15 * 60));
        assert_eq!(after_quiet.failures, 1);
        assert_eq!(after_quiet.blocked_until, None);
        let inside = policy.record_failure(Some(&state), at(15 * 60 - 1));
        assert_eq!(inside.failures, 9);
    }

    #[test]
    fn retry_after_rounds_up() {
        let policy = ThrottlePolicy::EMAIL_AND_IP;
        let state = ThrottleState {
            failures: 6,
            last_failure_at: at(0),
            blocked_until: Some(Timestamp::from_datetime(
                at(0).as_datetime() + Duration::milliseconds(1500),
            )),
        };
        assert_eq!(policy.retry_after_secs(Some(&state), at(0)), Some(2));
        assert_eq!(policy.retry_after_secs(None, at(0)), None);
    }

    #[test]
    fn a_refund_undoes_the_charge_that_crossed_the_allowance() {
        let policy = ThrottlePolicy::EMAIL_AND_IP;
        let charged = fail_times(policy, 6, at(0));
        assert!(charged.blocked_until.is_some());
        let refunded = policy.refund(&charged);
        assert_eq!((refunded.failures, refunded.blocked_until), (5, None));
        let far = fail_times(policy, 9, at(0));
        assert_eq!(policy.refund(&far).failures, 8);
        assert!(policy.refund(&far).blocked_until.is_some());
        let none = ThrottleState {
            failures: 0,
            last_failure_at: at(0),
            blocked_until: None,
        };
        assert_eq!(policy.refund(&none).failures, 0);
    }

    #[test]
    fn keys_separate_email_ip_and_pair() {
        let keys = LoginKeys::new("a@x.io", "10.0.0.1");
        let names: Vec<_> = keys
            .with_policies()
            .iter()
            .map(|(key, _)| key.to_string())
            .collect();
        assert_eq!(
            names,
            ["email+ip:a@x.io|10.0.0.1", "ip:10.0.0.1", "email:a@x.io"]
        );
    }
}
