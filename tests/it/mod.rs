//! Integration test modules.

mod config;
mod schema;
mod tidy;
mod validate;
