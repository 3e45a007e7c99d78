//! The client's address: the TCP peer, unless the peer is a trusted proxy, in which case
//! `X-Forwarded-For` is read from the right, past every trusted hop, to the first address
//! that is not one. A client can write anything at the left of that header; only what trusted
//! proxies appended is believed.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderMap;
use ipnet::IpNet;

use crate::state::AppState;

pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address as Coffre believes it; `None` when the connection has no peer
/// address (in-process tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

/// Walks the proxies' hops right to left and stops at the first untrusted address. A hop that
/// does not parse ends the walk at the trusted proxy that reported it.
pub fn resolve(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => nearest = ip,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(nearest),
        }
    }
    Some(nearest)
}

/// Stores the [`ClientIp`] for everything after it: the rate limiter, the audit context, the
/// login throttle.
pub async fn client_ip(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let ip = resolve(peer, request.headers(), &state.settings().trusted_proxies);
    request.extensions_mut().insert(ClientIp(ip));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(FORWARDED_FOR, value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let forged = headers(&["1.2.3.4"]);
        assert_eq!(
            resolve(Some(ip("203.0.113.9")), &forged, &[]),
            Some(ip("203.0.113.9"))
        );
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            resolve(Some(ip("203.0.113.9")), &forged, &trusted),
            Some(ip("203.0.113.9"))
        );
    }

    #[test]
    fn trusted_hops_are_skipped_from_the_right() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer = Some(ip("10.0.0.1"));
        // The client forged the leftmost entry; the proxies appended the rest.
        let chain = headers(&["6.6.6.6, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(resolve(peer, &chain, &trusted), Some(ip("198.51.100.7")));
        // Without a header, or with only trusted hops, the nearest trusted address stands.
        assert_eq!(resolve(peer, &headers(&[]), &trusted), Some(ip("10.0.0.1")));
        assert_eq!(
            resolve(peer, &headers(&["10.0.0.3"]), &trusted),
            Some(ip("10.0.0.3"))
        );
        // Garbage stops the walk at the proxy that reported it.
        assert_eq!(
            resolve(
                peer,
                &headers(&["198.51.100.7, not-an-ip, 10.0.0.2"]),
                &trusted
            ),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(resolve(None, &chain, &trusted), None);
    }
}
