//! Integration test modules.

mod config;
mod mapping_check;
mod mapping_engine;
mod mapping_tests;
mod schema;
mod tidy;
mod validate;
