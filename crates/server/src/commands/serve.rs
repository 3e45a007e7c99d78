//! `coffre serve`: migrate, bind, serve until SIGTERM or SIGINT, then drain and close.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use coffre_api::{ApiSettings, AppState, RedisUrl};
use coffre_domain::time::Timestamp;
use coffre_store::idempotency::RETENTION;
use coffre_store::{PageLimit, Store, expire_due_authorizations};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

use super::{CommandError, open_migrated_store};
use crate::config::Settings;
use crate::secret;

/// How long closing the pool may take after the last request drained.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

pub async fn run(mut settings: Settings) -> Result<ExitCode, CommandError> {
    // Before the database: a missing secret is a setting to fix, not a reason to touch data.
    let jwt_secret = secret::resolve(
        settings.jwt_secret.take(),
        &settings.database,
        &settings.data_dir,
    )?;
    let store = open_migrated_store(&settings).await?;
    let bind_error = |source| CommandError::Bind {
        addr: settings.listen,
        source,
    };
    let bound = match TcpListener::bind(settings.listen).await {
        Ok(listener) => listener.local_addr().map(|addr| (listener, addr)),
        Err(error) => Err(error),
    };
    let (listener, addr) = match bound {
        Ok(bound) => bound,
        Err(error) => {
            store.close().await;
            return Err(bind_error(error));
        }
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
        },
    ) {
        Ok(state) => state,
        Err(error) => {
            store.close().await;
            return Err(CommandError::State(error));
        }
    };
    let purge = tokio::spawn(purge_idempotency_keys(store.clone()));
    let sweep = tokio::spawn(expire_authorizations(store.clone()));
    let evict = tokio::spawn(evict_idle_rate_limit_keys(state.clone()));
    let served = coffre_api::serve(listener, state, shutdown_signal()).await;
    purge.abort();
    sweep.abort();
    evict.abort();
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

/// How often authorizations past their deadline are expired. A capture or cancel that comes
/// first expires the payment itself; the sweep returns the held funds of the others.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

async fn expire_authorizations(store: Arc<dyn Store>) {
    let mut ticks = tokio::time::interval(SWEEP_EVERY);
    loop {
        ticks.tick().await;
        loop {
            match expire_due_authorizations(store.as_ref(), Timestamp::now()).await {
                Ok(count) if count < usize::from(PageLimit::MAX) => break,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "could not expire due authorizations");
                    break;
                }
            }
        }
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
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM; stopping on SIGINT only");
            let _ = interrupt.await;
        }
    }
}
