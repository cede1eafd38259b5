//! Time as the transports see it: a `Clock` trait so tests can run on tokio's paused time (or record every
//! wait), and [`TokioClock`], the production clock.

use std::{
    fmt,
    time::{Duration, SystemTime},
};

use futures::future::BoxFuture;

/// Time as the transport sees it. The default uses tokio's clock, which `tokio::time::pause` controls.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Monotonic now (token expiry).
    fn now(&self) -> tokio::time::Instant;
    /// Wall-clock now (only to read `Retry-After` HTTP dates).
    fn wall(&self) -> SystemTime;
    /// Waits `d`.
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()>;
}

/// `Clock` on tokio time (honours `tokio::time::pause`).
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> tokio::time::Instant {
        tokio::time::Instant::now()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, d: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(d))
    }
}
