//! The command line: subcommands, and every setting as a flag with its environment variable,
//! its default and its parser (the parsers and the types they give live in `config`).

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::config::{
    self, ConnectionUrl, DataDir, Database, Invalid, LogFilter, LogFormat, LogSettings,
    MetricsListen, RateLimit, Settings, TrustedProxies,
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
    settings: SettingArgs,

    #[command(flatten)]
    log: LogArgs,
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

/// Every setting but logging's, each declared once: its flag, its variable, its default and
/// its parser. Flags win over environment variables. A value that does not parse is reported
/// by [`parse`] as one line naming both spellings.
#[derive(Debug, Args)]
pub struct SettingArgs {
    /// API address; port 0 picks a free port, logged as "listening on ADDR"
    #[arg(long, env = "COFFRE_LISTEN", global = true, value_name = "HOST:PORT",
          default_value = config::DEFAULT_LISTEN, value_parser = config::parse_listen)]
    pub listen: SocketAddr,

    /// Prometheus /metrics address, apart from the API, or off; logged as "metrics served on ADDR"
    #[arg(long, env = "COFFRE_METRICS_LISTEN", global = true, value_name = "HOST:PORT|off",
          default_value = config::DEFAULT_METRICS_LISTEN, value_parser = config::parse_metrics_listen)]
    pub metrics_listen: MetricsListen,

    /// sqlite://PATH (embedded, created if missing) or postgres://USER@HOST/DB, or postgres://USER@H1,H2/DB?target_session_attrs=read-write for a primary and standbys [default: sqlite://<data dir>/coffre.db]
    #[arg(long, env = "DATABASE_URL", global = true, value_name = "URL", hide_env_values = true,
          value_parser = config::parse_database_url)]
    pub database_url: Option<Database>,

    /// Where the embedded database and the generated secrets live
    #[arg(long, env = "COFFRE_DATA_DIR", global = true, value_name = "DIR",
          default_value = config::DEFAULT_DATA_DIR, value_parser = config::parse_data_dir)]
    pub data_dir: DataDir,

    #[arg(long, env = "COFFRE_ACCESS_TOKEN_TTL_SECS", global = true, value_name = "SECS",
          help = format!("Access token lifetime in seconds, 1 to {} (one day)",
                         config::MAX_ACCESS_TOKEN_TTL_SECS),
          default_value_t = config::DEFAULT_ACCESS_TOKEN_TTL_SECS,
          value_parser = config::parse_access_token_ttl)]
    pub access_token_ttl_secs: u64,

    #[arg(long, env = "COFFRE_AUTHORIZATION_TTL_SECS", global = true, value_name = "SECS",
          help = format!("How long a payment authorization holds funds, in seconds, 1 to {} (30 days)",
                         config::MAX_AUTHORIZATION_TTL_SECS),
          default_value_t = config::DEFAULT_AUTHORIZATION_TTL_SECS,
          value_parser = config::parse_authorization_ttl)]
    pub authorization_ttl_secs: u64,

    /// Requests per client IP on /v1/auth/*: N/s, N/min, N/h, or off
    #[arg(long, env = "COFFRE_RATE_LIMIT_AUTH", global = true, value_name = "RATE",
          default_value = config::DEFAULT_RATE_LIMIT_AUTH, value_parser = config::parse_rate_limit)]
    pub rate_limit_auth: RateLimit,

    /// Requests per user on the rest of /v1: N/s, N/min, N/h, or off
    #[arg(long, env = "COFFRE_RATE_LIMIT_API", global = true, value_name = "RATE",
          default_value = config::DEFAULT_RATE_LIMIT_API, value_parser = config::parse_rate_limit)]
    pub rate_limit_api: RateLimit,

    /// Comma-separated CIDRs whose X-Forwarded-For is believed [default: none]
    #[arg(long, env = "COFFRE_TRUSTED_PROXIES", global = true, value_name = "CIDRS",
          value_parser = config::parse_trusted_proxies)]
    pub trusted_proxies: Option<TrustedProxies>,

    /// redis:// or rediss:// URL; shares rate-limit state across instances [default: unset]
    #[arg(long, env = "REDIS_URL", global = true, value_name = "URL", hide_env_values = true,
          value_parser = config::parse_redis_url)]
    pub redis_url: Option<ConnectionUrl>,

    #[arg(long, env = "COFFRE_DB_MAX_CONNECTIONS", global = true, value_name = "N",
          help = format!("Most connections in the PostgreSQL pool, 1 to {}",
                         config::MAX_DB_MAX_CONNECTIONS),
          default_value_t = config::DEFAULT_DB_MAX_CONNECTIONS,
          value_parser = config::parse_db_max_connections)]
    pub db_max_connections: u32,

    /// Where serve appends its signed audit checkpoints, one JSON line each [default: <data dir>/checkpoints.jsonl]
    #[arg(long, env = "COFFRE_CHECKPOINT_FILE", global = true, value_name = "FILE",
          value_parser = config::parse_checkpoint_file)]
    pub checkpoint_file: Option<PathBuf>,

    /// Allow http:// webhook endpoint URLs (true or false), for tests on loopback
    #[arg(long, env = "COFFRE_WEBHOOK_ALLOW_INSECURE", global = true, value_name = "BOOL",
          default_value = "false", action = clap::ArgAction::Set,
          value_parser = config::parse_bool)]
    pub webhook_allow_insecure: bool,

    /// Let webhook deliveries reach loopback, private, link-local and metadata addresses (true
    /// or false), for tests on loopback and endpoints on a private network
    #[arg(long, env = "COFFRE_WEBHOOK_ALLOW_PRIVATE", global = true, value_name = "BOOL",
          default_value = "false", action = clap::ArgAction::Set,
          value_parser = config::parse_bool)]
    pub webhook_allow_private: bool,

    /// The waits between a webhook delivery's attempts, comma-separated (ms, s, m, h)
    #[arg(long, env = "COFFRE_WEBHOOK_RETRY_SCHEDULE", global = true, value_name = "WAITS",
          default_value = coffre_domain::delivery::DEFAULT_RETRY_SCHEDULE)]
    pub webhook_retry_schedule: coffre_domain::delivery::RetrySchedule,
}

/// Logging's settings, read first so everything after can log.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// pretty, or json for one JSON object per line
    #[arg(long, env = "COFFRE_LOG_FORMAT", global = true, value_name = "FORMAT",
          default_value = "pretty", value_parser = config::parse_log_format)]
    pub log_format: LogFormat,

    /// Which events to log, in tracing's EnvFilter syntax, such as info,coffre=debug
    #[arg(long, env = "RUST_LOG", global = true, value_name = "FILTER",
          default_value = config::DEFAULT_LOG_FILTER, value_parser = config::parse_log_filter)]
    pub log_filter: LogFilter,
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
    let log = LogSettings::from_args(cli.log);
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
    // A setting's own parser refused its value: name both of its spellings.
    if let Some(line) = setting_error(&error) {
        return fail(&format!("error: {line}"));
    }
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

/// `invalid ENV (--flag) "value": reason`, for a value one of `config`'s parsers
/// refused; the value as the parser shows it (URLs without their credentials).
fn setting_error(error: &clap::Error) -> Option<String> {
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.split_whitespace().next()?;
    let invalid = std::error::Error::source(error)?.downcast_ref::<Invalid>()?;
    let command = Cli::command();
    let setting = command
        .get_arguments()
        .find(|setting| setting.get_long() == flag.strip_prefix("--"))?;
    let env = setting.get_env()?.to_str()?;
    Some(format!(
        "invalid {env} ({flag}) {:?}: {}",
        invalid.shown, invalid.reason
    ))
}

/// For tests: the settings `args` give (the program name left out), as [`parse`] reads them
/// but with no environment variable (`jwt_secret` stands for `COFFRE_JWT_SECRET`), or the line a refused value prints (without `error: `).
#[cfg(test)]
pub fn settings_from(
    args: &[&str],
    jwt_secret: Option<Vec<u8>>,
) -> Result<(Settings, LogSettings), String> {
    use clap::FromArgMatches;
    let matches = Cli::command()
        .mut_args(|arg| arg.env(None::<&str>))
        .try_get_matches_from(std::iter::once("coffre").chain(args.iter().copied()))
        .map_err(|error| setting_error(&error).unwrap_or_else(|| error.to_string()))?;
    let cli = Cli::from_arg_matches(&matches).map_err(|error| error.to_string())?;
    let settings =
        Settings::from_args(cli.settings, jwt_secret).map_err(|error| error.to_string())?;
    Ok((settings, LogSettings::from_args(cli.log)))
}

fn fail(line: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "{line}");
    ExitCode::from(USAGE_ERROR)
}
