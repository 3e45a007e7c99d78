//! Finding the writable primary among the URL's hosts, and following it when it moves.
//!
//! The pool opens every connection to one host, the current primary. With
//! `target_session_attrs=read-write` each new connection is checked writable (a standby, or a
//! server set read-only, is refused, and the pool opens another). With several hosts a watch
//! runs beside the pool for its lifetime: a connection of its own asks the primary every
//! [`WATCH_INTERVAL`] whether it is still writable; when it breaks or is not, the watch tries
//! the hosts in order until one is writable (a standby is promoted), then points the pool's new
//! connections at it and retires the idle ones opened before. Connections the failover broke
//! fail their request `Unavailable` and are discarded; a client's retry with the same key meets
//! the new primary.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use tokio::sync::Notify;

use crate::target::{PgTarget, TargetSession};

/// How long one host may take to accept a connection and say whether it is writable: a live
/// server on the network answers in milliseconds; one that is gone may never answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the watch asks the primary whether it still is one, and waits between two rounds
/// of the hosts while none is writable: a failover is noticed within about this.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// A host refused for not being writable.
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL host {host} is read-only (a standby?); target_session_attrs=read-write")]
pub struct ReadOnlyHost {
    host: String,
}

#[cfg(test)]
impl ReadOnlyHost {
    pub(crate) fn for_tests(host: &str) -> Self {
        Self {
            host: host.to_owned(),
        }
    }
}

/// The hosts the pool may connect to, and which of them it does now.
pub(crate) struct Hosts {
    names: Vec<String>,
    /// Each host's options, without the pool's session settings (the migrator's).
    options: Vec<PgConnectOptions>,
    /// The pooled sessions' settings, added to a host's options.
    session_settings: &'static [(&'static str, &'static str)],
    session: TargetSession,
    current: AtomicUsize,
    /// When the pool last moved to another host: idle connections older than this lead to the
    /// host it left.
    moved_at: Mutex<Option<Instant>>,
    /// Woken when a new connection found its host read-only, so the watch looks at once.
    read_only_seen: Notify,
}

impl fmt::Debug for Hosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hosts")
            .field("names", &self.names)
            .field("session", &self.session)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl Hosts {
    pub(crate) fn new(
        target: &PgTarget,
        application_name: &str,
        session_settings: &'static [(&'static str, &'static str)],
    ) -> Result<Self, sqlx::Error> {
        let options = target
            .options()?
            .into_iter()
            .map(|options| options.application_name(application_name))
            .collect();
        Ok(Self {
            names: target.hosts().to_vec(),
            options,
            session_settings,
            session: target.session(),
            current: AtomicUsize::new(0),
            moved_at: Mutex::new(None),
            read_only_seen: Notify::new(),
        })
    }

    fn name(&self, index: usize) -> &str {
        self.names.get(index).map_or("?", String::as_str)
    }

    fn current(&self) -> usize {
        self.current.load(Ordering::SeqCst)
    }

    /// The current host's options without the session settings, for migrations.
    pub(crate) fn migration_options(&self) -> Result<PgConnectOptions, sqlx::Error> {
        self.options
            .get(self.current())
            .cloned()
            .ok_or_else(|| sqlx::Error::Configuration("no PostgreSQL host".into()))
    }

    fn pool_options(&self, index: usize) -> Option<PgConnectOptions> {
        let options = self.options.get(index)?.clone();
        Some(options.options(self.session_settings.iter().copied()))
    }

    /// Whether the pool follows a primary among several hosts.
    fn watched(&self) -> bool {
        self.names.len() > 1
    }

    /// Whether an idle connection of this age was opened before the pool last moved.
    fn predates_move(&self, age: Duration) -> bool {
        let moved_at = *self.moved_at.lock().unwrap_or_else(PoisonError::into_inner);
        moved_at.is_some_and(|moved_at| age > moved_at.elapsed())
    }

    fn move_to(&self, pool: &PgPool, index: usize) {
        let Some(options) = self.pool_options(index) else {
            return;
        };
        pool.set_connect_options(options);
        *self.moved_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        let from = self.current.swap(index, Ordering::SeqCst);
        tracing::warn!(
            from = self.name(from),
            to = self.name(index),
            "the PostgreSQL primary moved; new connections go to it"
        );
    }

    /// Tries each host in order; the first that accepts a connection (and, for
    /// [`TargetSession::ReadWrite`], is writable) is returned with that connection.
    async fn first_usable(&self) -> Result<(usize, PgConnection), sqlx::Error> {
        let mut last_error = sqlx::Error::Configuration("no PostgreSQL host".into());
        for index in 0..self.options.len() {
            let Some(options) = self.pool_options(index) else {
                continue;
            };
            let probe = async {
                let mut connection = options.connect().await?;
                self.check(&mut connection, index).await?;
                Ok::<_, sqlx::Error>(connection)
            };
            match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                Ok(Ok(connection)) => return Ok((index, connection)),
                Ok(Err(error)) => last_error = error,
                Err(_) => last_error = sqlx::Error::PoolTimedOut,
            }
        }
        Err(last_error)
    }

    /// Refuses a connection to a read-only host when the target asks for a writable one.
    async fn check(&self, connection: &mut PgConnection, index: usize) -> Result<(), sqlx::Error> {
        if self.session == TargetSession::Any || writable(connection).await? {
            return Ok(());
        }
        Err(sqlx::Error::Configuration(Box::new(ReadOnlyHost {
            host: self.name(index).to_owned(),
        })))
    }
}

async fn writable(connection: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let read_only: String = sqlx::query_scalar("SHOW transaction_read_only")
        .fetch_one(connection)
        .await?;
    Ok(read_only == "off")
}

/// Opens the pool on the first usable host, waiting at most `deadline` for one (a primary may
/// be starting, or a standby being promoted), and starts the watch when there are several.
pub(crate) async fn open_pool(
    hosts: Arc<Hosts>,
    pool_options: PgPoolOptions,
    deadline: Duration,
) -> Result<PgPool, sqlx::Error> {
    let Some(single) = hosts.pool_options(0) else {
        return Err(sqlx::Error::Configuration("no PostgreSQL host".into()));
    };
    let mut pool_options = pool_options;
    if hosts.session == TargetSession::ReadWrite {
        let checked = hosts.clone();
        pool_options = pool_options.after_connect(move |connection, _| {
            let hosts = checked.clone();
            Box::pin(async move {
                let checked = hosts.check(connection, hosts.current()).await;
                if checked.is_err() {
                    hosts.read_only_seen.notify_one();
                }
                checked
            })
        });
    }
    if !hosts.watched() {
        return pool_options.connect_with(single).await;
    }
    let retiring = hosts.clone();
    let pool_options = pool_options.before_acquire(move |_, metadata| {
        let fresh = !retiring.predates_move(metadata.age);
        Box::pin(async move { Ok(fresh) })
    });

    let started = Instant::now();
    let (index, watch_connection) = loop {
        match hosts.first_usable().await {
            Ok(found) => break found,
            Err(error) if started.elapsed() >= deadline => return Err(error),
            Err(_) => tokio::time::sleep(WATCH_INTERVAL).await,
        }
    };
    hosts.current.store(index, Ordering::SeqCst);
    let Some(options) = hosts.pool_options(index) else {
        return Err(sqlx::Error::Configuration("no PostgreSQL host".into()));
    };
    let pool = pool_options.connect_with(options).await?;
    tracing::info!(
        host = hosts.name(index),
        hosts = ?hosts.names,
        "PostgreSQL primary found; following it"
    );
    let watched = pool.clone();
    tokio::spawn(async move {
        // The watch lives as long as the pool: it ends when the pool closes.
        let mut closed = watched.close_event();
        let _ = closed
            .do_until(watch(watched.clone(), hosts, watch_connection))
            .await;
    });
    Ok(pool)
}

/// Follows the primary for as long as it runs (see the module's comment); its caller ends it
/// when the pool closes.
async fn watch(pool: PgPool, hosts: Arc<Hosts>, mut connection: PgConnection) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(WATCH_INTERVAL) => {}
            () = hosts.read_only_seen.notified() => {}
        }
        let current = hosts.current();
        let still = tokio::time::timeout(PROBE_TIMEOUT, hosts.check(&mut connection, current));
        if matches!(still.await, Ok(Ok(()))) {
            continue;
        }
        tracing::warn!(
            host = hosts.name(current),
            "the PostgreSQL primary is gone or read-only; looking for the new one"
        );
        connection = loop {
            match hosts.first_usable().await {
                Ok((index, found)) => {
                    if index != hosts.current() {
                        hosts.move_to(&pool, index);
                    }
                    break found;
                }
                Err(error) => {
                    tracing::debug!(%error, "no writable PostgreSQL host yet");
                    tokio::time::sleep(WATCH_INTERVAL).await;
                }
            }
        };
    }
}
