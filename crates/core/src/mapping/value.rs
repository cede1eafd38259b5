//! Typed CRM field values and the mapped record.

use indexmap::IndexMap;
use jiff::civil::{Date, Time};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::time::format_time;

/// A CRM field value with its type. On the wire (and in `map` output): dates `YYYY-MM-DD`, times
/// `HH:MM`, booleans `true`/`false`.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    Text(String),
    Bool(bool),
    Int(i64),
    Number(f64),
    Date(Date),
    Time(Time),
}

impl FieldValue {
    /// The JSON form used in `map` output and test expectations.
    pub fn to_json(&self) -> Value {
        match self {
            FieldValue::Text(s) => Value::String(s.clone()),
            FieldValue::Bool(b) => Value::Bool(*b),
            FieldValue::Int(i) => Value::from(*i),
            FieldValue::Number(n) => Value::from(*n),
            FieldValue::Date(d) => Value::String(d.to_string()),
            FieldValue::Time(t) => Value::String(format_time(*t)),
        }
    }

    /// A JSON value as a field value (`None` for null); lists and objects become their JSON text.
    pub fn from_json(v: &Value) -> Option<FieldValue> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => FieldValue::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => FieldValue::Int(i),
                None => FieldValue::Number(n.as_f64().unwrap_or_default()),
            },
            Value::String(s) => FieldValue::Text(s.clone()),
            Value::Array(items) => FieldValue::Text(
                items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Value::Object(_) => FieldValue::Text(v.to_string()),
        })
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// Text without control characters: `\r\n` and a lone `\r` become `\n`; with `single_line` every control
/// character (line breaks and tabs included) becomes a space, else line breaks and tabs stay and the
/// other control characters (NUL, escape, C1 controls, …) are dropped. Returns the text and how many
/// characters were replaced or dropped (line-ending normalisation not counted).
pub fn clean_text(text: &str, single_line: bool) -> (String, usize) {
    if !text.chars().any(char::is_control) {
        return (text.to_string(), 0);
    }
    let mut out = String::with_capacity(text.len());
    let mut changed = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if !single_line => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            '\n' | '\t' if !single_line => out.push(c),
            c if c.is_control() => {
                changed += 1;
                if single_line {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    (out, changed)
}

/// Drops the control characters of every text field (see [`clean_text`]), with a warning naming the
/// field: no NUL, escape or other control character reaches the CRM.
pub fn clean_fields(fields: &mut IndexMap<String, FieldValue>, warnings: &mut Vec<String>) {
    for (name, value) in fields.iter_mut() {
        if let FieldValue::Text(text) = value {
            let (clean, changed) = clean_text(text, false);
            if changed > 0 {
                warnings.push(format!(
                    "{name}: {changed} control character(s) (such as NUL) removed from the text"
                ));
            }
            *text = clean;
        }
    }
}

/// A mapped CRM record: `{"table", "fields", "warnings"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrmRecord {
    pub table: String,
    pub fields: IndexMap<String, FieldValue>,
    pub warnings: Vec<String>,
}

impl CrmRecord {
    /// The fields as JSON values.
    pub fn json_fields(&self) -> IndexMap<String, Value> {
        self.fields
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect()
    }
}

/// Ends a text that a length rule cut, so a reader of the CRM record sees that something is missing.
pub const TRUNCATION_MARKER: char = '…';

/// Cuts `text` to at most `max` characters (Unicode scalar values, as CRM field lengths count): the
/// first `max - 1` characters and [`TRUNCATION_MARKER`] (a limit of one keeps the first character).
/// `None` when the text fits: exactly `max` characters are kept whole.
pub fn cut_text(text: &str, max: usize) -> Option<String> {
    // The character after the limit, if any: none means the text fits.
    text.chars().nth(max)?;
    if max <= 1 {
        return Some(text.chars().take(max).collect());
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push(TRUNCATION_MARKER);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_pass() {
        assert_eq!(clean_text("a\r\nb\rc\td", false), ("a\nb\nc\td".into(), 0));
        assert_eq!(
            clean_text("a\0b\u{1b}[31m\u{85}c", false),
            ("ab[31mc".into(), 3)
        );
        assert_eq!(
            clean_text("x@y.com\nRequired: z@y.com\0", true),
            ("x@y.com Required: z@y.com ".into(), 2)
        );
        assert_eq!(clean_text("plain ü", true), ("plain ü".into(), 0));
    }
}
