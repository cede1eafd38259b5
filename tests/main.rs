//! One integration test binary; each concern is a module under `tests/it/`.

mod it;
