//! Open-loop load: iterations start on a clock at a constant arrival rate, whatever the server
//! is doing, and each one's latency runs from the moment it was scheduled, not from when it
//! was sent. A stall therefore shows in the latency of everything scheduled during it (no
//! coordinated omission), as it would for real clients arriving at that rate. At most
//! `connections` iterations are in flight (the clients' connections); one scheduled while all
//! are busy waits for one, and that wait counts in its latency.
//!
//! The saturation search doubles the rate from [`SEARCH_START`] until a run misses the target
//! (p99 over [`P99_TARGET`], a non-2xx answer, or fewer iterations completed than scheduled),
//! then bisects [`BISECTIONS`] times between the last rate that held and the first that did
//! not; the highest that held is the saturation. A rate misses only if its run misses twice
//! ([`MISS_RETRIES`]): the machines this runs on are shared, and one stall is not saturation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::{Bank, Outcome, Workload, iteration, millis, outcome_key};

/// The latency target of the saturation search.
pub const P99_TARGET: Duration = Duration::from_millis(100);
/// The first rate the search tries, per second.
const SEARCH_START: f64 = 200.0;
/// Doublings of the rate at most (200/s to 51,200/s), then bisections between held and missed.
const MAX_DOUBLINGS: usize = 8;
const BISECTIONS: usize = 4;
/// Runs of a rate that missed, repeated before it counts as missed.
const MISS_RETRIES: usize = 1;
/// A run holds its rate if it completes at least this share of what was scheduled per second.
const ACHIEVED_SHARE: f64 = 0.95;
/// The share of the saturation the final run goes at.
pub const STEADY_SHARE: f64 = 0.8;

/// Runs `workload` at `rate` iterations per second for `seconds`; the outcome's elapsed time
/// runs until the last iteration ended.
pub async fn run(
    bank: Arc<Bank>,
    workload: Workload,
    rate: f64,
    seconds: u64,
    connections: usize,
) -> Outcome {
    let slots = Arc::new(Semaphore::new(connections));
    let scheduled_count = (rate * seconds as f64).round() as u64;
    let started = Instant::now();
    let mut handles = Vec::new();
    for n in 0..scheduled_count {
        let scheduled = started + Duration::from_secs_f64(n as f64 / rate);
        // Does not wait when the schedule is already past: a late start still counts from its
        // scheduled time.
        tokio::time::sleep_until(scheduled.into()).await;
        let (bank, slots) = (bank.clone(), slots.clone());
        let customer = (n as usize) % bank.customers.len();
        handles.push(tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.unwrap();
            let (status, body) = iteration(&bank, customer, workload).await;
            (scheduled.elapsed(), status, outcome_key(status, &body))
        }));
    }
    let mut outcome = Outcome {
        completed: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::with_capacity(handles.len()),
        statuses: BTreeMap::new(),
    };
    for handle in handles {
        let (latency, status, key) = handle.await.unwrap();
        outcome.latencies.push(latency);
        if (200..300).contains(&status) {
            outcome.completed += 1;
        }
        *outcome.statuses.entry(key).or_default() += 1;
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// One line for a run at `rate`.
pub fn report(workload: Workload, rate: f64, outcome: &Outcome) -> String {
    format!(
        "{workload:?} @ {rate:.0}/s: completed {:.0}/s; p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, \
         max {:.1} ms; outcomes {:?}",
        outcome.rate(),
        millis(outcome.percentile(0.50)),
        millis(outcome.percentile(0.99)),
        millis(outcome.percentile(0.999)),
        millis(outcome.percentile(1.0)),
        outcome.statuses,
    )
}

/// Whether a run at `rate` met the target.
fn holds(rate: f64, outcome: &Outcome) -> bool {
    let all_succeeded = outcome.completed == outcome.latencies.len() as u64;
    all_succeeded
        && outcome.percentile(0.99) <= P99_TARGET
        && outcome.rate() >= rate * ACHIEVED_SHARE
}

/// Whether `workload` holds `rate` (printed as it goes): a run that misses is run again, up to
/// [`MISS_RETRIES`] times, so that one stall of a shared machine does not end the search.
async fn try_rate(
    bank: &Arc<Bank>,
    workload: Workload,
    rate: f64,
    seconds: u64,
    connections: usize,
) -> bool {
    for _ in 0..=MISS_RETRIES {
        let outcome = run(bank.clone(), workload, rate, seconds, connections).await;
        let verdict = holds(rate, &outcome);
        println!(
            "  search: {} → {}",
            report(workload, rate, &outcome),
            verdict_word(verdict)
        );
        if verdict {
            return true;
        }
    }
    false
}

/// The saturation of `workload`, searched with runs of `seconds` each.
pub async fn saturation(
    bank: Arc<Bank>,
    workload: Workload,
    seconds: u64,
    connections: usize,
) -> f64 {
    let mut held = 0.0;
    let mut missed = None;
    let mut rate = SEARCH_START;
    for _ in 0..MAX_DOUBLINGS {
        if !try_rate(&bank, workload, rate, seconds, connections).await {
            missed = Some(rate);
            break;
        }
        held = rate;
        rate *= 2.0;
    }
    let Some(mut missed) = missed else {
        return held;
    };
    for _ in 0..BISECTIONS {
        let rate = (held + missed) / 2.0;
        if try_rate(&bank, workload, rate, seconds, connections).await {
            held = rate;
        } else {
            missed = rate;
        }
    }
    held
}

fn verdict_word(held: bool) -> &'static str {
    if held { "held" } else { "missed" }
}
