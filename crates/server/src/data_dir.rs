//! The data directory: where the embedded database and the generated JWT secret live.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("cannot create the data directory {path}: {source}")]
pub struct DataDirError {
    path: PathBuf,
    source: io::Error,
}

/// Creates the directory, owner-only, when it is missing; an existing one is left as it is.
pub fn ensure(dir: &Path) -> Result<(), DataDirError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| DataDirError {
            path: dir.to_owned(),
            source,
        })
}
