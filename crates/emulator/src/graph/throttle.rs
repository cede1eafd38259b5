//! Throttling per app × mailbox (4 concurrent requests, a request budget per window), seeded fault
//! injection, and the request counters tests and benchmarks read.

use std::{
    collections::{BTreeMap, HashMap},
    time::Duration,
};

use rand::{RngExt, SeedableRng, rngs::StdRng};
use serde::Serialize;

/// How a fault's `Retry-After` header is written.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum RetryAfter {
    /// `Retry-After: 2`
    Integer(u32),
    /// `Retry-After: 0.25` (seen inside `$batch` and in the throttling docs).
    Decimal(f64),
    /// No header: the client must back off on its own.
    Absent,
}

impl RetryAfter {
    pub fn header(self) -> Option<String> {
        match self {
            RetryAfter::Integer(n) => Some(n.to_string()),
            RetryAfter::Decimal(f) => Some(format!("{f}")),
            RetryAfter::Absent => None,
        }
    }
}

/// Random failures injected into Graph calls (never into the token endpoint unless asked).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Faults {
    /// Probability (0.0–1.0) that a Graph request fails.
    pub rate: f64,
    /// Statuses to pick from (429, 503, 504, 500, 502…).
    pub statuses: Vec<u16>,
    /// `Retry-After` variants to pick from, uniformly.
    pub retry_after: Vec<RetryAfter>,
    /// Added delay before each Graph request is handled.
    pub latency: Duration,
    /// Also fail token requests.
    pub include_token: bool,
    /// Also fail `$batch` sub-requests (each one drawn on its own).
    pub include_batch_items: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            rate: 0.0,
            statuses: vec![429, 503, 504],
            retry_after: vec![
                RetryAfter::Integer(1),
                RetryAfter::Decimal(0.25),
                RetryAfter::Absent,
            ],
            latency: Duration::ZERO,
            include_token: false,
            include_batch_items: true,
        }
    }
}

impl Faults {
    /// No failures, no latency.
    pub fn none() -> Faults {
        Faults::default()
    }
    /// Fails `rate` of requests with 429/503/504 and every Retry-After variant.
    pub fn rate(rate: f64) -> Faults {
        Faults {
            rate,
            ..Faults::default()
        }
    }
}

/// Exchange's per app × mailbox limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThrottleSettings {
    /// Concurrent requests allowed per app × mailbox (Graph: 4).
    pub concurrency: usize,
    /// Requests allowed per app × mailbox per window (Graph: 10,000 per 10 min).
    pub budget: u64,
    pub window: Duration,
    /// `Retry-After` sent with a concurrency 429.
    pub concurrency_retry_after: RetryAfter,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings {
            concurrency: 4,
            budget: 10_000,
            window: Duration::from_secs(600),
            concurrency_retry_after: RetryAfter::Integer(1),
        }
    }
}

/// Snapshot of the request counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counters {
    /// All requests reaching the emulator (token and Graph, `$batch` items included).
    pub requests: u64,
    /// Per endpoint template, e.g. `GET /users/{id}/mailFolders/{id}/messages/delta`.
    pub per_endpoint: BTreeMap<String, u64>,
    /// Per mailbox (user principal name).
    pub per_mailbox: BTreeMap<String, u64>,
    /// 429 responses sent (concurrency, budget and injected).
    pub throttled_429: u64,
    /// 429s for exceeding the concurrency limit.
    pub concurrency_429: u64,
    /// 429s for exceeding the request budget.
    pub budget_429: u64,
    /// Injected faults by status.
    pub faults: BTreeMap<u16, u64>,
    /// Highest number of requests in flight at once per mailbox, counting the one that was
    /// refused: a value above the limit means the client sent too many at once.
    pub max_in_flight: BTreeMap<String, usize>,
    /// Responses by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests on Outlook item routes (messages, events, contacts, folders, calendarView, their
    /// deltas) and subscription creates sent without `Prefer: IdType="ImmutableId"`, per endpoint
    /// template: they see regular ids, which change when an item moves. A client that keeps ids
    /// must leave this empty.
    pub without_immutable_id: BTreeMap<String, u64>,
    /// Change notifications delivered (2xx within 3 s) and given up after retries.
    pub notifications_delivered: u64,
    pub notifications_failed: u64,
}

/// Mutable throttling state.
pub struct Throttle {
    pub settings: ThrottleSettings,
    pub faults: Faults,
    pub rng: StdRng,
    pub in_flight: HashMap<(usize, usize), usize>,
    /// (window start in seconds of the emulator clock, count)
    pub budget: HashMap<(usize, usize), (i64, u64)>,
    pub counters: Counters,
}

/// What admission decided.
pub enum Admission {
    Admitted,
    Concurrency,
    Budget { retry_after_secs: i64 },
}

impl Throttle {
    pub fn new(settings: ThrottleSettings, faults: Faults, rng_seed: u64) -> Throttle {
        Throttle {
            settings,
            faults,
            rng: StdRng::seed_from_u64(rng_seed ^ 0x5eed_f417),
            in_flight: HashMap::new(),
            budget: HashMap::new(),
            counters: Counters::default(),
        }
    }

    /// Admits a request for (app, mailbox) or tells why not; admitted requests must be released.
    pub fn admit(&mut self, key: (usize, usize), mailbox_name: &str, now_secs: i64) -> Admission {
        let n = self.in_flight.entry(key).or_insert(0);
        *n += 1;
        let attempted = *n;
        let max = self
            .counters
            .max_in_flight
            .entry(mailbox_name.to_owned())
            .or_insert(0);
        *max = (*max).max(attempted);
        if attempted > self.settings.concurrency {
            *self.in_flight.get_mut(&key).expect("present") -= 1;
            return Admission::Concurrency;
        }
        let window = self.settings.window.as_secs().max(1) as i64;
        let slot = self.budget.entry(key).or_insert((now_secs, 0));
        if now_secs >= slot.0 + window {
            *slot = (now_secs, 0);
        }
        slot.1 += 1;
        if slot.1 > self.settings.budget {
            let retry = (slot.0 + window - now_secs).max(1);
            *self.in_flight.get_mut(&key).expect("present") -= 1;
            return Admission::Budget {
                retry_after_secs: retry,
            };
        }
        Admission::Admitted
    }

    pub fn release(&mut self, key: (usize, usize)) {
        if let Some(n) = self.in_flight.get_mut(&key) {
            *n = n.saturating_sub(1);
        }
    }

    /// Draws whether this request fails, and how.
    pub fn draw_fault(&mut self) -> Option<(u16, RetryAfter)> {
        if self.faults.rate <= 0.0 || self.faults.statuses.is_empty() {
            return None;
        }
        if !self.rng.random_bool(self.faults.rate.min(1.0)) {
            return None;
        }
        let status = self.faults.statuses[self.rng.random_range(0..self.faults.statuses.len())];
        let retry = if self.faults.retry_after.is_empty() {
            RetryAfter::Absent
        } else {
            self.faults.retry_after[self.rng.random_range(0..self.faults.retry_after.len())]
        };
        *self.counters.faults.entry(status).or_insert(0) += 1;
        Some((status, retry))
    }

    pub fn in_flight_for(&self, mailbox: usize) -> usize {
        self.in_flight
            .iter()
            .filter(|((_, m), _)| *m == mailbox)
            .map(|(_, n)| *n)
            .sum()
    }
}
