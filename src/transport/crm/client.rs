//! CRM.interface over HTTP (placeholder while encode.rs settles).
