//! JSON Schemas generated from the spec types, and validation of a parsed YAML document against them.
