//! The edge: who the client is (trusted proxies), how many of its requests run at once
//! (admission), how long its body may take (deadlines), how often it may call (rate limits),
//! what the server is doing (metrics).

pub mod admission;
pub mod client_ip;
pub mod deadlines;
pub mod metrics;
pub mod rate_limit;
