//! Integration test modules.

mod config;
mod crm_contract;
mod crm_emulator;
mod crm_encode;
mod doctor;
mod ext_keys;
mod form_lists;
mod graph_client;
mod graph_corpus;
mod graph_emulator;
mod graph_failures;
mod hostile;
mod map_to_crm;
mod mapping_check;
mod mapping_engine;
mod mapping_tests;
mod plan;
mod schema;
mod state_contract;
mod sync;
mod tidy;
mod transport_edges;
mod validate;
