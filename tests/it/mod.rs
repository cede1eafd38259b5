//! Integration test modules.

mod tidy;
