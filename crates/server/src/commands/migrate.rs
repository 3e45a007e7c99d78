//! `coffre migrate`: apply pending migrations and exit.

use std::process::ExitCode;

use super::{CommandError, open_migrated_store};
use crate::config::Settings;

pub async fn run(settings: &Settings) -> Result<ExitCode, CommandError> {
    let store = open_migrated_store(settings).await?;
    store.close().await;
    println!("migrations applied");
    Ok(ExitCode::SUCCESS)
}
