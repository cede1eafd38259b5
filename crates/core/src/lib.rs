//! The pure core of graph-connector: data in, data out, no I/O.
//!
//! `spec` (YAML → raw types with line:col) → `check` (every diagnostic) → `model` (the validated mapping set)
//! → `mapping` (Graph item ⇄ CRM record). `config` holds the connector's configuration *types*; files,
//! secrets, HTTP, databases and the clock live in the `graph-connector` crate. This crate's manifest names
//! no tokio, reqwest, sqlx or axum, so a core that does I/O does not compile. See ARCHITECTURE.md.

pub mod check;
pub mod config;
pub mod diag;
pub mod directory;
pub mod jinja;
pub mod limits;
pub mod mapping;
pub mod model;
pub mod plan;
pub mod redact;
pub mod scope;
pub mod spec;
