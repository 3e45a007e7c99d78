//! The command line: subcommands, and every setting as a flag with its environment variable.
//! Values arrive as raw strings and are validated in `config`, so a bad one is reported as one
//! line naming both spellings of the setting.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use crate::config::{
    LogSettings, MAX_ACCESS_TOKEN_TTL_SECS, MAX_AUTHORIZATION_TTL_SECS, MAX_DB_MAX_CONNECTIONS,
    Settings,
};

/// Exit code of a bad setting or a bad command line.
pub const USAGE_ERROR: u8 = 2;

/// A payments and ledger backend.
///
/// Every setting is a flag and an environment variable; the flag wins. COFFRE_JWT_SECRET
/// (the HS256 key, at least 32 bytes) is an environment variable only, because a command
/// line is visible to every user of the machine. Without it, SQLite setups generate one
/// into the data directory; PostgreSQL setups refuse to serve. COFFRE_CHECKPOINT_KEY (the hex
/// Ed25519 seed that signs audit checkpoints) is environment-only too; without it, one is
/// generated into the data directory.
#[derive(Debug, Parser)]
#[command(name = "coffre", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    settings: RawSettings,

    #[command(flatten)]
    log: RawLogSettings,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the HTTP API (the default)
    Serve,
    /// Apply pending migrations and exit
    Migrate,
    /// Manage administrators
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Apply pending migrations, then check the audit chain (and, given a file, its signed
    /// checkpoints) and the ledger; exit 0 only if every check holds
    Verify(VerifyArgs),
    /// Work with the audit log
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Also check this checkpoint file (written by serve): every line's signature, and that
    /// the chain still holds every checkpointed (seq, hash)
    #[arg(long, value_name = "FILE")]
    pub checkpoints: Option<PathBuf>,

    /// Hex Ed25519 public key whose checkpoints to trust (repeatable); a line signed by any
    /// other key fails. Default: the key of COFFRE_CHECKPOINT_KEY or of the data directory,
    /// else each line's own key
    #[arg(long, value_name = "HEX", requires = "checkpoints")]
    pub checkpoint_public_key: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write every audit event, in seq order, as one JSON object per line
    Export(AuditExport),
}

#[derive(Debug, Args)]
pub struct AuditExport {
    /// Write to this file (created or truncated) instead of standard output
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create (or promote) an administrator and print the user id
    Create(AdminCreate),
}

#[derive(Debug, Args)]
pub struct AdminCreate {
    /// The administrator's email address
    #[arg(long, value_name = "EMAIL")]
    pub email: String,

    /// Read the password from standard input (the only way to give it: a command line is
    /// visible to every user of the machine)
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

/// Every setting but logging's, as given. Flags win over environment variables.
#[derive(Debug, Default, Args)]
pub struct RawSettings {
    /// API address; port 0 picks a free port, logged as "listening on ADDR" [default: 127.0.0.1:8080]
    #[arg(long, env = "COFFRE_LISTEN", global = true, value_name = "HOST:PORT")]
    pub listen: Option<String>,

    /// Prometheus /metrics address, or off; logged as "metrics served on ADDR" [default: 127.0.0.1:9464]
    #[arg(
        long,
        env = "COFFRE_METRICS_LISTEN",
        global = true,
        value_name = "HOST:PORT|off"
    )]
    pub metrics_listen: Option<String>,

    /// sqlite://PATH (embedded, created if missing) or postgres://USER@HOST/DB [default: sqlite://<data dir>/coffre.db]
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,

    /// Where the embedded database and the generated JWT secret live [default: ./coffre-data]
    #[arg(long, env = "COFFRE_DATA_DIR", global = true, value_name = "DIR")]
    pub data_dir: Option<String>,

    #[arg(
        long,
        env = "COFFRE_ACCESS_TOKEN_TTL_SECS",
        global = true,
        value_name = "SECS",
        help = format!("Access token lifetime in seconds, 1 to {MAX_ACCESS_TOKEN_TTL_SECS} (one day) [default: 900]")
    )]
    pub access_token_ttl_secs: Option<String>,

    #[arg(
        long,
        env = "COFFRE_AUTHORIZATION_TTL_SECS",
        global = true,
        value_name = "SECS",
        help = format!("How long a payment authorization holds funds, in seconds, 1 to {MAX_AUTHORIZATION_TTL_SECS} (30 days) [default: 604800]")
    )]
    pub authorization_ttl_secs: Option<String>,

    /// Requests per client IP on /v1/auth/*: N/s, N/min, N/h, or off [default: 20/min]
    #[arg(
        long,
        env = "COFFRE_RATE_LIMIT_AUTH",
        global = true,
        value_name = "RATE"
    )]
    pub rate_limit_auth: Option<String>,

    /// Requests per user on the rest of /v1: N/s, N/min, N/h, or off [default: 100/s]
    #[arg(
        long,
        env = "COFFRE_RATE_LIMIT_API",
        global = true,
        value_name = "RATE"
    )]
    pub rate_limit_api: Option<String>,

    /// Comma-separated CIDRs whose X-Forwarded-For is believed [default: none]
    #[arg(
        long,
        env = "COFFRE_TRUSTED_PROXIES",
        global = true,
        value_name = "CIDRS"
    )]
    pub trusted_proxies: Option<String>,

    /// redis:// or rediss:// URL; shares rate-limit state across instances [default: unset]
    #[arg(
        long,
        env = "REDIS_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,

    #[arg(
        long,
        env = "COFFRE_DB_MAX_CONNECTIONS",
        global = true,
        value_name = "N",
        help = format!("Most connections in the PostgreSQL pool, 1 to {MAX_DB_MAX_CONNECTIONS} [default: 16]")
    )]
    pub db_max_connections: Option<String>,

    /// Where serve appends its signed audit checkpoints, one JSON line each [default: <data dir>/checkpoints.jsonl]
    #[arg(
        long,
        env = "COFFRE_CHECKPOINT_FILE",
        global = true,
        value_name = "FILE"
    )]
    pub checkpoint_file: Option<String>,
}

/// Logging's settings, read first so everything after can log.
#[derive(Debug, Default, Args)]
pub struct RawLogSettings {
    /// pretty, or json for one JSON object per line [default: pretty]
    #[arg(long, env = "COFFRE_LOG_FORMAT", global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// Which events to log, in tracing's EnvFilter syntax, such as info,coffre=debug [default: info]
    #[arg(long, env = "RUST_LOG", global = true, value_name = "FILTER")]
    pub log_filter: Option<String>,
}

/// What to do, and with which settings.
#[derive(Debug)]
pub struct Invocation {
    pub command: Command,
    pub settings: Settings,
    pub log: LogSettings,
}

/// Parses the command line and the environment. On failure the message has already been
/// printed and the caller exits with the returned code.
pub fn parse() -> Result<Invocation, ExitCode> {
    let cli = Cli::try_parse().map_err(report_clap_error)?;
    let jwt_secret = std::env::var_os("COFFRE_JWT_SECRET").map(OsString::into_vec);
    let checkpoint_key = std::env::var_os("COFFRE_CHECKPOINT_KEY").map(OsString::into_vec);
    let log = LogSettings::from_args(cli.log).map_err(|error| fail(&format!("error: {error}")))?;
    let settings = Settings::from_args(cli.settings, jwt_secret)
        .and_then(|settings| settings.with_checkpoint_key(checkpoint_key))
        .map_err(|error| fail(&format!("error: {error}")))?;
    Ok(Invocation {
        command: cli.command.unwrap_or(Command::Serve),
        settings,
        log,
    })
}

fn report_clap_error(error: clap::Error) -> ExitCode {
    match error.kind() {
        // Asked-for output: print it whole.
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        // `coffre admin` alone: the help of its subcommands is the useful answer.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(USAGE_ERROR)
        }
        // clap adds tips and a usage block after a blank line; the paragraph before it says
        // what is wrong, sometimes over several lines (one per missing argument).
        _ => {
            let rendered = error.render().to_string();
            let what = rendered
                .lines()
                .take_while(|line| !line.trim().is_empty())
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ");
            fail(&what)
        }
    }
}

fn fail(line: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{line}");
    ExitCode::from(USAGE_ERROR)
}
