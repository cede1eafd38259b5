//! `CrmTransport`: the engine's only view of Aurea CRM, and its implementations.
