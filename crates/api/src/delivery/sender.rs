//! One attempt over HTTP: signed headers, a deadline on the whole exchange, no redirects, no
//! proxies from the environment, and, unless private addresses are allowed, no connection to
//! one: the resolver drops them, so a name cannot be re-pointed between the check and the
//! connect.

use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use coffre_domain::delivery::{AttemptResult, NoAnswer, is_public_address};
use coffre_store::deliveries::MAX_RESPONSE_BODY_BYTES;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How long one attempt may take, from connecting to the last byte of the answer read.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// How long connecting may take, within [`ATTEMPT_TIMEOUT`].
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long resolving a host may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle connections kept per endpoint host, so a steady stream reuses them.
const IDLE_PER_HOST: usize = 2;

const USER_AGENT: &str = concat!("Coffre-Webhooks/", env!("CARGO_PKG_VERSION"));

/// The host resolves only to addresses an attempt may not reach.
#[derive(Debug, thiserror::Error)]
#[error("every address of the host is private, loopback, link-local or reserved")]
struct AddressRefused;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, 0)))
                .await
                .map_err(BoxError::from)??;
            let allowed: Vec<SocketAddr> = found
                .filter(|address| allow_private || is_public_address(address.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(BoxError::from(AddressRefused));
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// What one attempt got, how long it took, and the start of the answer's body.
#[derive(Debug)]
pub struct Sent {
    pub result: AttemptResult,
    pub duration_ms: u32,
    pub response_body: Option<String>,
}

/// The headers of one signed attempt (Standard Webhooks).
#[derive(Debug)]
pub struct Signed<'a> {
    pub id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
}

#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    pub fn new(allow_private: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(USER_AGENT)
            .pool_max_idle_per_host(IDLE_PER_HOST)
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .build()?;
        Ok(Self {
            client,
            allow_private,
        })
    }

    /// POSTs `body` to `url`; never longer than [`ATTEMPT_TIMEOUT`].
    pub async fn send(&self, url: &str, signed: &Signed<'_>, body: String) -> Sent {
        let started = Instant::now();
        let (result, response_body) = match self.exchange(url, signed, body).await {
            Ok(answer) => answer,
            Err(reason) => (AttemptResult::NoAnswer(reason), None),
        };
        Sent {
            result,
            duration_ms: u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX),
            response_body,
        }
    }

    async fn exchange(
        &self,
        url: &str,
        signed: &Signed<'_>,
        body: String,
    ) -> Result<(AttemptResult, Option<String>), NoAnswer> {
        let url = reqwest::Url::parse(url).map_err(|_| NoAnswer::Unreachable)?;
        let literal = url.host_str().and_then(|host| {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()
        });
        if let Some(ip) = literal
            && !self.allow_private
            && !is_public_address(ip)
        {
            return Err(NoAnswer::AddressRefused);
        }
        let mut response = self
            .client
            .post(url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", signed.id)
            .header("webhook-timestamp", signed.timestamp.to_string())
            .header("webhook-signature", signed.signature)
            .body(body)
            .send()
            .await
            .map_err(|error| no_answer(&error))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(retry_after);
        let mut kept: Vec<u8> = Vec::new();
        // Read until the cap; a body that breaks off still leaves its answer.
        while kept.len() < MAX_RESPONSE_BODY_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        Ok((
            AttemptResult::Answered {
                status,
                retry_after,
            },
            (!kept.is_empty()).then(|| kept_text(kept)),
        ))
    }
}

/// At most [`MAX_RESPONSE_BODY_BYTES`] of the body as text: bytes that are not UTF-8 replaced,
/// NUL (which PostgreSQL's text refuses) dropped, cut at a character boundary.
fn kept_text(bytes: Vec<u8>) -> String {
    let mut text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| *c != '\0')
        .collect();
    let mut end = text.len().min(MAX_RESPONSE_BODY_BYTES);
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    text.truncate(end);
    text
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(text: &str) -> Option<TimeDelta> {
    if let Ok(seconds) = text.trim().parse::<u32>() {
        return Some(TimeDelta::seconds(i64::from(seconds)));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text.trim()).ok()?;
    Some(
        at.signed_duration_since(chrono::Utc::now())
            .max(TimeDelta::zero()),
    )
}

fn no_answer(error: &reqwest::Error) -> NoAnswer {
    if error.is_timeout() {
        return NoAnswer::TimedOut;
    }
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<AddressRefused>() {
            return NoAnswer::AddressRefused;
        }
        source = cause.source();
    }
    NoAnswer::Unreachable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        assert_eq!(retry_after("120"), Some(TimeDelta::seconds(120)));
        assert_eq!(retry_after(" 7 "), Some(TimeDelta::seconds(7)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(TimeDelta::zero())
        );
        let later = (chrono::Utc::now() + TimeDelta::seconds(90)).to_rfc2822();
        let wait = retry_after(&later).unwrap();
        assert!(wait > TimeDelta::seconds(80) && wait <= TimeDelta::seconds(90));
        assert_eq!(retry_after("soon"), None);
        assert_eq!(retry_after("-5"), None);
    }

    #[test]
    fn a_kept_body_is_capped_text() {
        assert_eq!(kept_text(b"ok\0!".to_vec()), "ok!");
        assert_eq!(kept_text(vec![0xff, b'a']), "\u{fffd}a");
        let long = "é".repeat(MAX_RESPONSE_BODY_BYTES);
        let kept = kept_text(long.into_bytes());
        assert!(kept.len() <= MAX_RESPONSE_BODY_BYTES);
        assert_eq!(kept.len(), MAX_RESPONSE_BODY_BYTES);
    }
}
