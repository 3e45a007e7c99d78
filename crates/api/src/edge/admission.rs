//! Admission: how many requests run at once, for the whole process and for each client.
//!
//! Past [`MAX_IN_FLIGHT`] requests at once, or [`MAX_IN_FLIGHT_PER_CLIENT`] from one client
//! IP, the next request is refused at once with 503 `SERVICE_UNAVAILABLE` and `Retry-After: 1`
//! instead of queueing: a queue only turns overload into timeouts. It runs before the rate
//! limiter and the token check, so a refused request costs neither a signature check nor a
//! Redis round trip. One [`Admission`] lives in the application state: a `tower` concurrency
//! layer put on the router would be copied onto every route, each with its own bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::client_ip::ClientIp;
use crate::error::ApiError;
use crate::state::AppState;

/// Requests handled at once by the process.
pub const MAX_IN_FLIGHT: usize = 512;

/// Requests handled at once for one client IP: a quarter of the process's bound, so no
/// single client (or a handful) can take most of it. Clients behind one proxy share one IP
/// unless the proxy is in `COFFRE_TRUSTED_PROXIES`.
pub const MAX_IN_FLIGHT_PER_CLIENT: usize = MAX_IN_FLIGHT / 4;

/// Requests in flight per client IP; an IP with none is not kept.
type ClientCounts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// The in-flight bounds, shared by every route.
#[derive(Debug)]
pub struct Admission {
    max_in_flight: usize,
    slots: Arc<Semaphore>,
    per_client: ClientCounts,
    per_client_max: usize,
}

impl Default for Admission {
    fn default() -> Self {
        Self::new(MAX_IN_FLIGHT, MAX_IN_FLIGHT_PER_CLIENT)
    }
}

impl Admission {
    pub fn new(max_in_flight: usize, per_client_max: usize) -> Self {
        Self {
            max_in_flight,
            slots: Arc::new(Semaphore::new(max_in_flight)),
            per_client: Arc::new(Mutex::new(HashMap::new())),
            per_client_max,
        }
    }

    /// How many requests hold a slot now.
    pub fn in_flight(&self) -> usize {
        self.max_in_flight
            .saturating_sub(self.slots.available_permits())
    }

    /// A slot for a request from `client`, or `None` when the process or this client has
    /// none left. The slot is given back when the returned ticket drops.
    pub fn admit(&self, client: Option<IpAddr>) -> Option<Ticket> {
        let slot = Arc::clone(&self.slots).try_acquire_owned().ok()?;
        let client = match client {
            Some(ip) => {
                let mut counts = self
                    .per_client
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let count = counts.entry(ip).or_insert(0);
                if *count >= self.per_client_max {
                    return None;
                }
                *count = count.saturating_add(1);
                Some((ip, Arc::clone(&self.per_client)))
            }
            // In-process requests have no peer: only the process's bound applies.
            None => None,
        };
        Some(Ticket {
            _slot: slot,
            client,
        })
    }
}

/// One admitted request's slot.
#[derive(Debug)]
pub struct Ticket {
    _slot: OwnedSemaphorePermit,
    client: Option<(IpAddr, ClientCounts)>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some((ip, counts)) = &self.client {
            let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = counts.get_mut(ip) {
                *count = count.saturating_sub(1);
                // Forgotten at zero, so a flood of distinct addresses leaves nothing behind.
                if *count == 0 {
                    counts.remove(ip);
                }
            }
        }
    }
}

/// Answered whatever the load: a liveness probe that fails under overload gets a busy process
/// restarted, which only makes the overload worse. It does no I/O.
const LIVENESS_PATH: &str = "/healthz";

/// Admits the request or refuses it at once. The slot is held until the response is ready.
pub async fn admit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.uri().path() == LIVENESS_PATH {
        return next.run(request).await;
    }
    let client = request
        .extensions()
        .get::<ClientIp>()
        .and_then(|ClientIp(ip)| *ip);
    let Some(ticket) = state.admission().admit(client) else {
        return ApiError::Overloaded.into_response();
    };
    let response = next.run(request).await;
    drop(ticket);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_gets_its_share_and_the_process_its_bound() {
        let admission = Admission::new(4, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = admission.admit(Some(a)).unwrap();
        let _second = admission.admit(Some(a)).unwrap();
        assert!(admission.admit(Some(a)).is_none(), "past a's share");
        let _third = admission.admit(Some(b)).unwrap();
        let _fourth = admission.admit(None).unwrap();
        assert!(
            admission.admit(Some(b)).is_none(),
            "past the process's bound"
        );
        drop(first);
        assert!(admission.admit(Some(a)).is_some(), "a's slot came back");
    }
}
