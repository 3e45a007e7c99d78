//! Where the database is: a `postgres://` URL, with libpq's convention for several hosts
//! (`postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write`), which SQLx's URL parser
//! does not read. It is split here into one single-host URL per host, each of which SQLx parses
//! (user, password, database and every other parameter are the same for all hosts).

use std::fmt;
use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;

const SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];
/// libpq's parameter naming which server of the list a session may use.
const SESSION_ATTRS: &str = "target_session_attrs";

/// Which of the hosts a connection may use (libpq's `target_session_attrs`; Coffre reads the
/// two values that make sense for a service that writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetSession {
    /// The first host that answers (libpq's default).
    Any,
    /// A host whose sessions may write (`SHOW transaction_read_only` is `off`): the primary.
    ReadWrite,
}

/// A parsed PostgreSQL URL: its hosts in order, and which of them to use. Its `Debug` shows
/// the hosts and nothing of the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct PgTarget {
    /// `host[:port]` as given, for logs and errors.
    hosts: Vec<String>,
    /// The URL once for each host, naming that host alone.
    urls: Vec<String>,
    session: TargetSession,
}

/// Why a URL is not one Coffre can connect with. Never shows a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgUrlError {
    #[error("expected postgres://USER@HOST[:PORT][,HOST[:PORT]…]/DB")]
    NotPostgres,
    #[error("a host in the list is empty")]
    EmptyHost,
    #[error("target_session_attrs must be any or read-write (Coffre writes), not {0:?}")]
    SessionAttrs(String),
    #[error(
        "several hosts need target_session_attrs=read-write, so that Coffre connects to the \
         writable primary"
    )]
    SeveralHostsNeedReadWrite,
    /// Names the host by its place in the list: a URL that fails to parse may have put part
    /// of a password where the host should be.
    #[error("invalid settings for host {place} of the URL: {reason}")]
    Invalid { place: usize, reason: String },
}

impl PgTarget {
    /// `host[:port]` of each host, in the order they are tried.
    pub fn hosts(&self) -> &[String] {
        &self.hosts
    }

    pub const fn session(&self) -> TargetSession {
        self.session
    }

    /// SQLx's options for each host, in order.
    pub(crate) fn options(&self) -> Result<Vec<PgConnectOptions>, sqlx::Error> {
        self.urls.iter().map(|url| url.parse()).collect()
    }
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgTarget")
            .field("hosts", &self.hosts)
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl FromStr for PgTarget {
    type Err = PgUrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = SCHEMES
            .iter()
            .find_map(|scheme| Some((*scheme, url.strip_prefix(scheme)?)))
            .ok_or(PgUrlError::NotPostgres)?;
        let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest
            .split_at_checked(authority_len)
            .ok_or(PgUrlError::NotPostgres)?;
        // The password may hold an escaped '@' but never a bare one; a host never does.
        let (user_info, host_list) = match authority.rsplit_once('@') {
            Some((user_info, hosts)) => (format!("{user_info}@"), hosts),
            None => (String::new(), authority),
        };
        let (path, query) = tail.split_once('?').unwrap_or((tail, ""));

        let mut session = TargetSession::Any;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            match pair.split_once('=') {
                Some((SESSION_ATTRS, value)) => session = parse_session(value)?,
                _ => kept.push(pair),
            }
        }
        let query = if kept.is_empty() {
            String::new()
        } else {
            format!("?{}", kept.join("&"))
        };

        let hosts: Vec<String> = host_list.split(',').map(str::to_owned).collect();
        if hosts.len() > 1 {
            if hosts.iter().any(String::is_empty) {
                return Err(PgUrlError::EmptyHost);
            }
            if session != TargetSession::ReadWrite {
                return Err(PgUrlError::SeveralHostsNeedReadWrite);
            }
        }
        let urls = hosts
            .iter()
            .zip(1..)
            .map(|(host, place)| {
                let url = format!("{scheme}{user_info}{host}{path}{query}");
                PgConnectOptions::from_str(&url).map_err(|error| PgUrlError::Invalid {
                    place,
                    reason: error.to_string(),
                })?;
                Ok(url)
            })
            .collect::<Result<_, PgUrlError>>()?;
        Ok(Self {
            hosts,
            urls,
            session,
        })
    }
}

fn parse_session(value: &str) -> Result<TargetSession, PgUrlError> {
    match value {
        "any" => Ok(TargetSession::Any),
        "read-write" => Ok(TargetSession::ReadWrite),
        other => Err(PgUrlError::SessionAttrs(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> PgTarget {
        url.parse().unwrap()
    }

    #[test]
    fn one_host_is_the_url_as_given() {
        let one = target("postgres://u:pw@db.internal:5433/ledger?sslmode=disable");
        assert_eq!(one.hosts(), ["db.internal:5433"]);
        assert_eq!(one.session(), TargetSession::Any);
        assert_eq!(
            one.urls,
            ["postgres://u:pw@db.internal:5433/ledger?sslmode=disable"]
        );
        let options = one.options().unwrap();
        assert_eq!(options[0].get_host(), "db.internal");
        assert_eq!(options[0].get_port(), 5433);
        assert_eq!(options[0].get_database(), Some("ledger"));
        // No host at all: SQLx's defaults, as before.
        assert_eq!(target("postgresql:///ledger").hosts(), [""]);
    }

    #[test]
    fn several_hosts_become_one_url_each_in_order() {
        let pair = target(
            "postgres://u:p%40ss@10.0.0.1:5432,[::1]:5433,standby/ledger?sslmode=prefer&\
             target_session_attrs=read-write&application_name=x",
        );
        assert_eq!(pair.hosts(), ["10.0.0.1:5432", "[::1]:5433", "standby"]);
        assert_eq!(pair.session(), TargetSession::ReadWrite);
        assert_eq!(
            pair.urls[1],
            "postgres://u:p%40ss@[::1]:5433/ledger?sslmode=prefer&application_name=x"
        );
        let options = pair.options().unwrap();
        let hosts: Vec<(&str, u16)> = options
            .iter()
            .map(|options| (options.get_host(), options.get_port()))
            .collect();
        assert_eq!(
            hosts,
            [("10.0.0.1", 5432), ("[::1]", 5433), ("standby", 5432)]
        );
        for options in &options {
            assert_eq!(options.get_username(), "u");
            assert_eq!(options.get_database(), Some("ledger"));
        }
    }

    #[test]
    fn read_write_may_also_ask_one_host_to_be_writable() {
        let one = target("postgres://u@h/db?target_session_attrs=read-write");
        assert_eq!(one.session(), TargetSession::ReadWrite);
        assert_eq!(one.urls, ["postgres://u@h/db"]);
        let any = target("postgres://u@h/db?target_session_attrs=any");
        assert_eq!(any.session(), TargetSession::Any);
    }

    #[test]
    fn what_cannot_be_connected_to_is_refused_with_the_reason() {
        for (url, error) in [
            ("mysql://u@h/db", PgUrlError::NotPostgres),
            ("h1,h2/db", PgUrlError::NotPostgres),
            (
                "postgres://u@h1,,h2/db?target_session_attrs=read-write",
                PgUrlError::EmptyHost,
            ),
            (
                "postgres://u@h1,h2/db",
                PgUrlError::SeveralHostsNeedReadWrite,
            ),
            (
                "postgres://u@h1,h2/db?target_session_attrs=any",
                PgUrlError::SeveralHostsNeedReadWrite,
            ),
            (
                "postgres://u@h1/db?target_session_attrs=standby",
                PgUrlError::SessionAttrs("standby".into()),
            ),
        ] {
            assert_eq!(url.parse::<PgTarget>(), Err(error), "{url}");
        }
        let bad_port = "postgres://u:secret@h1:5432,h2:99999/db?target_session_attrs=read-write"
            .parse::<PgTarget>()
            .unwrap_err();
        match &bad_port {
            PgUrlError::Invalid { place, .. } => assert_eq!(*place, 2),
            other => panic!("expected the bad host named, got {other:?}"),
        }
        assert!(!bad_port.to_string().contains("secret"), "{bad_port}");
        // A bare '/' in a password ends the authority early: what follows is no host to show.
        let cut = "postgres://u:pa55/word@h/db"
            .parse::<PgTarget>()
            .unwrap_err();
        assert!(!cut.to_string().contains("pa55"), "{cut}");
    }

    #[test]
    fn debug_shows_the_hosts_and_no_password() {
        let pair = target("postgres://u:s3cret@h1,h2:5433/db?target_session_attrs=read-write");
        let shown = format!("{pair:?}");
        assert!(shown.contains("h2:5433"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
