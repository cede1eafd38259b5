//! The limits hostile input meets: one place for every size, depth and work budget the connector
//! enforces, so code, tests and `docs/limits.md` name the same numbers.
//!
//! Each limit is far above what a legitimate file or item needs and low enough that one input cannot
//! take the process down: past it the input is refused with a located error (files) or the piece is left
//! out with a warning naming the item and field (item data), and every other item is still mapped.

/// Bytes of one YAML or JSON file read from disk (mapping specs, overlays, test files, directory files,
/// the config, emulator seeds, `map --input`).
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Bytes of a secret read through a `file:` reference.
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Values one YAML document may expand to, every alias expansion counted.
pub const MAX_YAML_NODES: usize = 250_000;

/// Bytes of text (scalars, keys and node paths) one YAML document may expand to, every alias
/// expansion counted.
pub const MAX_YAML_BYTES: usize = 64 * 1024 * 1024;

/// Nesting depth of sequences and mappings in one YAML document.
pub const MAX_YAML_DEPTH: usize = 64;

/// minijinja fuel of one template render: about one unit per instruction and per 64 bytes of data
/// created, so it bounds both the time (well under a second) and the memory (about 64 MiB) of a render.
pub const TEMPLATE_FUEL: u64 = 1_000_000;

/// Bytes one template render may output; more is a warning and the field is left out. Big enough for a
/// template that carries a whole e-mail or meeting body (the shipped event mapping's `Text`), as large as
/// an input file may be.
pub const MAX_TEMPLATE_OUTPUT: usize = 32 * 1024 * 1024;

/// The largest width or precision a `format` conversion (`%10.2f`) may ask for.
pub const MAX_FORMAT_WIDTH: usize = 1_000;

/// The largest width the `indent` filter may indent by.
pub const MAX_INDENT: usize = 100;

/// The largest count a string or list may be repeated by with `*`.
pub const MAX_REPEAT: usize = 100_000;

/// Nesting levels of lists that indent their items in HTML → text (deeper lists indent no further).
pub const MAX_HTML_LIST_INDENT: usize = 8;

/// Participants (attendees, recipients) of one item that are resolved; the rest are left out with a
/// warning.
pub const MAX_PARTICIPANTS: usize = 10_000;
