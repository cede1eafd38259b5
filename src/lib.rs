//! graph-connector: a declarative mapping engine that keeps Microsoft 365 mailboxes and Aurea CRM in sync.
//!
//! The crate is split into a pure core (`spec` → `check` → `model` → `engine`: data in, data out, no I/O)
//! and the edges that talk to the world (`transport`, `emulator`, `cli`). See ARCHITECTURE.md.

pub mod check;
pub mod cli;
pub mod config;
pub mod diag;
pub mod emulator;
pub mod engine;
pub mod load;
pub mod model;
pub mod spec;
pub mod state;
pub mod transport;
