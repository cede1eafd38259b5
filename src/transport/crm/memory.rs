//! In-memory fake of the CRM (placeholder).
