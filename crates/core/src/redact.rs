//! Redaction of secrets in text that reaches a message: response bodies quoted in errors, `doctor`
//! output, URLs.
//!
//! A token endpoint or CRM.interface (or anything pretending to be one) may answer with the request it
//! got, client secret and password included; whatever part of such a body a message quotes must not
//! show them. Two layers: [`redact_patterns`] needs no knowledge of the secrets (`client_secret=…`,
//! `pwd="…"`, `"password": "…"`, `Bearer …`, a URL's `user:password@`), and a [`Redactor`] also replaces
//! every configured secret wherever it appears, as written and in its URL-, form-, XML- and
//! JSON-encoded forms. Pure text in, text out.

use std::fmt;

/// What a redacted secret is replaced by.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not replaced by value (replacing every `ab` would garble the message);
/// the patterns still apply to them.
pub const MIN_SECRET_LEN: usize = 4;

/// Keys whose values are secrets, in query strings and forms (`key=value`), XML attributes
/// (`key="value"`) and JSON (`"key": "value"`). Matched case-insensitively, also as the end of a longer
/// key (`crm_password=`).
const SECRET_KEYS: &[&str] = &[
    "client_secret",
    "client_assertion",
    "password",
    "passwd",
    "pwd",
    "access_token",
    "refresh_token",
];

/// Replaces configured secrets and secret-looking patterns in text.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Every secret in every encoding it may appear in, longest first.
    needles: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} forms of secrets)", self.needles.len())
    }
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret (and its encoded forms). Secrets shorter than [`MIN_SECRET_LEN`] are left to the
    /// patterns.
    pub fn add(&mut self, secret: &str) {
        if secret.chars().count() < MIN_SECRET_LEN {
            return;
        }
        for form in [
            secret.to_string(),
            secret.trim().to_string(),
            percent_encode(secret, false),
            percent_encode(secret, true),
            xml_escape(secret),
            json_escape(secret),
        ] {
            if form.chars().count() >= MIN_SECRET_LEN && !self.needles.contains(&form) {
                self.needles.push(form);
            }
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// `text` with every configured secret and every secret pattern replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), REDACTED);
            }
        }
        redact_patterns(&out)
    }
}

/// `text` with the values of secret keys (`client_secret=…`, `pwd="…"`, `"password": "…"`), bearer
/// tokens and the passwords of URLs (`https://user:…@host`) replaced by [`REDACTED`].
pub fn redact_patterns(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    // (start, end) byte ranges of secret values, in order.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for key in SECRET_KEYS {
        let mut from = 0;
        while let Some(at) = lower[from..].find(key) {
            let end_of_key = from + at + key.len();
            from = end_of_key;
            if let Some(span) = value_after_key(text, end_of_key) {
                spans.push(span);
            }
        }
    }
    let mut from = 0;
    while let Some(at) = lower[from..].find("bearer ") {
        let start = from + at + "bearer ".len();
        let end = token_end(text, start);
        if end > start {
            spans.push((start, end));
        }
        from = start;
    }
    spans.extend(url_passwords(text));
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        if start < at {
            // Overlaps one already replaced.
            at = at.max(end);
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str(REDACTED);
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// The value following a secret key that ends at `i`: `=value`, `="value"`, `": "value"`.
fn value_after_key(text: &str, i: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut j = i;
    // JSON: `"password": "value"`.
    if bytes.get(j) == Some(&b'"') {
        j += 1;
    }
    while bytes.get(j).is_some_and(|b| *b == b' ') {
        j += 1;
    }
    let sep = match bytes.get(j) {
        Some(&sep @ (b'=' | b':')) => sep,
        _ => return None,
    };
    j += 1;
    while bytes.get(j).is_some_and(|b| *b == b' ') {
        j += 1;
    }
    match bytes.get(j) {
        Some(&q @ (b'"' | b'\'')) => {
            let start = j + 1;
            let mut k = start;
            while k < bytes.len() && bytes[k] != q {
                if bytes[k] == b'\\' {
                    k += 1;
                }
                k += 1;
            }
            let end = k.min(bytes.len());
            (end > start).then_some((start, end))
        }
        // `key: value` without quotes is prose ("crm.password: not set"), not a leaked value.
        _ if sep == b':' => None,
        _ => {
            let end = token_end(text, j);
            (end > j).then_some((j, end))
        }
    }
}

/// The end of an unquoted value: up to `&`, whitespace, a quote, `<`, `>`, `,`, `;` or `)`.
fn token_end(text: &str, start: usize) -> usize {
    text[start..]
        .find(|c: char| {
            c.is_whitespace() || matches!(c, '&' | '"' | '\'' | '<' | '>' | ',' | ';' | ')')
        })
        .map_or(text.len(), |n| start + n)
}

/// The password parts of `scheme://user:password@host` URLs.
fn url_passwords(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("://") {
        let start = from + at + 3;
        from = start;
        let end = token_end(text, start);
        let authority = &text[start..end];
        let authority = authority.split(['/', '?', '#']).next().unwrap_or("");
        if let Some(at_sign) = authority.rfind('@')
            && let Some(colon) = authority[..at_sign].find(':')
            && at_sign > colon + 1
        {
            out.push((start + colon + 1, start + at_sign));
        }
    }
    out
}

/// A URL with the password of its user info masked (`https://user:[redacted]@host/`).
pub fn mask_url(url: &str) -> String {
    redact_patterns(url)
}

/// Percent-encoding as in URLs (RFC 3986 unreserved kept) or, with `form`, as in
/// `application/x-www-form-urlencoded` bodies (`*-._` kept, space as `+`), which is how the client
/// secret travels to the token endpoint.
fn percent_encode(text: &str, form: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => out.push(b as char),
            b'~' if !form => out.push('~'),
            b'*' if form => out.push('*'),
            b' ' if form => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn json_escape(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_need_no_secret() {
        for (text, want) in [
            (
                "echo: client_id=abc&client_secret=Qx8~s3cr3t%2Bv&grant_type=client_credentials",
                "echo: client_id=abc&client_secret=[redacted]&grant_type=client_credentials",
            ),
            (
                r#"<request user="OCSU" pwd="hunter2" client="GraphApi">"#,
                r#"<request user="OCSU" pwd="[redacted]" client="GraphApi">"#,
            ),
            (
                r#"{"password": "hunter2", "user": "x", "Client_Secret":"abc"}"#,
                r#"{"password": "[redacted]", "user": "x", "Client_Secret":"[redacted]"}"#,
            ),
            (
                "GET https://ana:pa55@crm.example.com/x and Authorization: Bearer eyJ0eXAi.x.y done",
                "GET https://ana:[redacted]@crm.example.com/x and Authorization: Bearer [redacted] done",
            ),
            ("crm_password=abc;", "crm_password=[redacted];"),
            (
                "crm.password: environment variable `X` is not set",
                "crm.password: environment variable `X` is not set",
            ),
            ("postgres://u@host/db", "postgres://u@host/db"),
        ] {
            assert_eq!(redact_patterns(text), want, "{text}");
        }
    }

    #[test]
    fn configured_secrets_go_in_every_encoding() {
        let mut r = Redactor::new();
        r.add("Qx8~a b+c&<d>\"e");
        r.add("ab");
        let raw = "Qx8~a b+c&<d>\"e";
        for text in [
            raw.to_string(),
            percent_encode(raw, true),
            percent_encode(raw, false),
            xml_escape(raw),
            json_escape(raw),
        ] {
            let out = r.redact(&format!("answer: {text}."));
            assert_eq!(out, "answer: [redacted].", "{text}");
        }
        assert_eq!(r.redact("ab stays"), "ab stays");
        assert_eq!(format!("{r:?}"), "Redactor(5 forms of secrets)");
    }
}
