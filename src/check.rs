//! Semantic checks of mapping specs and overlays: spec in, every `Diagnostic` out (no early return).
