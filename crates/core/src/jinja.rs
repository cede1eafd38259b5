//! The template engine with its limits: the one minijinja environment of a mapping set, its guarded
//! filters, and the bounded render both `check` and the mapping evaluation use.
//!
//! A template is written by an administrator but runs on strangers' data, and a typo such as
//! `"%99999999999d"|format(x)` or `indent(99999999999)` must not take the service down. So every render
//! has a fuel budget (minijinja's `fuel`: instructions and bytes of data created, [`TEMPLATE_FUEL`]),
//! an output cap ([`MAX_TEMPLATE_OUTPUT`]) and a recursion limit; the filters whose arguments ask for
//! arbitrary amounts of memory (`format` widths and precisions, `indent` widths) are wrapped to refuse
//! them with a clear message; and [`static_limits`] lets `validate` reject the literal cases before
//! anything runs. The `range` function is not available (templates see only their variables).

use std::{fmt::Write as _, io};

use minijinja::{
    Environment, Error, ErrorKind, State, Template, Value,
    value::{Kwargs, Rest, StringInput, ValueOrKwargs, from_args},
};

use crate::limits::{MAX_FORMAT_WIDTH, MAX_INDENT, MAX_REPEAT, MAX_TEMPLATE_OUTPUT, TEMPLATE_FUEL};

/// Macro and loop nesting one render may reach (minijinja's default is 500; each level costs stack, and
/// the sync service renders on threads with small stacks).
const RECURSION_LIMIT: usize = 64;

/// The minijinja environment all mapping templates compile into: chainable undefined values, fuel,
/// a recursion limit, and the guarded `format` and `indent` filters.
pub fn new_environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.add_filter("format", format);
    env.add_filter("indent", indent);
    // `{{ item.body | body_text }}`: a Graph itemBody (or an HTML string) as plain text, like the
    // `html_to_text` converter.
    env.add_filter("body_text", body_text);
    env
}

fn body_text(v: Value) -> String {
    let text = |name: &str| {
        v.get_attr(name)
            .ok()
            .and_then(|a| a.as_str().map(str::to_owned))
    };
    let json = match (v.as_str(), text("content")) {
        (Some(s), _) => serde_json::Value::String(s.to_owned()),
        (None, Some(content)) => serde_json::json!({
            "content": content,
            "contentType": text("contentType"),
        }),
        (None, None) => serde_json::Value::Null,
    };
    crate::mapping::convert::body_text(&json)
}

/// Why a render failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderError {
    /// Whether a limit stopped the render (fuel, output size, a filter argument over its cap) rather
    /// than the template's own logic.
    pub limit: bool,
    pub message: String,
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Renders `tpl` with `ctx` within the limits: at most [`MAX_TEMPLATE_OUTPUT`] bytes of output and the
/// environment's fuel.
pub fn render(tpl: &Template<'_, '_>, ctx: Value) -> Result<String, RenderError> {
    let mut out = Capped::default();
    match tpl.render_captured_to(ctx, &mut out) {
        Ok(_) => Ok(out.text),
        Err(_) if out.over => Err(RenderError {
            limit: true,
            message: format!(
                "template output is over the limit of {} KiB",
                MAX_TEMPLATE_OUTPUT / 1024
            ),
        }),
        Err(e) if e.kind() == ErrorKind::OutOfFuel => Err(RenderError {
            limit: true,
            message: format!(
                "template stopped: it used up its work budget (fuel {TEMPLATE_FUEL}, about \
                 {TEMPLATE_FUEL} steps or {} MiB of data)",
                TEMPLATE_FUEL * 64 / (1024 * 1024)
            ),
        }),
        Err(e) => {
            let limit = e.detail().is_some_and(|d| d.contains("over the limit"))
                || e.kind() == ErrorKind::InvalidOperation
                    && e.detail().is_some_and(|d| d.contains("too large"));
            let mut message = format!("template failed: {}", e.kind());
            if let Some(detail) = e.detail() {
                let _ = write!(message, ": {detail}");
            }
            if let Some(line) = e.line() {
                let _ = write!(message, " (template line {line})");
            }
            Err(RenderError { limit, message })
        }
    }
}

/// An output that refuses to grow past [`MAX_TEMPLATE_OUTPUT`].
#[derive(Default)]
struct Capped {
    text: String,
    over: bool,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.text.len().saturating_add(buf.len()) > MAX_TEMPLATE_OUTPUT {
            self.over = true;
            return Err(io::Error::other("template output over the limit"));
        }
        // minijinja writes whole `str` pieces, so every piece is UTF-8 by itself.
        let piece = std::str::from_utf8(buf).map_err(io::Error::other)?;
        self.text.push_str(piece);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn over_limit(what: &str, found: impl std::fmt::Display, max: usize) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("{what} {found} is over the limit of {max}"),
    )
}

/// `format`, refusing widths and precisions over [`MAX_FORMAT_WIDTH`] before minijinja formats.
fn format(
    state: &mut State<'_, '_>,
    format_str: &Value,
    args: Rest<ValueOrKwargs>,
) -> Result<Value, Error> {
    if let Some(text) = format_str.as_str()
        && let Some((what, n)) = printf_specs(text)
            .into_iter()
            .find(|(_, n)| *n > MAX_FORMAT_WIDTH as u128)
    {
        return Err(over_limit(&format!("format {what}"), n, MAX_FORMAT_WIDTH));
    }
    minijinja::filters::format(state, format_str, args)
}

/// `indent`, refusing widths over [`MAX_INDENT`] and charging fuel for the output before building it.
fn indent(state: &State<'_, '_>, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    let args = args.into_values();
    let (value, width, first, blank, kwargs): (
        StringInput<'_>,
        Option<Value>,
        Option<bool>,
        Option<bool>,
        Kwargs,
    ) = from_args(&args)?;
    let width = match width {
        Some(w) => Some(w),
        None => kwargs.get::<Option<Value>>("width")?,
    };
    let width = match width {
        None => None,
        Some(w) => {
            let n = i128::try_from(w.clone()).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("indent width `{w}` is not a whole number"),
                )
            })?;
            match usize::try_from(n) {
                Ok(n) if n <= MAX_INDENT => Some(n),
                _ => return Err(over_limit("indent width", n, MAX_INDENT)),
            }
        }
    };
    let lines = value.as_str().bytes().filter(|&b| b == b'\n').count() + 1;
    let bytes = width
        .unwrap_or(4)
        .saturating_mul(lines)
        .saturating_add(value.as_str().len());
    state.consume_fuel((bytes / 64) as u64)?;
    minijinja::filters::indent(value, width, first, blank, kwargs)
}

/// The widths and precisions written in a printf-style format string: `("width", 10)` for `%10d`.
fn printf_specs(text: &str) -> Vec<(&'static str, u128)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        // `%(name)s`
        if bytes.get(i) == Some(&b'(') {
            while i < bytes.len() && bytes[i] != b')' {
                i += 1;
            }
            i += 1;
        }
        while i < bytes.len() && matches!(bytes[i], b'-' | b'+' | b' ' | b'#' | b'0') {
            i += 1;
        }
        let (n, next) = number(bytes, i);
        if let Some(n) = n {
            out.push(("width", n));
        }
        i = next;
        if bytes.get(i) == Some(&b'.') {
            let (n, next) = number(bytes, i + 1);
            if let Some(n) = n {
                out.push(("precision", n));
            }
            i = next;
        }
    }
    out
}

/// The decimal number at `i` (saturating) and the index after it.
fn number(bytes: &[u8], mut i: usize) -> (Option<u128>, usize) {
    let start = i;
    let mut n: u128 = 0;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        n = n
            .saturating_mul(10)
            .saturating_add(u128::from(bytes[i] - b'0'));
        i += 1;
    }
    ((i > start).then_some(n), i)
}

/// What `validate` can see without rendering: literal arguments that can never run within the limits.
/// Each entry is a message for an error at the template.
pub fn static_limits(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for tag in tags(source) {
        for (literal, after) in string_literals(tag) {
            let after = after.trim_start();
            if after.starts_with('|')
                && after[1..].trim_start().starts_with("format")
                && let Some((what, n)) = printf_specs(literal)
                    .into_iter()
                    .find(|(_, n)| *n > MAX_FORMAT_WIDTH as u128)
            {
                out.push(format!(
                    "format {what} {n} in `{literal}` is over the limit of {MAX_FORMAT_WIDTH}"
                ));
            }
            if let Some(rest) = after.strip_prefix('*')
                && let (Some(n), _) = number(rest.trim_start().as_bytes(), 0)
                && n > MAX_REPEAT as u128
            {
                out.push(format!(
                    "repeating text {n} times is over the limit of {MAX_REPEAT}"
                ));
            }
        }
        let mut rest = tag;
        while let Some(at) = rest.find("indent") {
            rest = &rest[at + "indent".len()..];
            let Some(args) = rest.trim_start().strip_prefix('(') else {
                continue;
            };
            let args = args.trim_start();
            let args = args
                .strip_prefix("width")
                .map(|a| a.trim_start().trim_start_matches('=').trim_start())
                .unwrap_or(args);
            if let (Some(n), _) = number(args.as_bytes(), 0)
                && n > MAX_INDENT as u128
            {
                out.push(format!(
                    "indent width {n} is over the limit of {MAX_INDENT}"
                ));
            }
        }
    }
    out
}

/// The contents of the `{{ … }}` and `{% … %}` tags of a template.
fn tags(source: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find(['{']) {
        let after = &rest[start + 1..];
        let close = match after.as_bytes().first() {
            Some(b'{') => "}}",
            Some(b'%') => "%}",
            _ => {
                rest = after;
                continue;
            }
        };
        let body = &after[1..];
        match body.find(close) {
            Some(end) => {
                out.push(&body[..end]);
                rest = &body[end + 2..];
            }
            None => {
                out.push(body);
                break;
            }
        }
    }
    out
}

/// The string literals of a tag, each with the text after it.
fn string_literals(tag: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let bytes = tag.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let q = bytes[i];
        if q != b'"' && q != b'\'' {
            i += 1;
            continue;
        }
        let start = i + 1;
        let mut j = start;
        while j < bytes.len() && bytes[j] != q {
            if bytes[j] == b'\\' {
                j += 1;
            }
            j += 1;
        }
        let end = j.min(bytes.len());
        let after = if end < bytes.len() { end + 1 } else { end };
        out.push((&tag[start..end], &tag[after..]));
        i = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(source: &str) -> Result<String, RenderError> {
        let mut env = new_environment();
        env.add_template_owned("t", source.to_string()).unwrap();
        let tpl = env.get_template("t").unwrap();
        let ctx: std::collections::BTreeMap<&str, Value> = [("item", Value::from("abc"))].into();
        render(&tpl, Value::from(ctx))
    }

    /// Issue 10 (template bombs): each of these panicked (capacity overflow) or aborted on allocation.
    #[test]
    fn template_bombs_fail_with_a_message() {
        for (source, says) in [
            (
                r#"{{ "%18446744073709551615d"|format(1) }}"#,
                "format width 18446744073709551615 is over the limit of 1000",
            ),
            (
                r#"{{ "%.99999999999f"|format(1.5) }}"#,
                "format precision 99999999999 is over the limit of 1000",
            ),
            (
                "{{ item|indent(99999999999) }}",
                "indent width 99999999999 is over the limit of 100",
            ),
            ("{{ item|indent(width=101) }}", "over the limit of 100"),
            (r#"{{ "x" * 99999999 }}"#, "work budget"),
            (
                "{% set x = item * 100000 %}{% set y = x ~ x ~ x ~ x ~ x ~ x ~ x ~ x ~ x ~ x %}{{ y ~ y ~ y ~ y ~ y ~ y ~ y ~ y ~ y ~ y ~ y ~ y }}",
                "work budget",
            ),
            (
                r#"{{ item|replace("", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")|replace("", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")|replace("", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")|replace("", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")|replace("", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")|length }}"#,
                "work budget",
            ),
            (
                "{% for a in item * 1000 %}{% for b in item * 1000 %}{% for c in item * 1000 %}{% endfor %}{% endfor %}{% endfor %}",
                "work budget",
            ),
            (
                "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
                "recursion",
            ),
        ] {
            let err = run(source).unwrap_err();
            assert!(err.message.contains(says), "{source}: {err}");
        }
    }

    #[test]
    fn filters_within_the_limits_work_as_before() {
        assert_eq!(
            run(r#"{{ "%5.1f|%-4s|"|format(1.25, "ab") }}"#).unwrap(),
            "  1.2|ab  |"
        );
        assert_eq!(run(r#"{{ "a\nb"|indent(2) }}"#).unwrap(), "a\n  b");
        assert_eq!(
            run(r#"{{ "a\nb"|indent(width=1, first=true) }}"#).unwrap(),
            " a\n b"
        );
        assert_eq!(run("{{ item * 3 }}").unwrap(), "abcabcabc");
    }

    #[test]
    fn literal_bombs_are_seen_without_rendering() {
        assert_eq!(
            static_limits(r#"{{ "%18446744073709551615d"|format(1) }} {{ x|indent( 5000 ) }}"#),
            vec![
                "format width 18446744073709551615 in `%18446744073709551615d` is over the limit of 1000",
                "indent width 5000 is over the limit of 100",
            ]
        );
        assert_eq!(
            static_limits(r#"{% set y = '%.99999f' | format(2) %}{{ "ab" * 1000000 }}"#),
            vec![
                "format precision 99999 in `%.99999f` is over the limit of 1000",
                "repeating text 1000000 times is over the limit of 100000",
            ]
        );
        assert!(static_limits(r#"{{ "%5d %%"|format(1) }} {{ x|indent(4) }} "%9999d""#).is_empty());
    }
}
