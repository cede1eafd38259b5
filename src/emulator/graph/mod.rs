//! Emulator of Microsoft Graph v1.0 (and the Entra token endpoint) on loopback, from a YAML seed.
