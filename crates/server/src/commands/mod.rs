//! One module per subcommand, and the store they all open.

use std::process::ExitCode;
use std::sync::Arc;

use coffre_store::{Store, StoreError};
use coffre_store_postgres::PgStore;
use coffre_store_sqlite::SqliteStore;

use crate::cli::USAGE_ERROR;
use crate::config::{Database, Settings};
use crate::data_dir::{self, DataDirError};
use crate::secret::SecretError;

pub mod admin;
pub mod audit;
pub mod migrate;
pub mod serve;
pub mod verify;

/// Why a command stopped; printed as one line.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("cannot open the database: {0}")]
    Connect(#[source] StoreError),
    #[error("cannot apply migrations: {0}")]
    Migrate(#[source] StoreError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up credentials: {0}")]
    State(#[source] coffre_api::StateError),
    #[error("cannot start webhook deliveries: {0}")]
    Deliveries(#[source] coffre_api::delivery::DeliveryStartError),
    #[error("the server stopped: {0}")]
    Serve(#[source] std::io::Error),
    #[error("verification could not run: {0}")]
    Verify(#[source] StoreError),
    #[error("invalid --email: {0}")]
    Email(#[source] coffre_domain::user::EmailError),
    #[error("invalid password on standard input: {0}")]
    Password(#[source] coffre_domain::user::PasswordError),
    #[error("cannot read the password from standard input: {0}")]
    ReadPassword(#[source] std::io::Error),
    #[error("cannot hash the password: {0}")]
    Hashing(#[source] coffre_api::auth::password::HashingError),
    #[error("cannot create the administrator: {0}")]
    AdminCreate(#[source] StoreError),
    #[error("cannot write the export to {target}: {source}")]
    Export {
        target: String,
        source: std::io::Error,
    },
    #[error("audit checkpoints: {0}")]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    #[error("invalid --checkpoint-public-key {value:?}: {reason}")]
    CheckpointPublicKey {
        value: String,
        reason: crate::checkpoint::BadKey,
    },
    #[error(transparent)]
    CheckpointFile(#[from] crate::checkpoint::VerifyError),
}

impl CommandError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            // A missing setting, found only once the command knows it needs it.
            Self::Secret(SecretError::MissingForPostgres)
            | Self::Email(_)
            | Self::Password(_)
            | Self::CheckpointPublicKey { .. } => ExitCode::from(USAGE_ERROR),
            _ => ExitCode::FAILURE,
        }
    }
}

/// Opens the configured backend; the embedded one gets its data directory first.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>, CommandError> {
    let store: Arc<dyn Store> = match &settings.database {
        Database::Sqlite(url) => {
            data_dir::ensure(&settings.data_dir)?;
            Arc::new(
                SqliteStore::connect(url.as_str())
                    .await
                    .map_err(CommandError::Connect)?,
            )
        }
        Database::Postgres(target) => Arc::new(
            PgStore::connect_to(target, settings.db_max_connections)
                .await
                .map_err(CommandError::Connect)?,
        ),
    };
    Ok(store)
}

/// Opens the store and applies pending migrations; on failure the pool is closed.
pub async fn open_migrated_store(settings: &Settings) -> Result<Arc<dyn Store>, CommandError> {
    let store = open_store(settings).await?;
    if let Err(error) = store.migrate().await {
        store.close().await;
        return Err(CommandError::Migrate(error));
    }
    Ok(store)
}
