//! Raw mapping specs as written in YAML (serde + schemars types), before `check` turns them into `model`.
