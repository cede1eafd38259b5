//! Integration test modules.

mod graph_corpus;
mod tidy;
mod graph_client;
mod graph_emulator;
mod graph_emulator_corpus;
