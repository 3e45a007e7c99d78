//! Settings: the types the command line's parsers give (each setting is declared once, in
//! `cli`, with its parser from here), and what clap cannot say: defaults that follow the data
//! directory, and the secrets read from the environment alone.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::num::NonZeroU32;
use std::path::PathBuf;

use std::time::Duration;

use coffre_api::JwtSecret;
use coffre_api::edge::rate_limit::RateQuota;
use coffre_store_postgres::PgTarget;
use ipnet::IpNet;
use tracing_subscriber::EnvFilter;

use crate::checkpoint::{self, CheckpointKey};
use crate::cli::{LogArgs, SettingArgs};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Loopback: metrics name routes, error rates and pool sizes, which are for operators only.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";
pub const DEFAULT_DATA_DIR: &str = "./coffre-data";
pub const DATABASE_FILE: &str = "coffre.db";
pub const DEFAULT_ACCESS_TOKEN_TTL_SECS: u64 = 15 * 60;
pub const MAX_ACCESS_TOKEN_TTL_SECS: u64 = 24 * 60 * 60;
pub const DEFAULT_AUTHORIZATION_TTL_SECS: u64 = 7 * 24 * 60 * 60;
pub const MAX_AUTHORIZATION_TTL_SECS: u64 = 30 * 24 * 60 * 60;
pub const DEFAULT_RATE_LIMIT_AUTH: &str = "20/min";
pub const DEFAULT_RATE_LIMIT_API: &str = "100/s";
pub const DEFAULT_DB_MAX_CONNECTIONS: u32 = 16;
pub const MAX_DB_MAX_CONNECTIONS: u32 = 1000;
pub const DEFAULT_LOG_FILTER: &str = "info";

/// Everything but logging, which is set up before the rest is used.
#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Where `/metrics` is served, apart from the API; `None` when off.
    pub metrics_listen: Option<SocketAddr>,
    pub database: Database,
    pub data_dir: PathBuf,
    /// `None` when `COFFRE_JWT_SECRET` is unset; whether that is allowed depends on the
    /// database and the command (see `secret`).
    pub jwt_secret: Option<JwtSecret>,
    pub access_token_ttl_secs: u64,
    pub authorization_ttl_secs: u64,
    pub rate_limit_auth: RateLimit,
    pub rate_limit_api: RateLimit,
    pub trusted_proxies: Vec<IpNet>,
    pub redis_url: Option<ConnectionUrl>,
    pub db_max_connections: u32,
    /// `None` when `COFFRE_CHECKPOINT_KEY` is unset: `serve` then uses (or generates) the key
    /// file in the data directory.
    pub checkpoint_key: Option<CheckpointKey>,
    /// Where `serve` appends its signed audit checkpoints.
    pub checkpoint_file: PathBuf,
    /// Webhook endpoints may be `http://`.
    pub webhook_allow_insecure: bool,
    /// Webhook deliveries may reach private addresses.
    pub webhook_allow_private: bool,
    /// The waits between a delivery's attempts.
    pub webhook_retry_schedule: coffre_domain::delivery::RetrySchedule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(ConnectionUrl),
    /// One host, or several of which Coffre uses the writable primary.
    Postgres(PgTarget),
}

impl Database {
    pub const fn backend_name(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// A URL that may carry a password: its `Debug` shows the scheme only, so settings can be
/// printed whole without leaking credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionUrl(String);

impl ConnectionUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    #[cfg(test)]
    pub fn for_tests(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionUrl({})", redact_url(&self.0))
    }
}

/// A request budget: `count` requests per `period`, or no limit at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    Off,
    PerPeriod {
        count: NonZeroU32,
        period: RatePeriod,
    },
}

impl RateLimit {
    /// The budget the HTTP layer enforces; `None` when off.
    pub fn quota(self) -> Option<RateQuota> {
        match self {
            Self::Off => None,
            Self::PerPeriod { count, period } => Some(RateQuota {
                count,
                period: period.duration(),
            }),
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Off => f.write_str("off"),
            Self::PerPeriod { count, period } => write!(f, "{count}/{}", period.unit()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RatePeriod {
    Second,
    Minute,
    Hour,
}

impl RatePeriod {
    const fn unit(self) -> &'static str {
        match self {
            Self::Second => "s",
            Self::Minute => "min",
            Self::Hour => "h",
        }
    }

    const fn duration(self) -> Duration {
        match self {
            Self::Second => Duration::from_secs(1),
            Self::Minute => Duration::from_secs(60),
            Self::Hour => Duration::from_secs(3_600),
        }
    }
}

#[derive(Debug)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: EnvFilter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A secret from the environment that cannot be used; it is never shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "invalid COFFRE_JWT_SECRET: it is {len_bytes} bytes long; it must be at least {} bytes",
        JwtSecret::MIN_LEN_BYTES
    )]
    JwtSecretTooShort { len_bytes: usize },
    #[error("invalid COFFRE_CHECKPOINT_KEY: {0}")]
    CheckpointKey(checkpoint::BadKey),
}

/// A value a setting's parser refused: what to show of it (a URL without its credentials, the
/// one bad item of a list) and why. `cli` adds the setting's two names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Invalid {
    pub shown: String,
    pub reason: String,
}

impl Invalid {
    fn new(shown: &str, reason: impl Into<String>) -> Self {
        Self {
            shown: shown.to_owned(),
            reason: reason.into(),
        }
    }
}

/// `COFFRE_METRICS_LISTEN`: an address, or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsListen(pub Option<SocketAddr>);

/// `COFFRE_DATA_DIR`, as given: the default database URL is spelt from its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(String);

/// `COFFRE_TRUSTED_PROXIES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

/// `RUST_LOG`, checked: [`LogSettings`] builds the filter from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFilter(String);

impl Settings {
    /// `jwt_secret` is the raw value of `COFFRE_JWT_SECRET`; its bytes are the key.
    pub fn from_args(args: SettingArgs, jwt_secret: Option<Vec<u8>>) -> Result<Self, ConfigError> {
        let DataDir(data_dir_text) = args.data_dir;
        let data_dir = PathBuf::from(&data_dir_text);
        Ok(Self {
            listen: args.listen,
            metrics_listen: args.metrics_listen.0,
            database: args
                .database_url
                .unwrap_or_else(|| Database::Sqlite(sqlite_url_in(&data_dir_text))),
            jwt_secret: jwt_secret.map(parse_jwt_secret).transpose()?,
            access_token_ttl_secs: args.access_token_ttl_secs,
            authorization_ttl_secs: args.authorization_ttl_secs,
            rate_limit_auth: args.rate_limit_auth,
            rate_limit_api: args.rate_limit_api,
            trusted_proxies: args
                .trusted_proxies
                .map(|proxies| proxies.0)
                .unwrap_or_default(),
            redis_url: args.redis_url,
            db_max_connections: args.db_max_connections,
            webhook_allow_insecure: args.webhook_allow_insecure,
            webhook_allow_private: args.webhook_allow_private,
            webhook_retry_schedule: args.webhook_retry_schedule,
            checkpoint_key: None,
            checkpoint_file: args
                .checkpoint_file
                .unwrap_or_else(|| data_dir.join(checkpoint::DEFAULT_FILE)),
            data_dir,
        })
    }

    /// `key` is the raw value of `COFFRE_CHECKPOINT_KEY`: the hex Ed25519 seed.
    pub fn with_checkpoint_key(mut self, key: Option<Vec<u8>>) -> Result<Self, ConfigError> {
        self.checkpoint_key = key
            .map(|key| CheckpointKey::from_hex(&key).map_err(ConfigError::CheckpointKey))
            .transpose()?;
        Ok(self)
    }
}

impl LogSettings {
    pub fn from_args(args: LogArgs) -> Self {
        Self {
            format: args.log_format,
            filter: EnvFilter::new(args.log_filter.0),
        }
    }
}

pub fn parse_listen(value: &str) -> Result<SocketAddr, Invalid> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let expected = || Invalid::new(value, "expected HOST:PORT, such as 127.0.0.1:8080");
    let (host, port) = value.rsplit_once(':').ok_or_else(expected)?;
    // An IPv6 address must be bracketed, as in [::1]:8080; unbracketed, its colons are
    // ambiguous with the port's.
    if host.is_empty() || host.contains(':') {
        return Err(expected());
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| Invalid::new(value, "expected HOST:PORT with a port from 0 to 65535"))?;
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| Invalid::new(value, format!("cannot resolve host {host:?}")))
}

pub fn parse_metrics_listen(value: &str) -> Result<MetricsListen, Invalid> {
    if value == "off" {
        return Ok(MetricsListen(None));
    }
    parse_listen(value).map(|addr| MetricsListen(Some(addr)))
}

pub fn parse_data_dir(value: &str) -> Result<DataDir, Invalid> {
    if value.trim().is_empty() {
        return Err(Invalid::new(value, "must not be empty"));
    }
    Ok(DataDir(value.to_owned()))
}

pub fn parse_checkpoint_file(value: &str) -> Result<PathBuf, Invalid> {
    if value.trim().is_empty() {
        return Err(Invalid::new(value, "must not be empty"));
    }
    Ok(PathBuf::from(value))
}

/// The default database: `coffre.db` in the data directory. SQLx percent-decodes the path, so
/// the characters that would end it or start an escape are encoded.
fn sqlite_url_in(data_dir: &str) -> ConnectionUrl {
    let mut url = String::from("sqlite://");
    for character in data_dir.trim_end_matches('/').chars() {
        match character {
            '%' => url.push_str("%25"),
            '?' => url.push_str("%3F"),
            '#' => url.push_str("%23"),
            other => url.push(other),
        }
    }
    url.push('/');
    url.push_str(DATABASE_FILE);
    ConnectionUrl(url)
}

pub fn parse_database_url(value: &str) -> Result<Database, Invalid> {
    if let Some(rest) = value.strip_prefix("sqlite:") {
        if rest.trim_start_matches("//").is_empty() {
            return Err(Invalid::new(value, "sqlite:// needs a file path"));
        }
        return Ok(Database::Sqlite(ConnectionUrl(value.to_owned())));
    }
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        return value.parse().map(Database::Postgres).map_err(
            |error: coffre_store_postgres::PgUrlError| {
                Invalid::new(&redact_url(value), error.to_string())
            },
        );
    }
    Err(Invalid::new(
        &redact_url(value),
        "expected sqlite://PATH or postgres://USER@HOST[,HOST2…]/DB",
    ))
}

/// The scheme of a URL that may hold a password, and nothing after it.
fn redact_url(value: &str) -> String {
    match value.split_once(':') {
        Some((scheme, _)) => format!("{scheme}:…"),
        None => "…".to_owned(),
    }
}

fn parse_jwt_secret(bytes: Vec<u8>) -> Result<JwtSecret, ConfigError> {
    JwtSecret::new(bytes).map_err(|error| ConfigError::JwtSecretTooShort {
        len_bytes: error.len_bytes,
    })
}

fn parse_secs(value: &str, max: u64) -> Result<u64, Invalid> {
    match value.parse::<u64>() {
        Ok(secs) if (1..=max).contains(&secs) => Ok(secs),
        _ => Err(Invalid::new(
            value,
            format!("expected whole seconds from 1 to {max}"),
        )),
    }
}

pub fn parse_access_token_ttl(value: &str) -> Result<u64, Invalid> {
    parse_secs(value, MAX_ACCESS_TOKEN_TTL_SECS)
}

pub fn parse_authorization_ttl(value: &str) -> Result<u64, Invalid> {
    parse_secs(value, MAX_AUTHORIZATION_TTL_SECS)
}

pub fn parse_rate_limit(value: &str) -> Result<RateLimit, Invalid> {
    if value == "off" {
        return Ok(RateLimit::Off);
    }
    let invalid = || Invalid::new(value, "expected N/s, N/min or N/h with N from 1, or off");
    let (count, unit) = value.split_once('/').ok_or_else(invalid)?;
    // Digits only: u32's parser would also take a leading '+'.
    if !count.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid());
    }
    let count = count.parse::<NonZeroU32>().map_err(|_| invalid())?;
    let period = match unit {
        "s" => RatePeriod::Second,
        "min" => RatePeriod::Minute,
        "h" => RatePeriod::Hour,
        _ => return Err(invalid()),
    };
    Ok(RateLimit::PerPeriod { count, period })
}

pub fn parse_trusted_proxies(value: &str) -> Result<TrustedProxies, Invalid> {
    value
        .split(',')
        .map(str::trim)
        .filter(|cidr| !cidr.is_empty())
        .map(|cidr| {
            cidr.parse::<IpNet>()
                .map_err(|_| Invalid::new(cidr, "expected CIDRs such as 10.0.0.0/8,::1/128"))
        })
        .collect::<Result<_, _>>()
        .map(TrustedProxies)
}

pub fn parse_redis_url(value: &str) -> Result<ConnectionUrl, Invalid> {
    let rest = value
        .strip_prefix("redis://")
        .or_else(|| value.strip_prefix("rediss://"));
    match rest {
        Some(rest) if !rest.is_empty() => Ok(ConnectionUrl(value.to_owned())),
        _ => Err(Invalid::new(
            &redact_url(value),
            "expected redis://HOST:PORT or rediss://HOST:PORT",
        )),
    }
}

pub fn parse_db_max_connections(value: &str) -> Result<u32, Invalid> {
    match value.parse::<u32>() {
        Ok(count) if (1..=MAX_DB_MAX_CONNECTIONS).contains(&count) => Ok(count),
        _ => Err(Invalid::new(
            value,
            format!("expected a whole number from 1 to {MAX_DB_MAX_CONNECTIONS}"),
        )),
    }
}

pub fn parse_bool(value: &str) -> Result<bool, Invalid> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Invalid::new(value, "expected true or false")),
    }
}

pub fn parse_log_format(value: &str) -> Result<LogFormat, Invalid> {
    match value {
        "pretty" => Ok(LogFormat::Pretty),
        "json" => Ok(LogFormat::Json),
        _ => Err(Invalid::new(value, "expected pretty or json")),
    }
}

pub fn parse_log_filter(value: &str) -> Result<LogFilter, Invalid> {
    EnvFilter::try_new(value)
        .map(|_| LogFilter(value.to_owned()))
        .map_err(|error| Invalid::new(value, error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Result<Settings, String> {
        crate::cli::settings_from(args, None).map(|(settings, _)| settings)
    }

    fn error_line(args: &[&str]) -> String {
        settings(args).unwrap_err()
    }

    fn sqlite(url: &str) -> Database {
        Database::Sqlite(ConnectionUrl(url.to_owned()))
    }

    #[test]
    fn defaults_need_no_settings() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            settings.metrics_listen,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(
            settings.database,
            sqlite("sqlite://./coffre-data/coffre.db")
        );
        assert_eq!(settings.data_dir, PathBuf::from("./coffre-data"));
        assert!(settings.jwt_secret.is_none());
        assert_eq!(settings.access_token_ttl_secs, 900);
        assert_eq!(settings.authorization_ttl_secs, 604_800);
        assert_eq!(settings.rate_limit_auth.to_string(), "20/min");
        assert_eq!(settings.rate_limit_api.to_string(), "100/s");
        assert!(settings.trusted_proxies.is_empty());
        assert!(settings.redis_url.is_none());
        assert_eq!(settings.db_max_connections, 16);
        assert!(!settings.webhook_allow_insecure);
        assert!(!settings.webhook_allow_private);
        assert_eq!(
            settings.webhook_retry_schedule,
            coffre_domain::delivery::RetrySchedule::default()
        );

        let (_, log) = crate::cli::settings_from(&[], None).unwrap();
        assert_eq!(log.format, LogFormat::Pretty);
        assert_eq!(log.filter.to_string(), "info");
    }

    #[test]
    fn the_default_database_follows_the_data_dir() {
        for (dir, url) in [
            ("/var/lib/coffre", "sqlite:///var/lib/coffre/coffre.db"),
            ("/var/lib/coffre/", "sqlite:///var/lib/coffre/coffre.db"),
            ("data", "sqlite://data/coffre.db"),
            ("/", "sqlite:///coffre.db"),
            ("odd?dir#50%", "sqlite://odd%3Fdir%2350%25/coffre.db"),
        ] {
            let settings = settings(&["--data-dir", dir]).unwrap();
            assert_eq!(settings.database, sqlite(url), "{dir}");
        }
    }

    #[test]
    fn listen_takes_addresses_and_resolvable_hosts() {
        let listen = |text: &str| settings(&["--listen", text]).map(|s| s.listen);
        assert_eq!(listen("0.0.0.0:0").unwrap(), "0.0.0.0:0".parse().unwrap());
        assert_eq!(listen("[::1]:9000").unwrap(), "[::1]:9000".parse().unwrap());
        let local = listen("localhost:9000").unwrap();
        assert!(local.ip().is_loopback() && local.port() == 9000, "{local}");
        for bad in [
            "abc",
            "8080",
            ":8080",
            "127.0.0.1:",
            "127.0.0.1:65536",
            "::1:8080",
            "no-such-host.invalid:80",
        ] {
            let error = listen(bad).unwrap_err();
            assert!(
                error.starts_with("invalid COFFRE_LISTEN (--listen)"),
                "{error}"
            );
        }
    }

    #[test]
    fn metrics_listen_takes_an_address_or_off() {
        let metrics = |text: &str| settings(&["--metrics-listen", text]).map(|s| s.metrics_listen);
        assert_eq!(metrics("off").unwrap(), None);
        assert_eq!(
            metrics("0.0.0.0:9100").unwrap(),
            Some("0.0.0.0:9100".parse().unwrap())
        );
        for bad in ["", "OFF", "9100", "none"] {
            let error = metrics(bad).unwrap_err();
            assert!(
                error.starts_with("invalid COFFRE_METRICS_LISTEN (--metrics-listen)"),
                "{error}"
            );
        }
    }

    #[test]
    fn database_urls_pick_the_backend() {
        let database = |url: &str| settings(&["--database-url", url]);
        for url in [
            "postgres://u@h/db",
            "postgresql://u:pw@h:5433/db",
            "postgres://u:pw@h1:5432,h2:5433/db?target_session_attrs=read-write",
        ] {
            assert_eq!(
                database(url).unwrap().database,
                Database::Postgres(url.parse().unwrap())
            );
        }
        for url in ["sqlite://x.db", "sqlite:///tmp/x.db", "sqlite::memory:"] {
            assert_eq!(database(url).unwrap().database, sqlite(url));
        }
        for url in [
            "sqlite://",
            "sqlite:",
            "mysql://u:pw@h/db",
            "x.db",
            "",
            "postgres://u:pw@h1,h2/db",
            "postgres://u:pw@h1:99999/db",
        ] {
            let error = database(url).unwrap_err();
            assert!(
                error.starts_with("invalid DATABASE_URL (--database-url)"),
                "{error}"
            );
            assert!(!error.contains("pw"), "a password leaked: {error}");
        }
    }

    #[test]
    fn ttls_are_bounded_and_never_zero() {
        let access = |text: &str| {
            settings(&["--access-token-ttl-secs", text]).map(|s| s.access_token_ttl_secs)
        };
        assert_eq!(access("1"), Ok(1));
        assert_eq!(access("86400"), Ok(86_400));
        for bad in ["0", "86401", "-1", "15m", "", " 60", "1e3"] {
            assert!(access(bad).is_err(), "{bad}");
        }
        let authorization = |text: &str| {
            settings(&["--authorization-ttl-secs", text]).map(|s| s.authorization_ttl_secs)
        };
        assert_eq!(authorization("2592000"), Ok(2_592_000));
        for bad in ["0", "2592001", "99999999999999999999"] {
            assert!(authorization(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rate_limits_read_every_unit_and_off() {
        let rate = parse_rate_limit;
        assert_eq!(rate("off"), Ok(RateLimit::Off));
        for (text, period) in [
            ("5/s", RatePeriod::Second),
            ("5/min", RatePeriod::Minute),
            ("5/h", RatePeriod::Hour),
        ] {
            assert_eq!(
                rate(text),
                Ok(RateLimit::PerPeriod {
                    count: NonZeroU32::new(5).unwrap(),
                    period
                })
            );
            assert_eq!(rate(text).unwrap().to_string(), text);
        }
        for bad in [
            "", "5", "/s", "0/s", "-1/s", "+5/s", "5/m", "5/min/1", "OFF", "5 /s",
        ] {
            assert!(rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trusted_proxies_are_cidrs() {
        let proxies =
            |text: &str| settings(&["--trusted-proxies", text]).map(|s| s.trusted_proxies);
        assert_eq!(proxies("").unwrap(), Vec::<IpNet>::new());
        assert_eq!(
            proxies("10.0.0.0/8, ::1/128").unwrap(),
            vec![
                "10.0.0.0/8".parse::<IpNet>().unwrap(),
                "::1/128".parse().unwrap()
            ]
        );
        for bad in ["10.0.0.0/33", "10.0.0.1", "nope", "10.0.0.0/8,x"] {
            assert!(proxies(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redis_urls_need_a_redis_scheme_and_a_host() {
        let redis = |text: &str| settings(&["--redis-url", text]).map(|s| s.redis_url);
        for good in ["redis://127.0.0.1:6379", "rediss://u:pw@cache:6380/0"] {
            assert_eq!(redis(good).unwrap().unwrap().as_str(), good);
        }
        for bad in ["redis://", "http://u:pw@cache", "cache:6379"] {
            let error = redis(bad).unwrap_err();
            assert!(
                error.starts_with("invalid REDIS_URL (--redis-url)"),
                "{error}"
            );
            assert!(!error.contains("pw"), "a password leaked: {error}");
        }
    }

    #[test]
    fn the_pool_size_is_bounded() {
        let pool =
            |text: &str| settings(&["--db-max-connections", text]).map(|s| s.db_max_connections);
        assert_eq!(pool("1"), Ok(1));
        assert_eq!(pool("1000"), Ok(1000));
        for bad in ["0", "1001", "-1", "many"] {
            assert!(pool(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn insecure_webhooks_are_a_true_or_false() {
        let insecure = |text: &str| {
            settings(&["--webhook-allow-insecure", text]).map(|s| s.webhook_allow_insecure)
        };
        assert_eq!(insecure("true"), Ok(true));
        assert_eq!(insecure("false"), Ok(false));
        for bad in ["yes", "1", "TRUE", ""] {
            assert!(insecure(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhook_delivery_settings_parse_or_stop_the_start() {
        let private = |text: &str| {
            settings(&["--webhook-allow-private", text]).map(|s| s.webhook_allow_private)
        };
        assert_eq!(private("true"), Ok(true));
        assert_eq!(private("false"), Ok(false));
        assert!(private("yes").is_err());
        let schedule = |text: &str| {
            settings(&["--webhook-retry-schedule", text]).map(|s| s.webhook_retry_schedule)
        };
        assert_eq!(schedule("1s,2s").unwrap().max_attempts(), 3);
        for bad in ["", "0s", "soon", "1s,,2s"] {
            assert!(schedule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn log_settings_refuse_unknown_formats_and_bad_filters() {
        let log = |format: &str, filter: &str| {
            crate::cli::settings_from(&["--log-format", format, "--log-filter", filter], None)
                .map(|(_, log)| log)
        };
        assert_eq!(
            log("json", "coffre=debug,warn").unwrap().format,
            LogFormat::Json
        );
        let error = log("xml", "info").unwrap_err();
        assert!(
            error.starts_with("invalid COFFRE_LOG_FORMAT (--log-format) \"xml\""),
            "{error}"
        );
        let error = log("pretty", "info,[=").unwrap_err();
        assert!(
            error.starts_with("invalid RUST_LOG (--log-filter) \"info,[=\""),
            "{error}"
        );
    }

    #[test]
    fn an_empty_data_dir_is_refused() {
        let error = error_line(&["--data-dir", " "]);
        assert!(
            error.starts_with("invalid COFFRE_DATA_DIR (--data-dir)"),
            "{error}"
        );
    }

    #[test]
    fn every_error_is_one_line_naming_the_setting_both_ways() {
        let error = error_line(&["--listen", "abc"]);
        assert_eq!(
            error,
            "invalid COFFRE_LISTEN (--listen) \"abc\": expected HOST:PORT, such as 127.0.0.1:8080"
        );
        let error = error_line(&["--access-token-ttl-secs", "0"]);
        assert_eq!(
            error,
            "invalid COFFRE_ACCESS_TOKEN_TTL_SECS (--access-token-ttl-secs) \"0\": \
             expected whole seconds from 1 to 86400"
        );
    }

    #[test]
    fn a_short_secret_is_refused_without_printing_it() {
        let short = crate::cli::settings_from(&[], Some(b"s3cret".to_vec()));
        assert_eq!(
            short.unwrap_err(),
            "invalid COFFRE_JWT_SECRET: it is 6 bytes long; it must be at least 32 bytes"
        );
        assert!(crate::cli::settings_from(&[], Some(Vec::new())).is_err());
    }

    #[test]
    fn secrets_and_passwords_never_show_in_debug_output() {
        let args = [
            "--database-url",
            "postgres://u:pw-db@h/db",
            "--redis-url",
            "redis://:pw-redis@h",
        ];
        // Any bytes are a key: the secret is not text.
        let mut secret = b"s3cret-s3cret-s3cret-s3cret-s3cret".to_vec();
        secret.push(0xff);
        let (settings, _) = crate::cli::settings_from(&args, Some(secret)).unwrap();
        let printed = format!("{settings:?}");
        for hidden in ["s3cret", "pw-db", "pw-redis"] {
            assert!(!printed.contains(hidden), "{hidden} in {printed}");
        }
    }
}
