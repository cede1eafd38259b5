//! Integration test modules.

mod crm_contract;
mod crm_emulator;
mod crm_encode;
mod tidy;
