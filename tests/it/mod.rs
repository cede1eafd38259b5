//! Integration test modules.

mod config;
mod crm_contract;
mod crm_emulator;
mod crm_encode;
mod doctor;
mod graph_client;
mod graph_corpus;
mod graph_emulator;
mod graph_emulator_corpus;
mod map_to_crm;
mod mapping_check;
mod mapping_engine;
mod mapping_tests;
mod schema;
mod state_contract;
mod tidy;
mod validate;
