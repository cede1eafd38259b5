//! Golden tests of the XML the CRM client sends, one snapshot per command kind.
