//! The edge: who the client is (trusted proxies), how often it may call (rate limits), what
//! the server is doing (metrics).

pub mod client_ip;
pub mod metrics;
pub mod rate_limit;
