//! `--profile`: where a workload's time goes on PostgreSQL, from counters read before and after
//! the run, so that nothing is instrumented: CPU time of the Coffre process, of the PostgreSQL
//! backends serving Coffre's database (found through `pg_stat_activity`, so other users of the
//! server do not count) and of this generator, from `/proc`; transactions committed in
//! Coffre's database (batches, with the few background ones); rows inserted and updated per
//! table, the index entries they cost (a row inserted, or updated other than HOT, writes one
//! entry per index of its table) and the heap-only updates.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::{Connection, PgConnection};

/// Clock ticks per second of `/proc/*/stat`'s times (`getconf CLK_TCK`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// The counters at one instant.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    coffre_cpu: f64,
    backends_cpu: BTreeMap<u32, f64>,
    generator_cpu: f64,
    commits: i64,
    /// Per table: rows inserted, updated, updated heap-only, and its number of indexes.
    tables: BTreeMap<String, (i64, i64, i64, i64)>,
}

/// CPU seconds a process has used, user and system; 0 once it is gone.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, fields)) = stat.rsplit_once(") ") else {
        return 0.0;
    };
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = fields.split(' ').collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|value| value.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / TICKS_PER_SECOND
}

pub async fn snapshot(url: &str, coffre_pid: u32) -> Snapshot {
    let mut connection = PgConnection::connect(url).await.unwrap();
    let backends: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    // The statistics of this transaction's snapshot must be fresh, not cached.
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut connection)
        .await
        .unwrap();
    let commits: i64 = sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    let rows: Vec<(String, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT t.relname::text, t.n_tup_ins, t.n_tup_upd, t.n_tup_hot_upd, \
         (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid) \
         FROM pg_stat_user_tables t",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    connection.close().await.ok();
    Snapshot {
        coffre_cpu: cpu_seconds(&coffre_pid.to_string()),
        backends_cpu: backends
            .into_iter()
            .map(|pid| {
                let pid = u32::try_from(pid).unwrap();
                (pid, cpu_seconds(&pid.to_string()))
            })
            .collect(),
        generator_cpu: cpu_seconds("self"),
        commits,
        tables: rows
            .into_iter()
            .map(|(name, ins, upd, hot, indexes)| (name, (ins, upd, hot, indexes)))
            .collect(),
    }
}

/// How long PostgreSQL's backends may keep their table and database statistics before they
/// publish them (an idle backend flushes within 10 s): a snapshot of them waits this first.
pub const SETTLE: Duration = Duration::from_secs(11);

/// What happened between `before` and `after` (CPU read from `after` as the run ended, the
/// statistics from `settled`, [`SETTLE`] later), per iteration of the run (`completed`).
pub fn report(
    before: &Snapshot,
    after: &Snapshot,
    settled: &Snapshot,
    completed: u64,
    elapsed: Duration,
) -> String {
    let per = |value: f64| value / completed.max(1) as f64;
    // A backend that started during the run counts from zero; one that ended is lost (the pool
    // keeps its connections for the whole run).
    let backends: f64 = after
        .backends_cpu
        .iter()
        .map(|(pid, cpu)| cpu - before.backends_cpu.get(pid).copied().unwrap_or(0.0))
        .sum();
    let coffre = after.coffre_cpu - before.coffre_cpu;
    let generator = after.generator_cpu - before.generator_cpu;
    let commits = (settled.commits - before.commits) as f64;
    let seconds = elapsed.as_secs_f64();
    let mut lines = format!(
        "  profile: CPU per iteration: Coffre {:.0} µs, its PostgreSQL backends {:.0} µs, this \
         generator {:.0} µs (of the machine's 2 cores: {:.0}% + {:.0}% + {:.0}%)\n  \
         commits {:.0}/s, {:.1} iterations per commit\n",
        per(coffre) * 1e6,
        per(backends) * 1e6,
        per(generator) * 1e6,
        coffre / seconds / 2.0 * 100.0,
        backends / seconds / 2.0 * 100.0,
        generator / seconds / 2.0 * 100.0,
        commits / seconds,
        completed as f64 / commits.max(1.0),
    );
    let mut entries = 0.0;
    let mut rows = 0.0;
    for (table, (ins, upd, hot, indexes)) in &settled.tables {
        let (ins0, upd0, hot0, _) = before.tables.get(table).copied().unwrap_or_default();
        let (ins, upd, hot) = (
            (ins - ins0) as f64,
            (upd - upd0) as f64,
            (hot - hot0) as f64,
        );
        if ins + upd == 0.0 {
            continue;
        }
        let table_entries = (ins + upd - hot) * *indexes as f64;
        entries += table_entries;
        rows += ins + upd;
        lines.push_str(&format!(
            "    {table}: {:.2} inserted, {:.2} updated ({:.2} heap-only), {indexes} indexes: {:.2} \
             index entries\n",
            per(ins),
            per(upd),
            per(hot),
            per(table_entries),
        ));
    }
    lines.push_str(&format!(
        "    in all: {:.2} rows written and {:.2} index entries per iteration",
        per(rows),
        per(entries)
    ));
    lines
}
