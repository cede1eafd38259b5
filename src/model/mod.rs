//! The validated, typed mapping model the engine runs on (no serde, no I/O).
