//! File descriptors: every connection holds one, so the connection cap must stay below the
//! process's limit, with room left for the database pool, the log and the data files.

use rustix::process::{Resource, getrlimit, setrlimit};

/// Descriptors kept for everything but client connections, beyond the database pool.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (the default soft limit, often 1,024,
/// is far below what a server needs and the hard one allows), and returns how many client
/// connections fit under the limit now in force, keeping room for `db_connections`.
pub fn connection_budget(db_connections: u32) -> u64 {
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        limit.current = limit.maximum;
        if let Err(error) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(%error, "could not raise the open-file limit to its hard limit");
        }
    }
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let reserved = RESERVED_DESCRIPTORS.saturating_add(u64::from(db_connections));
    soft.saturating_sub(reserved)
}
