//! `coffre audit export`: the audit log as JSON lines, for an archive outside the database.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use coffre_store::{AUDIT_PAGE_ROWS, Store};

use super::{CommandError, open_migrated_store};
use crate::cli::{AuditCommand, AuditExport};
use crate::config::Settings;

pub async fn run(command: &AuditCommand, settings: &Settings) -> Result<ExitCode, CommandError> {
    match command {
        AuditCommand::Export(export) => run_export(export, settings).await,
    }
}

async fn run_export(export: &AuditExport, settings: &Settings) -> Result<ExitCode, CommandError> {
    let out: Box<dyn Write> = match &export.output {
        Some(path) => Box::new(File::create(path).map_err(|source| CommandError::Export {
            target: path.display().to_string(),
            source,
        })?),
        None => Box::new(io::stdout().lock()),
    };
    let target = export.output.as_ref().map_or_else(
        || "standard output".to_owned(),
        |path| path.display().to_string(),
    );
    let store = open_migrated_store(settings).await?;
    let exported = export_events(store.as_ref(), BufWriter::new(out)).await;
    store.close().await;
    let count = exported.map_err(|error| match error {
        ExportError::Store(error) => CommandError::Verify(error),
        ExportError::Write(source) => CommandError::Export { target, source },
    })?;
    tracing::info!(events = count, "audit events exported");
    Ok(ExitCode::SUCCESS)
}

enum ExportError {
    Store(coffre_store::StoreError),
    Write(io::Error),
}

/// Writes every event in `seq` order, one JSON object (the shape `GET /v1/audit-events` shows)
/// per line, reading one page at a time so memory stays bounded whatever the log's length.
/// Returns how many it wrote.
async fn export_events(store: &dyn Store, mut out: impl Write) -> Result<u64, ExportError> {
    let mut after_seq = 0_i64;
    let mut count = 0_u64;
    loop {
        let events = store
            .audit_events_after(after_seq)
            .await
            .map_err(ExportError::Store)?;
        for event in &events {
            serde_json::to_writer(&mut out, event)
                .map_err(|error| ExportError::Write(io::Error::other(error)))?;
            out.write_all(b"\n").map_err(ExportError::Write)?;
            count = count.saturating_add(1);
        }
        match events.last() {
            Some(last) if events.len() == usize::from(AUDIT_PAGE_ROWS) => after_seq = last.seq,
            _ => break,
        }
    }
    out.flush().map_err(ExportError::Write)?;
    Ok(count)
}
