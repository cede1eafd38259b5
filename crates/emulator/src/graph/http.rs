//! Request and response values shared by the Graph handlers and `$batch`, plus Graph's error envelope.
//!
//! Handlers work on these plain values (not axum types) so a `$batch` sub-request runs through
//! exactly the same code as a top-level request.

use serde_json::{Map, Value, json};

/// One Graph request after URL and header parsing.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    /// Path below `/v1.0`, percent-decoded segments (`mailFolders('x')` already split in two).
    pub segments: Vec<String>,
    /// The path as the client wrote it below `/v1.0` (for nextLinks), without the query.
    pub raw_path: String,
    /// Query parameters in order, names kept as sent (`$select`, `startDateTime`…).
    pub query: Vec<(String, String)>,
    /// Lower-cased header names.
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    pub request_id: String,
    pub client_request_id: String,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter by name, case-insensitively and with or without the `$` prefix.
    pub fn param(&self, name: &str) -> Option<&str> {
        let bare = name.trim_start_matches('$');
        self.query
            .iter()
            .find(|(k, _)| k.trim_start_matches('$').eq_ignore_ascii_case(bare))
            .map(|(_, v)| v.as_str())
    }

    pub fn prefer(&self) -> Prefer {
        Prefer::parse(
            self.headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("prefer"))
                .map(|(_, v)| v.as_str()),
        )
    }
}

/// The `Prefer` preferences Graph honours for Outlook resources.
#[derive(Debug, Clone, Default)]
pub struct Prefer {
    pub timezone: Option<String>,
    pub body_content_type: Option<String>,
    pub max_page_size: Option<usize>,
    pub immutable_id: bool,
}

impl Prefer {
    /// Parses one or many `Prefer` headers, each a comma-separated list of preferences.
    pub fn parse<'a>(values: impl Iterator<Item = &'a str>) -> Prefer {
        let mut out = Prefer::default();
        for value in values {
            for part in split_outside_quotes(value) {
                let part = part.trim();
                let Some((key, val)) = part.split_once('=') else {
                    continue;
                };
                let val = val.trim().trim_matches('"').to_owned();
                match key.trim().to_ascii_lowercase().as_str() {
                    "outlook.timezone" => out.timezone = Some(val),
                    "outlook.body-content-type" => out.body_content_type = Some(val.to_lowercase()),
                    "odata.maxpagesize" => out.max_page_size = val.parse().ok(),
                    "idtype" => out.immutable_id = val.eq_ignore_ascii_case("ImmutableId"),
                    _ => {}
                }
            }
        }
        out
    }
}

fn split_outside_quotes(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// A response before it becomes HTTP (or a `$batch` item).
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Resp {
    pub fn json(status: u16, body: Value) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn ok(body: Value) -> Resp {
        Resp::json(200, body)
    }

    pub fn no_content() -> Resp {
        Resp {
            status: 204,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Resp {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Graph's error envelope; `innerError` is filled in by [`Resp::finish`].
    pub fn error(status: u16, code: &str, message: impl Into<String>) -> Resp {
        Resp::json(
            status,
            json!({"error": {"code": code, "message": message.into(), "innerError": {}}}),
        )
    }

    /// Adds the headers every Graph response carries and the error envelope's `innerError`.
    pub fn finish(
        mut self,
        request_id: &str,
        client_request_id: &str,
        now: jiff::Timestamp,
    ) -> Resp {
        if let Some(Value::Object(body)) = &mut self.body
            && let Some(Value::Object(err)) = body.get_mut("error")
            && let Some(Value::Object(inner)) = err.get_mut("innerError")
        {
            inner.insert(
                "date".into(),
                Value::String(now.strftime("%Y-%m-%dT%H:%M:%S").to_string()),
            );
            inner.insert("request-id".into(), Value::String(request_id.to_owned()));
            inner.insert(
                "client-request-id".into(),
                Value::String(client_request_id.to_owned()),
            );
        }
        self.headers
            .push(("request-id".into(), request_id.to_owned()));
        self.headers
            .push(("client-request-id".into(), client_request_id.to_owned()));
        self.headers.push((
            "x-ms-ags-diagnostic".into(),
            r#"{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"EMULATOR"}}"#.into(),
        ));
        if self.body.is_some()
            && !self
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            self.headers
                .push(("Cache-Control".into(), "no-cache".into()));
            self.headers.push(("OData-Version".into(), "4.0".into()));
            self.headers.push((
                "Content-Type".into(),
                "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8".into(),
            ));
        }
        self
    }
}

/// Common errors, with Graph's codes and wording.
pub mod err {
    use super::Resp;

    pub fn bad_request(message: impl Into<String>) -> Resp {
        Resp::error(400, "BadRequest", message)
    }
    pub fn invalid_request(message: impl Into<String>) -> Resp {
        Resp::error(400, "ErrorInvalidRequest", message)
    }
    pub fn not_found_item() -> Resp {
        Resp::error(
            404,
            "ErrorItemNotFound",
            "The specified object was not found in the store.",
        )
    }
    pub fn malformed_id() -> Resp {
        Resp::error(400, "ErrorInvalidIdMalformed", "Id is malformed.")
    }
    pub fn no_route(method: &str, path: &str) -> Resp {
        Resp::error(
            400,
            "BadRequest",
            format!("Resource not found for the segment '{path}' (method {method})."),
        )
    }
    pub fn method_not_allowed() -> Resp {
        Resp::error(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    }
    pub fn access_denied() -> Resp {
        Resp::error(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    }
    pub fn directory_denied() -> Resp {
        Resp::error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    }
    pub fn conflict_412() -> Resp {
        Resp::error(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
        )
    }
}

/// Inserts `key` first-ish: used to put `@odata.context` at the front of a body.
pub fn with_context(context: &str, body: Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context.to_owned()));
    for (k, v) in body {
        if k != "@odata.context" {
            out.insert(k, v);
        }
    }
    Value::Object(out)
}

/// Splits `name('key')` into `name` and `key`, as Graph accepts both `/x/{id}` and `/x('{id}')`.
pub fn split_segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(seg);
        if let Some(open) = seg.find('(')
            && seg.ends_with(')')
        {
            out.push(seg[..open].to_owned());
            let key = seg[open + 1..seg.len() - 1].trim_matches('\'');
            out.push(key.to_owned());
        } else {
            out.push(seg);
        }
    }
    out
}

pub fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

/// Parses a query string keeping order; `+` is a space, as ASP.NET (and so Graph) reads it.
pub fn parse_query(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
