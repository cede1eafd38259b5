//! Integration test modules of the emulator crate, one per emulator.

mod crm_emulator;
mod graph_emulator;
