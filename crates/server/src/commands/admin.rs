//! `coffre admin create`: the first administrator, or a way back in when every admin is locked
//! out. The password comes from standard input only, never from the command line.

use std::io::Read as _;
use std::process::ExitCode;

use coffre_api::auth::password::Passwords;
use coffre_domain::audit::AuditContext;
use coffre_domain::user::{Email, Password};
use coffre_store::EnsureAdmin;

use super::{CommandError, open_migrated_store};
use crate::cli::{AdminCommand, AdminCreate};
use crate::config::Settings;

/// What the audit events of this command name as their user agent: there is no HTTP client.
const USER_AGENT: &str = "coffre admin create";

pub async fn run(command: &AdminCommand, settings: &Settings) -> Result<ExitCode, CommandError> {
    match command {
        AdminCommand::Create(create) => create_admin(create, settings).await,
    }
}

async fn create_admin(create: &AdminCreate, settings: &Settings) -> Result<ExitCode, CommandError> {
    let email = Email::parse(&create.email).map_err(CommandError::Email)?;
    let password = Password::parse(read_password()?).map_err(CommandError::Password)?;
    let hash = Passwords::new(1)
        .map_err(CommandError::Hashing)?
        .hash(&password)
        .await
        .map_err(CommandError::Hashing)?;

    let store = open_migrated_store(settings).await?;
    let ctx = AuditContext {
        user_agent: Some(USER_AGENT.to_owned()),
        ..AuditContext::default()
    };
    let outcome = store.ensure_admin(email, hash, &ctx).await;
    store.close().await;
    let user = match outcome.map_err(CommandError::AdminCreate)? {
        EnsureAdmin::Created(user) => {
            tracing::info!(user_id = %user.id, "administrator created");
            user
        }
        EnsureAdmin::Promoted(user) => {
            tracing::info!(user_id = %user.id, "existing user is now an enabled administrator");
            user
        }
    };
    println!("{}", user.id);
    Ok(ExitCode::SUCCESS)
}

/// All of standard input, less the one line ending that `echo` or a terminal adds.
fn read_password() -> Result<String, CommandError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(CommandError::ReadPassword)?;
    let line = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    Ok(line.to_owned())
}
