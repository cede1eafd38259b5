//! Integration test modules.

mod graph_client;
mod graph_corpus;
mod graph_emulator;
mod graph_emulator_corpus;
mod tidy;
