//! `coffre verify`: every check prints one line; the exit code is 0 only if all hold.

use std::fmt;
use std::process::ExitCode;

use std::path::Path;

use coffre_store::Store;
use ed25519_dalek::VerifyingKey;

use super::{CommandError, open_migrated_store};
use crate::checkpoint;
use crate::cli::VerifyArgs;
use crate::config::Settings;

pub async fn run(args: &VerifyArgs, settings: &Settings) -> Result<ExitCode, CommandError> {
    // The keys first: a bad one is a setting to fix before touching the database.
    let checkpoints = match &args.checkpoints {
        Some(path) => Some((path.as_path(), trusted_keys(args, settings)?)),
        None => None,
    };
    // Migrated first, so the checks run against the schema they were written for, and a
    // fresh database verifies as the empty, consistent book it is.
    let store = open_migrated_store(settings).await?;
    let checks = run_checks(store.as_ref(), checkpoints).await;
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

/// The keys whose checkpoints to trust: those given, else the local one (configured or in the
/// data directory), else none (each line is then checked against its own key).
fn trusted_keys(args: &VerifyArgs, settings: &Settings) -> Result<Vec<VerifyingKey>, CommandError> {
    if !args.checkpoint_public_key.is_empty() {
        return args
            .checkpoint_public_key
            .iter()
            .map(|value| {
                checkpoint::parse_public_key(value).map_err(|reason| {
                    CommandError::CheckpointPublicKey {
                        value: value.clone(),
                        reason,
                    }
                })
            })
            .collect();
    }
    let local = checkpoint::local_key(settings.checkpoint_key.clone(), &settings.data_dir)?;
    Ok(local.map(|key| key.verifying_key()).into_iter().collect())
}

/// Every check `verify` makes.
async fn run_checks(
    store: &dyn Store,
    checkpoints: Option<(&Path, Vec<VerifyingKey>)>,
) -> Result<Vec<Check>, CommandError> {
    let mut checks = vec![audit_chain(store).await?];
    if let Some((path, trusted)) = checkpoints {
        let verdict = checkpoint::verify_file(store, path, &trusted).await?;
        checks.push(Check {
            name: "audit checkpoints",
            holds: matches!(verdict, checkpoint::Verdict::Holds { .. }),
            verdict: verdict.to_string(),
        });
    }
    checks.push(ledger(store).await?);
    Ok(checks)
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
