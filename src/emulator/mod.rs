//! Loopback emulators of the two services we cannot reach from here, faithful to the references.

pub mod crm;
pub mod graph;
