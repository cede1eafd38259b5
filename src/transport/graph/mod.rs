//! `GraphTransport`: the engine's only view of Microsoft Graph, and its implementations.

pub mod types;
