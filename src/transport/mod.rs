//! The engine's two windows on the world: the CRM transport (CRM.interface) and the Graph transport.

pub mod crm;
pub mod graph;
