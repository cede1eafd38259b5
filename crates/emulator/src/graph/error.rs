//! The emulator's one public error type, at the bottom of the module graph so the seed parser and the
//! server can both return it.

use std::net::SocketAddr;

/// Errors starting the emulator or using its test helpers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("graph emulator seed {origin}: {message}")]
    Seed { origin: String, message: String },
    // The field is not named `source`: thiserror would chain it and `{:#}` would print the cause twice.
    #[error("graph emulator cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("graph emulator: {0}")]
    Helper(String),
}
