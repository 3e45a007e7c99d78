//! Signed audit checkpoints: tamper evidence that does not stop at the database.
//!
//! `serve` signs the chain head (`seq`, `hash`) with an Ed25519 key kept outside the database
//! and appends it, as one JSON line, to a file the operator ships elsewhere. Someone who can
//! rewrite the database can delete the newest events and move the head back, or rewrite and
//! re-hash the whole chain so that it links again; neither can sign a checkpoint, nor change
//! the checkpoints already shipped. `coffre verify --checkpoints FILE` checks every line's
//! signature and that the chain still holds each checkpointed `(seq, hash)`.
//!
//! The key is a 32-byte Ed25519 seed, hex-encoded: `COFFRE_CHECKPOINT_KEY`, or generated once
//! into the data directory (mode 0600), like the JWT secret. Each line carries the public key
//! that signed it, so it can be checked anywhere; pin the key (the one `serve` logs at start)
//! with `--checkpoint-public-key` so a line signed by another key is refused.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use coffre_domain::audit::{ChainHash, ChainHead};
use coffre_domain::time::Timestamp;
use coffre_store::{Store, StoreError};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::TryRng;
use rand::rngs::SysRng;
use serde::{Deserialize, Serialize};

use crate::data_dir::{self, DataDirError};
use crate::secret::{PrivateFileError, read_private_file};

/// The generated key's file, inside the data directory.
pub const KEY_FILE: &str = "checkpoint-key";
/// The checkpoint file's name inside the data directory, when `--checkpoint-file` is not set.
pub const DEFAULT_FILE: &str = "checkpoints.jsonl";
const SEED_BYTES: usize = 32;
/// Prefixed to every signed message, so a checkpoint signature can never pass for a signature
/// of anything else made with the same key.
const SIGNED_PREFIX: &str = "coffre audit checkpoint v1";

/// The signing key. Its `Debug` shows the public key only.
#[derive(Clone)]
pub struct CheckpointKey(SigningKey);

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointKey(public {})", self.public_key_hex())
    }
}

/// Why a key (from the setting or the file) cannot be used; never shows the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected {} hex characters (a 32-byte Ed25519 seed)", SEED_BYTES * 2)]
pub struct BadKey;

impl CheckpointKey {
    /// A key from its hex-encoded seed; surrounding white space is ignored.
    pub fn from_hex(text: &[u8]) -> Result<Self, BadKey> {
        let mut seed = [0_u8; SEED_BYTES];
        hex::decode_to_slice(text.trim_ascii(), &mut seed).map_err(|_| BadKey)?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    pub fn public_key_hex(&self) -> String {
        hex::encode(self.verifying_key().to_bytes())
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }

    /// The checkpoint of `head` at `at`, signed.
    pub fn sign(&self, head: ChainHead, at: Timestamp) -> Checkpoint {
        let hash = head.hash.to_hex();
        let at = at.to_rfc3339();
        let signature = self.0.sign(&signed_message(head.seq, &hash, &at));
        Checkpoint {
            seq: head.seq,
            hash,
            at,
            public_key: self.public_key_hex(),
            signature: hex::encode(signature.to_bytes()),
        }
    }
}

/// The bytes a checkpoint's signature covers.
fn signed_message(seq: i64, hash: &str, at: &str) -> Vec<u8> {
    format!("{SIGNED_PREFIX}\nseq={seq}\nhash={hash}\nat={at}\n").into_bytes()
}

/// One line of the checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub seq: i64,
    /// The hex SHA-256 of the event at `seq`.
    pub hash: String,
    /// RFC 3339, when it was taken.
    pub at: String,
    /// Hex Ed25519 public key that signed it.
    pub public_key: String,
    /// Hex Ed25519 signature of the prefix, `seq`, `hash` and `at`.
    pub signature: String,
}

/// Why a checkpoint line does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("it is not a checkpoint")]
    Malformed,
    #[error("its public key is not an Ed25519 key")]
    BadPublicKey,
    #[error("its signature does not verify")]
    BadSignature,
    #[error("it is signed by a key that is not pinned")]
    UnpinnedKey,
}

impl Checkpoint {
    /// Checks the signature with the line's own public key, and returns that key.
    fn verify(&self) -> Result<VerifyingKey, LineError> {
        let mut public_key = [0_u8; 32];
        hex::decode_to_slice(&self.public_key, &mut public_key)
            .map_err(|_| LineError::BadPublicKey)?;
        let key = VerifyingKey::from_bytes(&public_key).map_err(|_| LineError::BadPublicKey)?;
        let mut signature = [0_u8; 64];
        hex::decode_to_slice(&self.signature, &mut signature)
            .map_err(|_| LineError::BadSignature)?;
        key.verify_strict(
            &signed_message(self.seq, &self.hash, &self.at),
            &Signature::from_bytes(&signature),
        )
        .map_err(|_| LineError::BadSignature)?;
        Ok(key)
    }

    fn chain_hash(&self) -> Option<ChainHash> {
        let mut hash = [0_u8; 32];
        hex::decode_to_slice(&self.hash, &mut hash).ok()?;
        Some(ChainHash(hash))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("the generated checkpoint key {path} is unusable: {reason}")]
    BadKeyFile { path: PathBuf, reason: String },
    #[error("cannot keep a generated checkpoint key in {path}: {source}")]
    KeyIo { path: PathBuf, source: io::Error },
    #[error("the operating system's random source failed: {0}")]
    Random(String),
    #[error("cannot write the checkpoint file {path}: {source}")]
    FileIo { path: PathBuf, source: io::Error },
    #[error("cannot read the chain head: {0}")]
    Store(#[source] StoreError),
}

/// The key to sign with: the configured one, else the one in the data directory (generated
/// on first use, with a warning).
pub fn resolve_key(
    configured: Option<CheckpointKey>,
    data_dir: &Path,
) -> Result<CheckpointKey, CheckpointError> {
    if let Some(key) = configured {
        return Ok(key);
    }
    data_dir::ensure(data_dir)?;
    let path = data_dir.join(KEY_FILE);
    let io_error = |source| CheckpointError::KeyIo {
        path: path.clone(),
        source,
    };
    // create_new with the mode set at creation, as for the JWT secret: never readable by
    // others, and of two processes starting at once the loser reads the winner's key.
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut file) => {
            let mut seed = [0_u8; SEED_BYTES];
            let written = SysRng
                .try_fill_bytes(&mut seed)
                .map_err(|error| CheckpointError::Random(error.to_string()))
                .and_then(|()| {
                    file.write_all(hex::encode(seed).as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(io_error)
                });
            if let Err(error) = written {
                // An empty or partial file would make every later start refuse.
                let _ = fs::remove_file(&path);
                return Err(error);
            }
            tracing::warn!(
                path = %path.display(),
                "COFFRE_CHECKPOINT_KEY is not set: generated an audit checkpoint signing key \
                 into the data directory; keep a copy of its public key elsewhere"
            );
            Ok(CheckpointKey(SigningKey::from_bytes(&seed)))
        }
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => read_key_file(&path),
        Err(source) => Err(io_error(source)),
    }
}

/// The key `verify` trusts without being told: the configured one, else the data directory's
/// if there is one (never generated).
pub fn local_key(
    configured: Option<CheckpointKey>,
    data_dir: &Path,
) -> Result<Option<CheckpointKey>, CheckpointError> {
    if configured.is_some() {
        return Ok(configured);
    }
    let path = data_dir.join(KEY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    read_key_file(&path).map(Some)
}

fn read_key_file(path: &Path) -> Result<CheckpointKey, CheckpointError> {
    let bad = |reason: &str| CheckpointError::BadKeyFile {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    let text = read_private_file(path).map_err(|error| match error {
        PrivateFileError::Io(source) => CheckpointError::KeyIo {
            path: path.to_owned(),
            source,
        },
        PrivateFileError::Refused(reason) => bad(reason),
    })?;
    CheckpointKey::from_hex(&text).map_err(|error| bad(&error.to_string()))
}

/// Signs the chain head and appends it to the checkpoint file; shared by the minute timer and
/// the shutdown.
#[derive(Debug, Clone)]
pub struct Writer {
    key: Arc<CheckpointKey>,
    path: Arc<PathBuf>,
    last: Arc<tokio::sync::Mutex<Option<ChainHead>>>,
}

impl Writer {
    /// Checks the file can be appended to (creating it), so a bad path stops `serve` at start.
    pub fn open(key: CheckpointKey, path: PathBuf) -> Result<Self, CheckpointError> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            fs::create_dir_all(parent).map_err(|source| CheckpointError::FileIo {
                path: path.clone(),
                source,
            })?;
        }
        append_file(&path).map_err(|source| CheckpointError::FileIo {
            path: path.clone(),
            source,
        })?;
        Ok(Self {
            key: Arc::new(key),
            path: Arc::new(path),
            last: Arc::new(tokio::sync::Mutex::new(None)),
        })
    }

    pub fn public_key_hex(&self) -> String {
        self.key.public_key_hex()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checkpoints the current head, unless the chain is empty or the head has not moved
    /// since this writer's last checkpoint. Returns what it wrote.
    pub async fn checkpoint(
        &self,
        store: &dyn Store,
    ) -> Result<Option<Checkpoint>, CheckpointError> {
        let mut last = self.last.lock().await;
        let head = store
            .audit_chain_head()
            .await
            .map_err(CheckpointError::Store)?;
        if head.seq == 0 || *last == Some(head) {
            return Ok(None);
        }
        let checkpoint = self.key.sign(head, Timestamp::now());
        let mut line =
            serde_json::to_string(&checkpoint).map_err(|error| CheckpointError::FileIo {
                path: self.path.to_path_buf(),
                source: io::Error::other(error),
            })?;
        line.push('\n');
        let path = Arc::clone(&self.path);
        let written = tokio::task::spawn_blocking(move || {
            let mut file = append_file(&path)?;
            file.write_all(line.as_bytes())?;
            file.sync_data()
        })
        .await
        .map_err(io::Error::other)
        .and_then(|written| written);
        written.map_err(|source| CheckpointError::FileIo {
            path: self.path.to_path_buf(),
            source,
        })?;
        *last = Some(head);
        tracing::info!(
            seq = checkpoint.seq,
            hash = %checkpoint.hash,
            at = %checkpoint.at,
            public_key = %checkpoint.public_key,
            signature = %checkpoint.signature,
            "audit checkpoint"
        );
        Ok(Some(checkpoint))
    }
}

fn append_file(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).create(true).open(path)
}

/// The verdict of `verify --checkpoints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Holds {
        checkpoints: usize,
        newest_seq: Option<i64>,
        /// The keys that signed them; `pinned` tells whether they were checked against
        /// trusted keys or only against themselves.
        keys: Vec<String>,
        pinned: bool,
    },
    BadLine {
        line: usize,
        error: LineError,
    },
    /// Two checkpoints name different hashes for one `seq`.
    Fork {
        seq: i64,
    },
    /// The chain no longer holds this checkpointed `(seq, hash)`.
    Missing {
        seq: i64,
    },
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Holds {
                checkpoints,
                newest_seq,
                keys,
                pinned,
            } => {
                write!(f, "ok ({checkpoints} checkpoints")?;
                if let Some(seq) = newest_seq {
                    write!(f, ", newest at seq {seq}")?;
                }
                if !keys.is_empty() {
                    let pinned = if *pinned { "pinned" } else { "not pinned" };
                    write!(f, ", signed by {} ({pinned})", keys.join(", "))?;
                }
                f.write_str(")")
            }
            Self::BadLine { line, error } => write!(f, "BROKEN (line {line}: {error})"),
            Self::Fork { seq } => write!(f, "BROKEN (two checkpoints disagree on seq {seq})"),
            Self::Missing { seq } => write!(
                f,
                "BROKEN (the chain no longer holds the checkpointed event at seq {seq})"
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read the checkpoint file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot read the audit chain: {0}")]
    Store(#[source] StoreError),
}

/// Checks every line of `path` (signed, and by a `trusted` key when any is given), then walks
/// the chain up to its head and checks it holds every checkpointed `(seq, hash)`.
pub async fn verify_file(
    store: &dyn Store,
    path: &Path,
    trusted: &[VerifyingKey],
) -> Result<Verdict, VerifyError> {
    let read_error = |source| VerifyError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read_error)?;
    let mut wanted: BTreeMap<i64, ChainHash> = BTreeMap::new();
    let mut keys: Vec<String> = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(read_error)?;
        let number = index.saturating_add(1);
        if line.trim().is_empty() {
            continue;
        }
        let bad = |error| Verdict::BadLine {
            line: number,
            error,
        };
        let Ok(checkpoint) = serde_json::from_str::<Checkpoint>(&line) else {
            return Ok(bad(LineError::Malformed));
        };
        let key = match checkpoint.verify() {
            Ok(key) => key,
            Err(error) => return Ok(bad(error)),
        };
        if !trusted.is_empty() && !trusted.contains(&key) {
            return Ok(bad(LineError::UnpinnedKey));
        }
        let Some(hash) = checkpoint.chain_hash() else {
            return Ok(bad(LineError::Malformed));
        };
        if !keys.contains(&checkpoint.public_key) {
            keys.push(checkpoint.public_key.clone());
        }
        match wanted.insert(checkpoint.seq, hash) {
            Some(earlier) if earlier != hash => {
                return Ok(Verdict::Fork {
                    seq: checkpoint.seq,
                });
            }
            _ => {}
        }
    }
    let checkpoints = wanted.len();
    let newest_seq = wanted.keys().next_back().copied();
    if let Some(seq) = missing_from_chain(store, wanted).await? {
        return Ok(Verdict::Missing { seq });
    }
    Ok(Verdict::Holds {
        checkpoints,
        newest_seq,
        keys,
        pinned: !trusted.is_empty(),
    })
}

/// The first checkpointed `seq` whose event the chain, up to its head, no longer holds with
/// that hash.
async fn missing_from_chain(
    store: &dyn Store,
    mut wanted: BTreeMap<i64, ChainHash>,
) -> Result<Option<i64>, VerifyError> {
    let head = store.audit_chain_head().await.map_err(VerifyError::Store)?;
    let mut after_seq = 0_i64;
    // Each page moves past at least one event, and the walk ends at the head: it is bounded by
    // the chain's length.
    while let Some((&next_wanted, _)) = wanted.first_key_value() {
        if next_wanted > head.seq {
            return Ok(Some(next_wanted));
        }
        let events = store
            .audit_events_after(after_seq)
            .await
            .map_err(VerifyError::Store)?;
        let Some(last) = events.last() else {
            return Ok(Some(next_wanted));
        };
        after_seq = last.seq;
        for event in events.iter().filter(|event| event.seq <= head.seq) {
            if let Some(hash) = wanted.remove(&event.seq)
                && hash != event.hash
            {
                return Ok(Some(event.seq));
            }
        }
        // Anything still wanted below this page's end is absent from the chain.
        if let Some((&seq, _)) = wanted.first_key_value()
            && seq <= after_seq
        {
            return Ok(Some(seq));
        }
    }
    Ok(None)
}

/// A public key given on the command line.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, BadKey> {
    let mut bytes = [0_u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| BadKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| BadKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn key() -> CheckpointKey {
        CheckpointKey::from_hex("11".repeat(32).as_bytes()).unwrap()
    }

    fn head(seq: i64) -> ChainHead {
        ChainHead {
            seq,
            hash: ChainHash([7; 32]),
        }
    }

    #[test]
    fn a_signed_checkpoint_verifies_and_an_edited_one_does_not() {
        let checkpoint = key().sign(head(5), Timestamp::now());
        assert_eq!(
            checkpoint.verify().unwrap().to_bytes(),
            key().0.verifying_key().to_bytes()
        );
        for edit in [
            Checkpoint {
                seq: 4,
                ..checkpoint.clone()
            },
            Checkpoint {
                hash: "00".repeat(32),
                ..checkpoint.clone()
            },
            Checkpoint {
                at: Timestamp::now().to_rfc3339(),
                ..checkpoint.clone()
            },
        ] {
            assert_eq!(edit.verify(), Err(LineError::BadSignature), "{edit:?}");
        }
        let other = CheckpointKey::from_hex("22".repeat(32).as_bytes()).unwrap();
        let swapped = Checkpoint {
            public_key: other.public_key_hex(),
            ..checkpoint
        };
        assert_eq!(swapped.verify(), Err(LineError::BadSignature));
    }

    #[test]
    fn keys_are_64_hex_characters_and_never_shown() {
        assert_eq!(CheckpointKey::from_hex(b"abc").unwrap_err(), BadKey);
        let key = CheckpointKey::from_hex(format!(" {}\n", "ab".repeat(32)).as_bytes()).unwrap();
        assert!(!format!("{key:?}").contains(&"ab".repeat(32)));
    }

    #[test]
    fn a_generated_key_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("data");
        assert!(local_key(None, &data_dir).unwrap().is_none());
        let first = resolve_key(None, &data_dir).unwrap();
        let mode = fs::metadata(data_dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = resolve_key(None, &data_dir).unwrap();
        assert_eq!(again.public_key_hex(), first.public_key_hex());
        let local = local_key(None, &data_dir).unwrap().unwrap();
        assert_eq!(local.public_key_hex(), first.public_key_hex());
        fs::set_permissions(data_dir.join(KEY_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            resolve_key(None, &data_dir),
            Err(CheckpointError::BadKeyFile { .. })
        ));
    }
}
