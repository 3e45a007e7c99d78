//! `coffre admin`: managing administrators needs users, which arrive with the identity issue.

use crate::cli::AdminCommand;

use super::CommandError;

pub fn run(command: &AdminCommand) -> CommandError {
    match command {
        AdminCommand::Create(_) => CommandError::NotYetAvailable {
            command: "admin create",
        },
    }
}
