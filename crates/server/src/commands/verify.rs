//! `coffre verify`: every check prints one line; the exit code is 0 only if all hold.

use std::fmt;
use std::process::ExitCode;

use coffre_store::Store;

use super::{CommandError, open_migrated_store};
use crate::config::Settings;

pub async fn run(settings: &Settings) -> Result<ExitCode, CommandError> {
    // Migrated first, so the checks run against the schema they were written for, and a
    // fresh database verifies as the empty, consistent book it is.
    let store = open_migrated_store(settings).await?;
    let checks = run_checks(store.as_ref()).await;
    store.close().await;
    let checks = checks?;
    for check in &checks {
        println!("{check}");
    }
    Ok(if checks.iter().all(|check| check.holds) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Every check `verify` makes.
async fn run_checks(store: &dyn Store) -> Result<Vec<Check>, CommandError> {
    Ok(vec![audit_chain(store).await?, ledger(store).await?])
}

/// Every balance equals the sum of its lines, every currency sums to zero, no customer
/// account is negative.
async fn ledger(store: &dyn Store) -> Result<Check, CommandError> {
    let report = store.verify_ledger().await.map_err(CommandError::Verify)?;
    let verdict = if report.ok {
        format!("ok ({report})")
    } else {
        format!("BROKEN ({report})")
    };
    Ok(Check {
        name: "ledger",
        holds: report.ok,
        verdict,
    })
}

async fn audit_chain(store: &dyn Store) -> Result<Check, CommandError> {
    let report = store
        .verify_audit_chain()
        .await
        .map_err(CommandError::Verify)?;
    let verdict = match (report.ok, report.first_bad_seq) {
        (true, _) => format!("ok ({} events)", report.events_checked),
        (false, Some(seq)) => format!("BROKEN at seq {seq}"),
        (false, None) => "BROKEN".to_owned(),
    };
    Ok(Check {
        name: "audit chain",
        holds: report.ok,
        verdict,
    })
}

/// One line of the report.
struct Check {
    name: &'static str,
    holds: bool,
    verdict: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.verdict)
    }
}
