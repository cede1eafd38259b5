//! graph-connector: a declarative mapping engine that keeps Microsoft 365 mailboxes and Aurea CRM in sync.
//!
//! This crate is the edge: it reads files and secrets (`load`, `secrets`), talks to the services
//! (`transport`), wires configurations to transports (`connect`) and, with the default `sandbox` feature,
//! starts both emulators in-process (`sandbox`). The pure core — specs, checks, the mapping evaluation,
//! config types — is the `graph-connector-core` crate, re-exported here under its module names. See
//! ARCHITECTURE.md.

pub use graph_connector_core::{
    check, config, diag, directory, jinja, limits, mapping, model, plan, redact, scope, spec,
};
#[cfg(feature = "sandbox")]
pub use graph_connector_emulator as emulator;

pub mod connect;
pub mod load;
pub mod mapping_tests;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod secrets;
pub mod state;
pub mod sync;
pub mod transport;
