//! Rate limits (API.md §1, DESIGN.md §5): GCRA per client IP on `/v1/auth/*`
//! (`COFFRE_RATE_LIMIT_AUTH`) and per user on the rest of `/v1` (`COFFRE_RATE_LIMIT_API`;
//! requests without a valid token count against their IP). Over the limit: 429 `RATE_LIMITED`
//! with `Retry-After`; every limited route answers `RateLimit-Limit`, `RateLimit-Remaining` and
//! `RateLimit-Reset`.
//!
//! In memory by default (`governor`, idle keys evicted by [`RateLimits::evict_idle`]); with
//! `REDIS_URL`, one budget shared by every instance through an atomic Lua GCRA on Redis's own
//! clock. If Redis fails, the local limiter takes over (logged once per outage) and Redis is
//! tried again a second later: a broken Redis never fails a request.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use http::{HeaderMap, HeaderName, HeaderValue};
use redis::aio::ConnectionManager;

use super::client_ip::ClientIp;
use crate::auth::caller::bearer_token;
use crate::error::ApiError;
use crate::state::AppState;

/// `N` requests per `period`: a burst of `N`, then one every `period / N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateQuota {
    pub count: NonZeroU32,
    pub period: Duration,
}

impl RateQuota {
    fn interval(&self) -> Duration {
        self.period
            .checked_div(self.count.get())
            .unwrap_or(self.period)
            .max(Duration::from_micros(1))
    }
}

/// Which budget a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Auth,
    Api,
}

impl Class {
    fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Api => "api",
        }
    }
}

/// What the limiter said about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed {
        limit: u32,
        remaining: u32,
        reset: Duration,
    },
    Limited {
        limit: u32,
        retry_after: Duration,
    },
}

type LocalLimiter =
    RateLimiter<String, DashMapStateStore<String>, DefaultClock, StateInformationMiddleware>;

struct Budget {
    quota: RateQuota,
    local: LocalLimiter,
}

/// Both budgets, local and (optionally) shared.
pub struct RateLimits {
    auth: Option<Budget>,
    api: Option<Budget>,
    clock: DefaultClock,
    redis: Option<SharedLimiter>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("auth", &self.auth.as_ref().map(|budget| budget.quota))
            .field("api", &self.api.as_ref().map(|budget| budget.quota))
            .field("shared", &self.redis.is_some())
            .finish()
    }
}

impl RateLimits {
    /// `None` turns a budget off. `redis` is a `redis://` URL; a malformed one was refused by
    /// the configuration already, and an unreachable one is retried at each use.
    pub fn new(auth: Option<RateQuota>, api: Option<RateQuota>, redis: Option<&str>) -> Self {
        let clock = DefaultClock::default();
        let budget = |quota: RateQuota| {
            let governor_quota = Quota::with_period(quota.interval())
                .map(|q| q.allow_burst(quota.count))
                .unwrap_or_else(|| Quota::per_second(quota.count));
            Budget {
                quota,
                local: RateLimiter::dashmap_with_clock(governor_quota, clock.clone())
                    .with_middleware::<StateInformationMiddleware>(),
            }
        };
        let redis = redis.and_then(|url| match redis::Client::open(url) {
            Ok(client) => Some(SharedLimiter::new(client)),
            Err(error) => {
                tracing::warn!(%error, "REDIS_URL is unusable; rate limits stay local");
                None
            }
        });
        Self {
            auth: auth.map(budget),
            api: api.map(budget),
            clock,
            redis,
        }
    }

    fn budget(&self, class: Class) -> Option<&Budget> {
        match class {
            Class::Auth => self.auth.as_ref(),
            Class::Api => self.api.as_ref(),
        }
    }

    async fn check(&self, class: Class, key: &str) -> Option<Verdict> {
        let budget = self.budget(class)?;
        if let Some(shared) = &self.redis
            && let Some(verdict) = shared.check(class, key, budget.quota).await
        {
            return Some(verdict);
        }
        Some(self.check_local(budget, key))
    }

    fn check_local(&self, budget: &Budget, key: &str) -> Verdict {
        let limit = budget.quota.count.get();
        match budget.local.check_key(&key.to_owned()) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = limit.saturating_sub(remaining);
                Verdict::Allowed {
                    limit,
                    remaining,
                    reset: budget.quota.interval().saturating_mul(used),
                }
            }
            Err(not_until) => Verdict::Limited {
                limit,
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
        }
    }

    /// Keys held in memory now.
    pub fn keys(&self) -> usize {
        [&self.auth, &self.api]
            .into_iter()
            .flatten()
            .map(|budget| budget.local.len())
            .sum()
    }

    /// Forgets keys whose budget is full again, so a flood of distinct keys (spoofed IPs,
    /// stolen tokens) cannot grow memory without bound. Returns the keys left.
    pub fn evict_idle(&self) -> usize {
        [&self.auth, &self.api]
            .into_iter()
            .flatten()
            .map(|budget| {
                budget.local.retain_recent();
                budget.local.shrink_to_fit();
                budget.local.len()
            })
            .sum()
    }
}

/// GCRA on Redis, on Redis's clock so instances with skewed clocks agree. State per key: the
/// theoretical arrival time (µs), expiring once the budget is full again.
const GCRA: &str = r"
local interval = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local window = interval * limit
if new_tat - now > window then
  return {0, 0, new_tat - window - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((window - (new_tat - now)) / interval), new_tat - now}
";

/// How long one Redis check may take before the local limiter answers instead.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failure, how long Redis is left alone.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(1);

struct SharedLimiter {
    client: redis::Client,
    script: redis::Script,
    connection: tokio::sync::Mutex<Option<ConnectionManager>>,
    resting_until: Mutex<Option<Instant>>,
    healthy: AtomicBool,
}

impl SharedLimiter {
    fn new(client: redis::Client) -> Self {
        Self {
            client,
            script: redis::Script::new(GCRA),
            connection: tokio::sync::Mutex::new(None),
            resting_until: Mutex::new(None),
            healthy: AtomicBool::new(true),
        }
    }

    /// `None` when Redis cannot answer now: the caller falls back to the local limiter.
    async fn check(&self, class: Class, key: &str, quota: RateQuota) -> Option<Verdict> {
        if self.resting() {
            return None;
        }
        let outcome = tokio::time::timeout(REDIS_TIMEOUT, self.run(class, key, quota)).await;
        match outcome {
            Ok(Ok(verdict)) => {
                if !self.healthy.swap(true, Ordering::Relaxed) {
                    tracing::info!("Redis answers again; rate limits are shared");
                }
                Some(verdict)
            }
            Ok(Err(error)) => self.failed(&error.to_string()).await,
            Err(_) => self.failed("timed out").await,
        }
    }

    async fn run(&self, class: Class, key: &str, quota: RateQuota) -> redis::RedisResult<Verdict> {
        let mut connection = {
            let mut slot = self.connection.lock().await;
            match slot.as_ref() {
                Some(connection) => connection.clone(),
                None => {
                    let connection = ConnectionManager::new(self.client.clone()).await?;
                    *slot = Some(connection.clone());
                    connection
                }
            }
        };
        let interval = u64::try_from(quota.interval().as_micros()).unwrap_or(u64::MAX);
        let (allowed, remaining, wait_us): (i64, i64, i64) = self
            .script
            .key(format!("coffre:ratelimit:{}:{key}", class.as_str()))
            .arg(interval)
            .arg(quota.count.get())
            .invoke_async(&mut connection)
            .await?;
        let limit = quota.count.get();
        let wait = Duration::from_micros(u64::try_from(wait_us).unwrap_or(0));
        Ok(if allowed == 1 {
            Verdict::Allowed {
                limit,
                remaining: u32::try_from(remaining).unwrap_or(0),
                reset: wait,
            }
        } else {
            Verdict::Limited {
                limit,
                retry_after: wait,
            }
        })
    }

    fn resting(&self) -> bool {
        match self.resting_until.lock() {
            Ok(until) => until.is_some_and(|until| Instant::now() < until),
            Err(_) => false,
        }
    }

    async fn failed(&self, error: &str) -> Option<Verdict> {
        if self.healthy.swap(false, Ordering::Relaxed) {
            tracing::warn!(
                error,
                "Redis rate limiting failed; limits are local until it answers"
            );
        }
        if let Ok(mut until) = self.resting_until.lock() {
            *until = Instant::now().checked_add(REDIS_RETRY_AFTER);
        }
        *self.connection.lock().await = None;
        None
    }
}

const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Whole seconds, rounded up: a client told 0 would retry at once.
fn ceil_secs(duration: Duration) -> u64 {
    let secs = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        secs.saturating_add(1)
    } else {
        secs
    }
}

fn set_headers(headers: &mut HeaderMap, limit: u32, remaining: u32, reset: Duration) {
    headers.insert(LIMIT, HeaderValue::from(limit));
    headers.insert(REMAINING, HeaderValue::from(remaining));
    headers.insert(RESET, HeaderValue::from(ceil_secs(reset)));
}

/// The budget and key of a request, if it is limited at all. A token whose signature holds
/// leaves its claims in the request, so the caller's extractor does not check it again.
fn classify(state: &AppState, request: &mut Request) -> Option<(Class, String)> {
    let path = request.uri().path();
    let ip = request
        .extensions()
        .get::<ClientIp>()
        .and_then(|ClientIp(ip)| *ip)
        .map_or_else(|| "unknown".to_owned(), |ip: IpAddr| ip.to_string());
    if path.starts_with("/v1/auth/") {
        return Some((Class::Auth, format!("ip:{ip}")));
    }
    if !path.starts_with("/v1/") {
        return None;
    }
    // The signature only (cheap, no database); the session is checked by the extractor.
    let claims = bearer_token(request.headers())
        .ok()
        .and_then(|token| state.tokens().check(token).ok());
    Some(match claims {
        Some(claims) => {
            request.extensions_mut().insert(claims);
            (Class::Api, format!("user:{}", claims.user_id))
        }
        None => (Class::Api, format!("ip:{ip}")),
    })
}

pub async fn rate_limit(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some((class, key)) = classify(&state, &mut request) else {
        return next.run(request).await;
    };
    match state.rate_limits().check(class, &key).await {
        None => next.run(request).await,
        Some(Verdict::Allowed {
            limit,
            remaining,
            reset,
        }) => {
            let mut response = next.run(request).await;
            set_headers(response.headers_mut(), limit, remaining, reset);
            response
        }
        Some(Verdict::Limited { limit, retry_after }) => {
            let retry_after_secs = ceil_secs(retry_after).max(1);
            let mut response = ApiError::RateLimited { retry_after_secs }.into_response();
            set_headers(response.headers_mut(), limit, 0, retry_after);
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(count: u32, secs: u64) -> RateQuota {
        RateQuota {
            count: NonZeroU32::new(count).unwrap(),
            period: Duration::from_secs(secs),
        }
    }

    #[test]
    fn a_budget_allows_its_burst_then_limits_and_counts_down() {
        let limits = RateLimits::new(Some(quota(3, 60)), None, None);
        let budget = limits.budget(Class::Auth).unwrap();
        let remaining: Vec<Verdict> = (0..4).map(|_| limits.check_local(budget, "ip:a")).collect();
        assert!(matches!(
            remaining[0],
            Verdict::Allowed {
                remaining: 2,
                limit: 3,
                ..
            }
        ));
        assert!(matches!(
            remaining[2],
            Verdict::Allowed { remaining: 0, .. }
        ));
        let Verdict::Limited { retry_after, .. } = remaining[3] else {
            panic!("{remaining:?}")
        };
        // One request comes back every 20 s.
        assert!(retry_after <= Duration::from_secs(20) && retry_after > Duration::from_secs(19));
        // Another key has its own budget.
        assert!(matches!(
            limits.check_local(budget, "ip:b"),
            Verdict::Allowed { remaining: 2, .. }
        ));
        assert!(limits.budget(Class::Api).is_none());
    }

    #[test]
    fn idle_keys_are_evicted() {
        let limits = RateLimits::new(
            Some(RateQuota {
                count: NonZeroU32::new(1).unwrap(),
                period: Duration::from_millis(1),
            }),
            None,
            None,
        );
        let budget = limits.budget(Class::Auth).unwrap();
        for n in 0..1_000 {
            limits.check_local(budget, &format!("ip:{n}"));
        }
        assert_eq!(budget.local.len(), 1_000);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(limits.evict_idle(), 0);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::from_millis(2_001)), 3);
    }
}
