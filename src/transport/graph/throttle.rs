//! Staying within Graph's limits: the process-wide per-mailbox concurrency cap and the retry policy.
//!
//! Outlook allows 4 concurrent requests per app and mailbox; more gives 429 `MailboxConcurrency`. Every
//! request for a mailbox holds a permit of one semaphore shared by every client in the process that talks to
//! the same Graph endpoint, so parallel workers cannot exceed the cap together. Waits go through
//! [`Clock`](crate::transport::clock::Clock) so tests can run on tokio's paused time.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, SystemTime},
};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How the client retries throttled and transient failures.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff when Graph sends no `Retry-After` (doubles each time, jittered).
    pub min_backoff: Duration,
    /// Cap of the backoff.
    pub max_backoff: Duration,
    /// Cap on an honoured `Retry-After` (a broken server must not park a worker for hours).
    pub max_retry_after: Duration,
    /// Seed of the backoff jitter, for reproducible tests; `None` seeds randomly.
    pub jitter_seed: Option<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            min_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(120),
            max_retry_after: Duration::from_secs(300),
            jitter_seed: None,
        }
    }
}

impl RetryPolicy {
    /// The backoff schedule used when `Retry-After` is absent: 2, 4, 8… s (jittered), capped.
    pub fn backoff(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        let builder = ExponentialBuilder::new()
            .with_min_delay(self.min_backoff)
            .with_max_delay(self.max_backoff)
            .with_factor(2.0)
            .with_max_times(self.max_attempts as usize);
        let builder = match self.jitter_seed {
            Some(seed) => builder.with_jitter_seed(seed),
            None => builder.with_jitter(),
        };
        // backon's jitter adds up to 100 % of the delay; the cap holds after jitter too.
        let cap = self.max_backoff;
        builder.build().map(move |d| d.min(cap))
    }

    /// How long to wait before the next attempt: the server's `Retry-After` (capped), else the backoff.
    pub fn wait(
        &self,
        retry_after: Option<Duration>,
        backoff: &mut dyn Iterator<Item = Duration>,
    ) -> Duration {
        match retry_after {
            Some(d) => {
                // Keep the backoff schedule moving so a later absent Retry-After waits longer.
                backoff.next();
                d.min(self.max_retry_after)
            }
            None => backoff.next().unwrap_or(self.max_backoff),
        }
    }
}

/// Statuses worth retrying: throttling and transient server errors (408 too).
pub fn is_retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// Statuses after which the server may have executed the request (a retried create could duplicate it).
pub fn is_ambiguous(status: u16) -> bool {
    matches!(status, 408 | 500 | 502 | 503 | 504)
}

/// Parses `Retry-After`: integer seconds, decimal seconds (seen inside `$batch`), or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Per-mailbox concurrency cap shared by every client of one Graph endpoint in this process.
#[derive(Clone)]
pub struct MailboxLimiter {
    inner: Arc<LimiterInner>,
}

struct LimiterInner {
    per_mailbox: usize,
    mailboxes: Mutex<HashMap<String, MailboxSlot>>,
}

struct MailboxSlot {
    semaphore: Arc<Semaphore>,
    in_flight: usize,
    max_in_flight: usize,
}

impl fmt::Debug for MailboxLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailboxLimiter")
            .field("per_mailbox", &self.inner.per_mailbox)
            .finish_non_exhaustive()
    }
}

impl MailboxLimiter {
    /// A limiter of its own (tests); production code uses `shared`.
    pub fn new(per_mailbox: usize) -> MailboxLimiter {
        MailboxLimiter {
            inner: Arc::new(LimiterInner {
                per_mailbox: per_mailbox.max(1),
                mailboxes: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The process-wide limiter for one Graph endpoint and app (`key`, e.g. graph url + tenant + client id).
    pub fn shared(key: &str, per_mailbox: usize) -> MailboxLimiter {
        static REGISTRY: OnceLock<Mutex<HashMap<String, MailboxLimiter>>> = OnceLock::new();
        let mut map = REGISTRY
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.entry(key.to_owned())
            .or_insert_with(|| MailboxLimiter::new(per_mailbox))
            .clone()
    }

    /// The cap per mailbox.
    pub fn per_mailbox(&self) -> usize {
        self.inner.per_mailbox
    }

    /// Waits for `n` permits (at most the cap) of `mailbox` (case-insensitive).
    pub async fn acquire(&self, mailbox: &str, n: usize) -> MailboxPermit {
        let key = mailbox.to_ascii_lowercase();
        let n = n.clamp(1, self.inner.per_mailbox);
        let semaphore = {
            let mut map = self.lock();
            map.entry(key.clone())
                .or_insert_with(|| MailboxSlot {
                    semaphore: Arc::new(Semaphore::new(self.inner.per_mailbox)),
                    in_flight: 0,
                    max_in_flight: 0,
                })
                .semaphore
                .clone()
        };
        let permit = semaphore
            .acquire_many_owned(n as u32)
            .await
            .expect("mailbox semaphores are never closed");
        {
            let mut map = self.lock();
            if let Some(slot) = map.get_mut(&key) {
                slot.in_flight += n;
                slot.max_in_flight = slot.max_in_flight.max(slot.in_flight);
            }
        }
        MailboxPermit {
            limiter: self.clone(),
            key,
            n,
            _permit: permit,
        }
    }

    /// The most requests this process had in flight for `mailbox` at once.
    pub fn max_in_flight(&self, mailbox: &str) -> usize {
        self.lock()
            .get(&mailbox.to_ascii_lowercase())
            .map_or(0, |s| s.max_in_flight)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, MailboxSlot>> {
        self.inner
            .mailboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// Held while a request for a mailbox is in flight; released on drop (also before a backoff sleep).
pub struct MailboxPermit {
    limiter: MailboxLimiter,
    key: String,
    n: usize,
    _permit: OwnedSemaphorePermit,
}

impl Drop for MailboxPermit {
    fn drop(&mut self) {
        if let Some(slot) = self.limiter.lock().get_mut(&self.key) {
            slot.in_flight = slot.in_flight.saturating_sub(self.n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_variants() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 2.128 ", now),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(
            parse_retry_after("0.249", now),
            Some(Duration::from_millis(249))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            min_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(10),
            jitter_seed: Some(7),
            ..RetryPolicy::default()
        };
        let delays: Vec<_> = policy.backoff().collect();
        assert_eq!(delays.len(), 10);
        // Jitter adds up to 100 % on top of the exponential value, never beyond the cap.
        assert!(
            delays[0] >= Duration::from_secs(2) && delays[0] <= Duration::from_secs(4),
            "{delays:?}"
        );
        assert!(delays[3] >= Duration::from_secs(10), "{delays:?}");
        assert!(
            delays.iter().all(|d| *d <= Duration::from_secs(10)),
            "{delays:?}"
        );
        let mut it = policy.backoff();
        assert_eq!(
            policy.wait(Some(Duration::from_secs(1000)), &mut it),
            policy.max_retry_after
        );
    }

    #[tokio::test]
    async fn limiter_caps_and_counts() {
        let limiter = MailboxLimiter::new(4);
        let a = limiter.acquire("Ana@contoso.com", 3).await;
        let b = limiter.acquire("ana@contoso.com", 1).await;
        assert_eq!(limiter.max_in_flight("ana@contoso.com"), 4);
        let mut fifth = Box::pin(limiter.acquire("ana@contoso.com", 1));
        assert!(
            futures::poll!(&mut fifth).is_pending(),
            "a fifth permit must wait"
        );
        let _other = limiter.acquire("ben@contoso.com", 4).await;
        drop(a);
        assert!(
            futures::poll!(&mut fifth).is_ready(),
            "a released permit must wake the waiter"
        );
        drop(fifth);
        drop(b);
        let _c = limiter.acquire("ana@contoso.com", 9).await;
        assert_eq!(limiter.max_in_flight("ana@contoso.com"), 4);
    }
}
