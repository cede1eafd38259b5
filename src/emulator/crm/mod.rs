//! Emulator of Aurea CRM.interface: XML over HTTP on loopback, backed by a seeded record store.
