//! The pure core: mapping evaluation (Graph item ⇄ CRM record) and sync planning. No I/O, no clock.
