//! Integration test modules.

mod tidy;
mod crm_contract;
mod crm_encode;
