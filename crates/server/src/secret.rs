//! The JWT signing key: from `COFFRE_JWT_SECRET`, or, for the embedded SQLite setup only,
//! generated once into the data directory so `cargo run` needs no settings.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use coffre_api::JwtSecret;
use rand::TryRng;
use rand::rngs::SysRng;

use crate::config::Database;
use crate::data_dir::{self, DataDirError};

/// The generated key's file, inside the data directory.
pub const SECRET_FILE: &str = "jwt-secret";
const GENERATED_SECRET_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "COFFRE_JWT_SECRET is required with PostgreSQL: set it to at least {} random bytes",
        JwtSecret::MIN_LEN_BYTES
    )]
    MissingForPostgres,
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("the generated JWT secret {path} is unusable: {reason}")]
    BadFile { path: PathBuf, reason: &'static str },
    #[error("cannot keep a generated JWT secret in {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
}

/// The key to sign with: the one configured, else, with SQLite, the one in the data directory
/// (generated on first use).
pub fn resolve(
    configured: Option<JwtSecret>,
    database: &Database,
    data_dir: &Path,
) -> Result<JwtSecret, SecretError> {
    match (configured, database) {
        (Some(secret), _) => Ok(secret),
        // Several instances share a PostgreSQL database, and each would generate its own key:
        // tokens signed by one would be refused by the others.
        (None, Database::Postgres(_)) => Err(SecretError::MissingForPostgres),
        (None, Database::Sqlite(_)) => load_or_generate(data_dir),
    }
}

fn load_or_generate(dir: &Path) -> Result<JwtSecret, SecretError> {
    data_dir::ensure(dir)?;
    let path = dir.join(SECRET_FILE);
    // create_new with the mode set at creation: the key is never readable by others, not even
    // for an instant, and two processes starting at once cannot both write one; the loser
    // reads the winner's.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(file) => {
            let secret = generate_into(file, &path).inspect_err(|_| {
                // An empty or partial file would make every later start refuse.
                let _ = fs::remove_file(&path);
            })?;
            tracing::warn!(
                path = %path.display(),
                "COFFRE_JWT_SECRET is not set: generated a JWT signing secret into the data \
                 directory; set COFFRE_JWT_SECRET to manage it yourself"
            );
            Ok(secret)
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => read_existing(&path),
        Err(source) => Err(SecretError::Io { path, source }),
    }
}

/// The file holds the key hex-encoded, and the key is those hex characters, the same bytes
/// `COFFRE_JWT_SECRET` would give if the file's content were copied into it.
fn generate_into(mut file: File, path: &Path) -> Result<JwtSecret, SecretError> {
    let io_error = |source| SecretError::Io {
        path: path.to_owned(),
        source,
    };
    let mut random = [0_u8; GENERATED_SECRET_BYTES];
    SysRng
        .try_fill_bytes(&mut random)
        .map_err(|error| SecretError::Random(error.to_string()))?;
    let encoded = hex::encode(random);
    file.write_all(encoded.as_bytes()).map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    JwtSecret::new(encoded.into_bytes()).map_err(|_| SecretError::BadFile {
        path: path.to_owned(),
        reason: "it is shorter than 32 bytes",
    })
}

fn read_existing(path: &Path) -> Result<JwtSecret, SecretError> {
    let text = read_private_file(path).map_err(|error| match error {
        PrivateFileError::Io(source) => SecretError::Io {
            path: path.to_owned(),
            source,
        },
        PrivateFileError::Refused(reason) => SecretError::BadFile {
            path: path.to_owned(),
            reason,
        },
    })?;
    // An editor may have added a final newline; it is not part of the key.
    let key = text.trim_ascii().to_vec();
    JwtSecret::new(key).map_err(|_| SecretError::BadFile {
        path: path.to_owned(),
        reason: "it is shorter than 32 bytes",
    })
}

/// Why a file that holds a key cannot be read.
#[derive(Debug)]
pub(crate) enum PrivateFileError {
    Io(io::Error),
    /// Not a file only its owner may read; the reason is a sentence for the operator.
    Refused(&'static str),
}

/// Reads a file that holds a key (the JWT secret, the checkpoint signing key): it must be a
/// regular file that no one but its owner may read.
pub(crate) fn read_private_file(path: &Path) -> Result<Vec<u8>, PrivateFileError> {
    let mut file = File::open(path).map_err(PrivateFileError::Io)?;
    let metadata = file.metadata().map_err(PrivateFileError::Io)?;
    if !metadata.is_file() {
        return Err(PrivateFileError::Refused("it is not a regular file"));
    }
    if metadata.permissions().mode() & 0o077 != 0 {
        return Err(PrivateFileError::Refused(
            "its permissions let others read it; make it mode 0600",
        ));
    }
    let mut text = Vec::new();
    file.read_to_end(&mut text).map_err(PrivateFileError::Io)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConnectionUrl, Database};
    use std::fs;

    fn sqlite() -> Database {
        Database::Sqlite(ConnectionUrl::for_tests("sqlite://x.db"))
    }

    #[test]
    fn a_generated_secret_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        let first = resolve(None, &sqlite(), &data_dir).unwrap();
        assert_eq!(first.as_bytes().len(), 64);
        let file = data_dir.join(SECRET_FILE);
        assert_eq!(fs::read(&file).unwrap(), first.as_bytes());
        let mode = fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = fs::metadata(&data_dir).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let again = resolve(None, &sqlite(), &data_dir).unwrap();
        assert_eq!(again.as_bytes(), first.as_bytes());
    }

    #[test]
    fn an_edited_secret_file_keeps_working_without_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRET_FILE);
        fs::write(&path, format!("{}\n", "k".repeat(40))).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let secret = resolve(None, &sqlite(), dir.path()).unwrap();
        assert_eq!(secret.as_bytes(), "k".repeat(40).as_bytes());
    }

    #[test]
    fn a_readable_or_short_secret_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRET_FILE);
        fs::write(&path, "a".repeat(64)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            resolve(None, &sqlite(), dir.path()),
            Err(SecretError::BadFile { .. })
        ));
        fs::write(&path, "short\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let error = resolve(None, &sqlite(), dir.path()).unwrap_err();
        assert!(matches!(error, SecretError::BadFile { .. }), "{error}");
        assert!(!error.to_string().contains("short\n"), "{error}");
    }

    #[test]
    fn postgres_needs_a_configured_secret() {
        let dir = tempfile::tempdir().unwrap();
        let postgres = Database::Postgres("postgres://h/db".parse().unwrap());
        assert!(matches!(
            resolve(None, &postgres, dir.path()),
            Err(SecretError::MissingForPostgres)
        ));
        let configured = JwtSecret::new(vec![7; 32]).unwrap();
        assert_eq!(
            resolve(Some(configured), &postgres, dir.path())
                .unwrap()
                .as_bytes(),
            &[7; 32]
        );
        assert!(
            fs::read_dir(dir.path()).unwrap().next().is_none(),
            "nothing is written for PostgreSQL"
        );
    }
}
