//! `coffre serve`: migrate, bind, serve until SIGTERM or SIGINT, then drain and close.

use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use coffre_api::delivery::{Deliverer, DeliverySettings};
use coffre_api::{ApiSettings, AppState, ConnectionLimits, MAX_CONNECTIONS, RedisUrl};
use coffre_domain::time::Timestamp;
use coffre_store::idempotency::RETENTION;
use coffre_store::{
    EVENT_RETENTION, ExpiryPage, PURGE_BATCH_ROWS, PageLimit, Store, StoreError, expire_due_holds,
};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use super::{CommandError, open_migrated_store};
use crate::checkpoint;
use crate::config::Settings;
use crate::{descriptors, secret};

/// How long closing the pool may take after the last request drained.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

pub async fn run(mut settings: Settings) -> Result<ExitCode, CommandError> {
    // Before the database: a missing secret is a setting to fix, not a reason to touch data.
    let jwt_secret = secret::resolve(
        settings.jwt_secret.take(),
        &settings.database,
        &settings.data_dir,
    )?;
    let checkpoints = checkpoint::Writer::open(
        checkpoint::resolve_key(settings.checkpoint_key.take(), &settings.data_dir)?,
        settings.checkpoint_file.clone(),
    )?;
    let store = open_migrated_store(&settings).await?;
    let (listener, addr) = match bind(settings.listen).await {
        Ok(bound) => bound,
        Err(error) => {
            store.close().await;
            return Err(error);
        }
    };
    let metrics_listener = match settings.metrics_listen {
        Some(metrics_addr) => match bind(metrics_addr).await {
            Ok(bound) => Some(bound),
            Err(error) => {
                store.close().await;
                return Err(error);
            }
        },
        None => None,
    };
    let trusted_proxies = settings
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    tracing::info!(
        database = settings.database.backend_name(),
        rate_limit_auth = %settings.rate_limit_auth,
        rate_limit_api = %settings.rate_limit_api,
        trusted_proxies,
        redis = settings.redis_url.is_some(),
        "settings"
    );
    tracing::info!(
        public_key = %checkpoints.public_key_hex(),
        file = %checkpoints.path().display(),
        "audit checkpoints are signed with this Ed25519 public key"
    );
    match &metrics_listener {
        Some((_, metrics_addr)) => tracing::info!("metrics served on {metrics_addr}"),
        None => tracing::info!("metrics are off"),
    }
    let shutdown = shutdown_signal();
    // Last of the start-up lines: scripts and tests wait for it.
    tracing::info!("listening on {addr}");

    let state = match AppState::new(
        store.clone(),
        ApiSettings {
            jwt_secret,
            access_token_ttl_secs: settings.access_token_ttl_secs,
            authorization_ttl_secs: settings.authorization_ttl_secs,
            trusted_proxies: settings.trusted_proxies.clone(),
            rate_limit_auth: settings.rate_limit_auth.quota(),
            rate_limit_api: settings.rate_limit_api.quota(),
            redis_url: settings
                .redis_url
                .as_ref()
                .map(|url| RedisUrl(url.as_str().to_owned())),
            webhook_allow_insecure: settings.webhook_allow_insecure,
        },
    ) {
        Ok(state) => state,
        Err(error) => {
            store.close().await;
            return Err(CommandError::State(error));
        }
    };
    let deliverer = match Deliverer::new(
        store.clone(),
        DeliverySettings {
            allow_private: settings.webhook_allow_private,
            retry_schedule: settings.webhook_retry_schedule.clone(),
        },
    ) {
        Ok(deliverer) => deliverer,
        Err(error) => {
            store.close().await;
            return Err(CommandError::Deliveries(error));
        }
    };
    let purge = tokio::spawn(purge_idempotency_keys(store.clone()));
    let purge_logins = tokio::spawn(purge_expired_logins(store.clone()));
    let purge_events = tokio::spawn(purge_old_events(store.clone()));
    let sweep = tokio::spawn(expire_holds(store.clone()));
    let evict = tokio::spawn(evict_idle_rate_limit_keys(state.clone()));
    let checkpointing = tokio::spawn(write_checkpoints(store.clone(), checkpoints.clone()));
    let delivering = tokio::spawn(deliverer.run());
    let metrics = metrics_listener.map(|(listener, _)| {
        tokio::spawn(coffre_api::serve_router(
            listener,
            coffre_api::metrics_router(state.clone()),
            std::future::pending(),
            ConnectionLimits::with_max_connections(METRICS_CONNECTIONS),
        ))
    });
    let served = coffre_api::serve_router(
        listener,
        coffre_api::router(state),
        shutdown,
        connection_limits(settings.db_max_connections),
    )
    .await;
    purge.abort();
    purge_logins.abort();
    purge_events.abort();
    sweep.abort();
    evict.abort();
    checkpointing.abort();
    delivering.abort();
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    // The last word on the chain as this process leaves it, after every request drained.
    checkpoint_once(store.as_ref(), &checkpoints).await;
    if tokio::time::timeout(CLOSE_LIMIT, store.close())
        .await
        .is_err()
    {
        tracing::warn!(
            limit_secs = CLOSE_LIMIT.as_secs(),
            "the database pool did not close in time"
        );
    }
    served.map_err(CommandError::Serve)?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Connections the metrics listener keeps open at once: its clients are a few scrapers.
const METRICS_CONNECTIONS: usize = 16;

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), CommandError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| CommandError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| CommandError::Bind { addr, source })?;
    Ok((listener, local))
}

/// [`MAX_CONNECTIONS`], or fewer when the descriptor limit cannot hold as many.
fn connection_limits(db_connections: u32) -> ConnectionLimits {
    let budget = descriptors::connection_budget(db_connections);
    let max_connections = usize::try_from(budget)
        .unwrap_or(usize::MAX)
        .min(MAX_CONNECTIONS);
    if max_connections < MAX_CONNECTIONS {
        tracing::warn!(
            max_connections,
            "the open-file limit caps client connections below {MAX_CONNECTIONS}"
        );
    }
    ConnectionLimits::with_max_connections(max_connections)
}

/// How often expired idempotency records are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Deletes idempotency records past their retention, at start and then every hour. A failure
/// is logged and tried again next time: records kept longer than promised harm no one.
async fn purge_idempotency_keys(store: Arc<dyn Store>) {
    let mut ticks = tokio::time::interval(PURGE_EVERY);
    loop {
        ticks.tick().await;
        let now = Timestamp::now().as_datetime();
        let Some(cutoff) = now.checked_sub_signed(RETENTION) else {
            continue;
        };
        match store
            .purge_idempotency_keys(Timestamp::from_datetime(cutoff))
            .await
        {
            Ok(deleted) => tracing::debug!(deleted, "purged expired idempotency keys"),
            Err(error) => tracing::warn!(%error, "could not purge expired idempotency keys"),
        }
    }
}

/// The most batches (of `PURGE_BATCH_ROWS` rows of each kind) one purge of expired logins
/// deletes; what is left waits for the next hour.
const PURGE_MAX_BATCHES: u32 = 100;

/// Deletes expired sessions (with their refresh tokens) and forgotten login-throttle rows, at
/// start and then every hour, in bounded batches, each its own short transaction.
async fn purge_expired_logins(store: Arc<dyn Store>) {
    let mut ticks = tokio::time::interval(PURGE_EVERY);
    loop {
        ticks.tick().await;
        for _ in 0..PURGE_MAX_BATCHES {
            match store.purge_expired_logins(Timestamp::now()).await {
                Ok(purged) => {
                    tracing::debug!(
                        sessions = purged.sessions,
                        refresh_tokens = purged.refresh_tokens,
                        login_throttle = purged.login_throttle,
                        "purged expired logins"
                    );
                    if !purged.maybe_more() {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "could not purge expired logins");
                    break;
                }
            }
        }
    }
}

/// Deletes events older than their retention (API.md "Events": kept at least 30 days), at
/// start and then every hour, in bounded batches, each its own short transaction.
async fn purge_old_events(store: Arc<dyn Store>) {
    let mut ticks = tokio::time::interval(PURGE_EVERY);
    loop {
        ticks.tick().await;
        let Some(cutoff) = Timestamp::now()
            .as_datetime()
            .checked_sub_signed(EVENT_RETENTION)
        else {
            continue;
        };
        for _ in 0..PURGE_MAX_BATCHES {
            match store.purge_events(Timestamp::from_datetime(cutoff)).await {
                Ok(deleted) => {
                    tracing::debug!(deleted, "purged old events");
                    if deleted < u64::from(PURGE_BATCH_ROWS) {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "could not purge old events");
                    break;
                }
            }
        }
    }
}

/// How often holds (payments' authorizations among them) past their deadline are expired. A
/// post, void, capture or cancel that comes first expires the hold itself; the sweep returns
/// the held funds of the others.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// The most pages (of `PageLimit::MAX` holds) one sweep expires before it waits for the
/// next: a backlog drains over several sweeps instead of holding the engine in one.
const SWEEP_MAX_PAGES: u32 = 20;

/// The longest pause after sweeps that keep failing: the pause doubles from `SWEEP_EVERY` up
/// to this, and is back to `SWEEP_EVERY` after the first sweep that goes well.
const SWEEP_MAX_PAUSE: Duration = Duration::from_secs(300);

async fn expire_holds(store: Arc<dyn Store>) {
    let mut pause = SWEEP_EVERY;
    loop {
        tokio::time::sleep(pause).await;
        let end = sweep(|| {
            expire_due_holds(
                store.as_ref(),
                coffre_api::event_renderer(),
                Timestamp::now(),
            )
        })
        .await;
        pause = match end {
            SweepEnd::Drained | SweepEnd::PageBound => SWEEP_EVERY,
            SweepEnd::Stuck | SweepEnd::Failed => pause.saturating_mul(2).min(SWEEP_MAX_PAUSE),
        };
    }
}

/// How one sweep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SweepEnd {
    /// Nothing due is left.
    Drained,
    /// `SWEEP_MAX_PAGES` pages expired, and more may be due.
    PageBound,
    /// A page expired fewer than it looked at: the ones left would head the next page again.
    Stuck,
    /// The database failed.
    Failed,
}

/// Asks for pages of the sweep (see `expire_due_holds`) until nothing is due, a page
/// does not expire all it looked at, a page fails, or `SWEEP_MAX_PAGES` pages ran.
async fn sweep<F, Fut>(mut page: F) -> SweepEnd
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<ExpiryPage, StoreError>>,
{
    for _ in 0..SWEEP_MAX_PAGES {
        match page().await {
            Ok(page) if page.expired < page.looked_at => {
                tracing::warn!(
                    looked_at = page.looked_at,
                    expired = page.expired,
                    "some due holds could not be expired; pausing the sweep"
                );
                return SweepEnd::Stuck;
            }
            Ok(page) if page.looked_at < usize::from(PageLimit::MAX) => return SweepEnd::Drained,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "could not expire due holds; pausing the sweep");
                return SweepEnd::Failed;
            }
        }
    }
    SweepEnd::PageBound
}

/// How often `serve` signs and appends an audit checkpoint (and once more at shutdown).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

/// Checkpoints the chain head at start and then every minute.
async fn write_checkpoints(store: Arc<dyn Store>, writer: checkpoint::Writer) {
    let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
    loop {
        ticks.tick().await;
        checkpoint_once(store.as_ref(), &writer).await;
    }
}

/// A checkpoint that cannot be written is logged and tried again at the next one: the chain
/// itself is unharmed, and the gap shows in the file.
async fn checkpoint_once(store: &dyn Store, writer: &checkpoint::Writer) {
    if let Err(error) = writer.checkpoint(store).await {
        tracing::warn!(%error, "could not write an audit checkpoint");
    }
}

/// How often rate-limit keys with a full budget are forgotten.
const EVICT_EVERY: Duration = Duration::from_secs(60);

async fn evict_idle_rate_limit_keys(state: AppState) {
    let mut ticks = tokio::time::interval(EVICT_EVERY);
    loop {
        ticks.tick().await;
        let kept = state.rate_limits().evict_idle();
        tracing::debug!(kept, "evicted idle rate-limit keys");
    }
}

/// Resolves on the first SIGTERM or SIGINT.
/// Registers for SIGTERM and SIGINT at once, and returns a future that completes on either.
/// Registered before the server says it listens: a signal sent as soon as the first request is
/// answered must start the drain, not find no handler and kill the process (which it did under
/// load, when the accept loop had not yet polled a lazily registering future).
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let watch = |kind: SignalKind, name: &'static str| match signal(kind) {
        Ok(stream) => Some(stream),
        Err(error) => {
            tracing::warn!(%error, "cannot watch {name}");
            None
        }
    };
    let mut terminate = watch(SignalKind::terminate(), "SIGTERM");
    let mut interrupt = watch(SignalKind::interrupt(), "SIGINT");
    async move {
        let received = async |stream: &mut Option<tokio::signal::unix::Signal>| match stream {
            Some(stream) => {
                stream.recv().await;
            }
            None => std::future::pending().await,
        };
        tokio::select! {
            () = received(&mut terminate) => {}
            () = received(&mut interrupt) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// Runs `sweep` over pages that each answer `answer`; returns how it ended and how many
    /// pages it asked for.
    async fn sweep_over(answer: fn() -> Result<ExpiryPage, StoreError>) -> (SweepEnd, u32) {
        let asked = AtomicU32::new(0);
        let end = sweep(|| {
            asked.fetch_add(1, Ordering::SeqCst);
            std::future::ready(answer())
        })
        .await;
        (end, asked.load(Ordering::SeqCst))
    }

    fn full() -> usize {
        usize::from(PageLimit::MAX)
    }

    #[tokio::test]
    async fn a_page_that_keeps_failing_stops_the_sweep_at_once() {
        let stuck = || {
            Ok(ExpiryPage {
                looked_at: full(),
                expired: 0,
            })
        };
        assert_eq!(sweep_over(stuck).await, (SweepEnd::Stuck, 1));
        let failing = || Err(StoreError::Unavailable("down".into()));
        assert_eq!(sweep_over(failing).await, (SweepEnd::Failed, 1));
    }

    #[tokio::test]
    async fn a_backlog_drains_in_bounded_sweeps() {
        let whole = || {
            Ok(ExpiryPage {
                looked_at: full(),
                expired: full(),
            })
        };
        assert_eq!(
            sweep_over(whole).await,
            (SweepEnd::PageBound, SWEEP_MAX_PAGES)
        );
        let last = || {
            Ok(ExpiryPage {
                looked_at: 3,
                expired: 3,
            })
        };
        assert_eq!(sweep_over(last).await, (SweepEnd::Drained, 1));
    }
}
