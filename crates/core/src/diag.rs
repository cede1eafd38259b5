//! Diagnostics: a located problem (file, line, column, severity, message, expected, hint) and its renderings.
//!
//! Every check in the product (YAML syntax, schema, semantic checks, config loading) reports through
//! [`Diagnostic`], so `validate` can print them all the same way: `FILE:LINE:COL: error: MESSAGE`, then an
//! optional `  expected: …` and `  hint: …` line.

use std::fmt;

use serde::Serialize;

/// How bad a diagnostic is: errors make `validate` fail; warnings only with `--deny-warnings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One located problem. `line` and `column` are 1-based; `0` means "the whole file".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub severity: Severity,
    pub message: String,
    /// What would have been accepted, e.g. `one of: free, busy, oof`.
    pub expected: Option<String>,
    /// A suggestion, e.g. ``did you mean `A031Location`?``.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error at `file:line:column`.
    pub fn error(
        file: impl Into<String>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, file, line, column, message)
    }

    /// A warning at `file:line:column`.
    pub fn warning(
        file: impl Into<String>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, file, line, column, message)
    }

    /// A diagnostic of the given severity at `file:line:column`.
    pub fn new(
        severity: Severity,
        file: impl Into<String>,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            line,
            column,
            severity,
            message: message.into(),
            expected: None,
            hint: None,
        }
    }

    /// Sets what was expected (`expected: …` line).
    #[must_use]
    pub fn with_expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// Sets a hint (`hint: …` line).
    #[must_use]
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the hint when there is one (handy with [`did_you_mean`]).
    #[must_use]
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        if hint.is_some() {
            self.hint = hint;
        }
        self
    }

    /// Whether this is an error (as opposed to a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Text rendering: `FILE:LINE:COL: error: MESSAGE` (`FILE: error: MESSAGE` for a whole file), then `  expected: …` and `  hint: …` when present.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}: {}", self.file, self.severity, self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.file, self.line, self.column, self.severity, self.message
            )?;
        }
        if let Some(expected) = &self.expected {
            write!(f, "\n  expected: {expected}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Sorts diagnostics by file, then position, then severity, keeping the order of equal ones.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.severity).cmp(&(&b.file, b.line, b.column, b.severity))
    });
}

/// Counts `(errors, warnings)`.
pub fn count(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    (errors, diagnostics.len() - errors)
}

/// ``did you mean `x`?`` for the candidate closest to `word`, if any is close enough.
///
/// Close enough means a Jaro-Winkler similarity of at least 0.8, or a case-insensitive match.
pub fn did_you_mean<I, S>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

/// The candidate closest to `word` (see [`did_you_mean`]), if any is close enough.
pub fn closest<I, S>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let lower = word.to_lowercase();
    let mut best: Option<(f64, String)> = None;
    for candidate in candidates {
        let candidate = candidate.as_ref();
        if candidate == word {
            continue;
        }
        let score = if candidate.to_lowercase() == lower {
            1.0
        } else {
            strsim::jaro_winkler(&lower, &candidate.to_lowercase())
        };
        if score >= 0.8 && best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((score, candidate.to_string()));
        }
    }
    best.map(|(_, c)| c)
}

/// `one of: a, b, c` for `expected:` lines (the style of every check).
pub fn one_of<I, S>(names: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    format!("one of: {}", list(names))
}

/// Joins names as `a, b, c`.
pub fn list<I, S>(names: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.as_ref().to_string();
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_expected_and_hint() {
        let d = Diagnostic::error("m.yaml", 12, 5, "unknown key `fieldz`")
            .with_expected(one_of(["fields", "filters"]))
            .with_hint_opt(did_you_mean("fieldz", ["fields", "filters"]));
        assert_eq!(
            d.to_string(),
            "m.yaml:12:5: error: unknown key `fieldz`\n  expected: one of: fields, filters\n  hint: did you mean `fields`?"
        );
    }

    #[test]
    fn did_you_mean_needs_a_close_candidate() {
        assert_eq!(
            did_you_mean("A031Locaton", ["A031Location", "Subject"]).as_deref(),
            Some("did you mean `A031Location`?")
        );
        assert_eq!(did_you_mean("zzz", ["A031Location", "Subject"]), None);
        assert_eq!(
            closest("showas", ["ShowAs", "Show"]).as_deref(),
            Some("ShowAs")
        );
    }

    #[test]
    fn json_shape() {
        let d = Diagnostic::warning("c.yaml", 1, 2, "m");
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"file": "c.yaml", "line": 1, "column": 2, "severity": "warning",
                "message": "m", "expected": null, "hint": null})
        );
    }
}
