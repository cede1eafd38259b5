//! Diagnostics: a located problem (file, line, column, severity, message, expected, hint) and its renderings.
