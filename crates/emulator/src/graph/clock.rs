//! The emulator's controllable clock: real time plus an offset tests can advance (token and secret
//! expiry, request budget windows, subscription lifetimes).

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

use crate::lock;

/// Real time plus an offset tests can advance.
#[derive(Debug)]
pub(crate) struct Clock {
    offset: Mutex<SignedDuration>,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            offset: Mutex::new(SignedDuration::ZERO),
        }
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::now() + *lock(&self.offset)
    }

    pub fn advance(&self, by: SignedDuration) {
        *lock(&self.offset) += by;
    }
}
