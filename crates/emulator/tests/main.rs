//! One integration test binary for the emulator crate alone: each emulator is driven over plain HTTP,
//! with no product code (the product's clients are tested against it in the root crate's `tests/`).

mod it;
