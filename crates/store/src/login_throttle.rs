//! Login throttle rows as both backends read and write them, and the policy applied to them.

use chrono::{DateTime, Utc};
use coffre_domain::throttle::{LoginKeys, ThrottlePolicy, ThrottleState};
use coffre_domain::time::Timestamp;

/// One `login_throttle` row with its columns in their SQL types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleRow {
    pub key: String,
    pub failures: i64,
    pub last_failure_at: DateTime<Utc>,
    pub blocked_until: Option<DateTime<Utc>>,
}

/// A stored failure count below zero or beyond `u32`: the table's CHECK forbids the first, and
/// counting saturates long before the second, so the row was edited behind the store's back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("login throttle key {key:?} holds the failure count {failures}")]
pub struct CorruptThrottle {
    pub key: String,
    pub failures: i64,
}

impl ThrottleRow {
    pub fn new(key: &str, state: &ThrottleState) -> Self {
        Self {
            key: key.to_owned(),
            failures: i64::from(state.failures),
            last_failure_at: state.last_failure_at.as_datetime(),
            blocked_until: state.blocked_until.map(|until| until.as_datetime()),
        }
    }

    pub fn into_state(self) -> Result<ThrottleState, CorruptThrottle> {
        let failures = u32::try_from(self.failures).map_err(|_| CorruptThrottle {
            key: self.key,
            failures: self.failures,
        })?;
        Ok(ThrottleState {
            failures,
            last_failure_at: Timestamp::from_datetime(self.last_failure_at),
            blocked_until: self.blocked_until.map(Timestamp::from_datetime),
        })
    }
}

/// Throttle rows whose last failure is older than this at `now` are forgotten by every
/// policy (their window has passed, and with it any block, which never outlasts a window):
/// the purge deletes them.
pub fn forgotten_before(now: Timestamp) -> Timestamp {
    let keep_secs = [
        ThrottlePolicy::EMAIL_AND_IP,
        ThrottlePolicy::IP,
        ThrottlePolicy::EMAIL,
    ]
    .iter()
    .map(|policy| policy.window_secs.max(policy.max_block_secs))
    .max()
    .unwrap_or(0);
    let cutoff = now
        .as_datetime()
        .checked_sub_signed(chrono::Duration::seconds(keep_secs))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    Timestamp::from_datetime(cutoff)
}

/// The keys of one attempt with their policies, in the order a backend locks their rows: the
/// same order for every attempt, so two attempts sharing keys never wait on each other in a
/// cycle.
pub fn lock_order(keys: &LoginKeys) -> [(&str, ThrottlePolicy); 3] {
    let mut charged = keys.with_policies();
    charged.sort_unstable_by_key(|(key, _)| *key);
    charged
}

/// The longest wait at `now` over the keys, each under its own policy; `rows` are the stored
/// rows of those keys (keys without a row have no failures).
pub fn longest_wait(
    keys: &LoginKeys,
    rows: Vec<ThrottleRow>,
    now: Timestamp,
) -> Result<Option<i64>, CorruptThrottle> {
    let mut longest = None;
    for row in rows {
        let Some(policy) = keys
            .with_policies()
            .into_iter()
            .find_map(|(key, policy)| (key == row.key).then_some(policy))
        else {
            continue;
        };
        let state = row.into_state()?;
        longest = longest.max(policy.retry_after_secs(Some(&state), now));
    }
    Ok(longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked_row(
        key: &str,
        policy: ThrottlePolicy,
        failures: u32,
        now: Timestamp,
    ) -> ThrottleRow {
        let mut state = None;
        for _ in 0..failures {
            state = Some(policy.record_failure(state.as_ref(), now));
        }
        ThrottleRow::new(key, &state.unwrap())
    }

    #[test]
    fn the_longest_wait_over_the_keys_wins() {
        let keys = LoginKeys::new("a@x.io", "10.0.0.1");
        let now = Timestamp::now();
        let rows = vec![
            blocked_row(&keys.email_and_ip, ThrottlePolicy::EMAIL_AND_IP, 7, now),
            blocked_row(&keys.ip, ThrottlePolicy::IP, 24, now),
            blocked_row("ip:someone-else", ThrottlePolicy::IP, 40, now),
        ];
        assert_eq!(longest_wait(&keys, rows, now), Ok(Some(8)));
        assert_eq!(longest_wait(&keys, Vec::new(), now), Ok(None));
    }

    #[test]
    fn rows_round_trip_and_negative_counts_are_corrupt() {
        let now = Timestamp::now();
        let row = blocked_row("ip:1", ThrottlePolicy::IP, 3, now);
        assert_eq!(row.clone().into_state().unwrap().failures, 3);
        let corrupt = ThrottleRow {
            failures: -1,
            ..row
        };
        assert!(corrupt.into_state().is_err());
    }

    #[test]
    fn keys_are_locked_in_one_order() {
        let keys = LoginKeys::new("a@x.io", "10.0.0.1");
        let order: Vec<&str> = lock_order(&keys).iter().map(|(key, _)| *key).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted);
    }
}
