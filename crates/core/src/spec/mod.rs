//! Raw mapping specs as written in YAML (serde + schemars types), before `check` turns them into `model`.
//!
//! These types mirror the files one to one: a resource file (`mappings/event.yaml`) is a
//! [`MappingSpec`], a template overlay (`mappings/templates/isi.yaml`) an [`OverlaySpec`], and a test
//! file (`mappings/event.test.yaml`) a [`TestSuite`]. Every field's doc comment becomes schema text, so
//! editors show it on hover. Meaning (paths parse, fields exist, catalogs resolve) is checked in
//! `crate::check`, not here.

pub mod mapping;
pub mod overlay;
pub mod schema;
pub mod tests;
pub mod yaml;

pub use mapping::MappingSpec;
pub use overlay::OverlaySpec;
pub use tests::{DirectorySpec, TestSuite};
