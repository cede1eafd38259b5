//! YAML text → JSON value plus the line:column of every node, so any later check can point at the source.
//!
//! Parsing goes through the event API of `granit_parser` (the parser under serde-saphyr) instead of
//! deserializing straight into the spec types: schema validation and semantic checks work on the JSON
//! value and address nodes by JSON pointer (`/fields/3/source`), and [`Document::locate`] turns that
//! pointer back into a position. Scalars follow the YAML 1.2 core schema. Pure: text in, data out.

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
};

use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span};

use crate::{
    diag::{Diagnostic, Severity},
    limits::{MAX_YAML_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES},
};

/// A 1-based source position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn of(span: &Span) -> Self {
        Pos {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// Where a node sits: the node itself, and for a mapping entry also its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NodePos {
    key: Option<Pos>,
    value: Pos,
}

/// A parsed YAML file: its JSON value and the position of every node, addressed by JSON pointer.
#[derive(Debug, Clone)]
pub struct Document {
    /// The file name used in diagnostics.
    pub file: String,
    /// The content as JSON (`null` for an empty file).
    pub value: Value,
    /// Ordered, so the nodes below a pointer are one range (see [`Document::subtree_positions`]).
    positions: BTreeMap<String, NodePos>,
}

impl Document {
    /// The position of the node at `pointer` (RFC 6901, `""` is the root); for a node that does not
    /// exist, the position of its nearest existing ancestor (a missing key is reported at the mapping
    /// that lacks it).
    pub fn locate(&self, pointer: &str) -> (usize, usize) {
        let pos = self.node(pointer).value;
        (pos.line, pos.column)
    }

    /// Like [`Document::locate`], but for a mapping entry the position of its key: where an unknown or
    /// misspelled key is reported.
    pub fn locate_key(&self, pointer: &str) -> (usize, usize) {
        let node = self.node(pointer);
        let pos = node.key.unwrap_or(node.value);
        (pos.line, pos.column)
    }

    /// The positions (node and key) of the node at `pointer` and of everything below it: one range of
    /// the ordered positions, so asking for every violation of a big file stays cheap.
    pub fn subtree_positions(&self, pointer: &str) -> Vec<(usize, usize)> {
        let prefix = format!("{pointer}/");
        let mut out = Vec::new();
        let own = self.positions.get_key_value(pointer);
        let below = self
            .positions
            .range::<str, _>((
                std::ops::Bound::Included(prefix.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(p, _)| p.starts_with(&prefix));
        for (_, pos) in own.into_iter().chain(below) {
            out.push((pos.value.line, pos.value.column));
            if let Some(key) = pos.key {
                out.push((key.line, key.column));
            }
        }
        out
    }

    /// Whether a node exists at `pointer`.
    pub fn contains(&self, pointer: &str) -> bool {
        self.positions.contains_key(pointer)
    }

    /// A diagnostic located at the node at `pointer` (see [`Document::locate`]).
    pub fn diag(
        &self,
        pointer: &str,
        severity: Severity,
        message: impl Into<String>,
    ) -> Diagnostic {
        let (line, column) = self.locate(pointer);
        Diagnostic::new(severity, self.file.clone(), line, column, message)
    }

    /// An error located at the node at `pointer`.
    pub fn error(&self, pointer: &str, message: impl Into<String>) -> Diagnostic {
        self.diag(pointer, Severity::Error, message)
    }

    /// A warning located at the node at `pointer`.
    pub fn warning(&self, pointer: &str, message: impl Into<String>) -> Diagnostic {
        self.diag(pointer, Severity::Warning, message)
    }

    /// A diagnostic located at the key of the mapping entry at `pointer` (see [`Document::locate_key`]).
    pub fn diag_key(
        &self,
        pointer: &str,
        severity: Severity,
        message: impl Into<String>,
    ) -> Diagnostic {
        let (line, column) = self.locate_key(pointer);
        Diagnostic::new(severity, self.file.clone(), line, column, message)
    }

    fn node(&self, pointer: &str) -> NodePos {
        let mut pointer = pointer;
        loop {
            if let Some(pos) = self.positions.get(pointer) {
                return *pos;
            }
            match pointer.rfind('/') {
                Some(i) => pointer = &pointer[..i],
                None => {
                    return NodePos {
                        key: None,
                        value: Pos { line: 1, column: 1 },
                    };
                }
            }
        }
    }
}

/// Appends one reference token to a JSON pointer, escaping `~` and `/` (RFC 6901).
pub fn pointer_push(pointer: &str, token: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + token.len() + 1);
    out.push_str(pointer);
    out.push('/');
    for c in token.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// Parses one YAML document. Syntax errors, duplicate keys, non-scalar keys, multiple documents and
/// documents over the limits (values, text and nesting, every alias expansion counted: see
/// [`crate::limits`]) are located diagnostics; everything the parser can say is collected before giving up.
/// A leading byte-order mark is skipped.
pub fn parse(file: &str, text: &str) -> Result<Document, Vec<Diagnostic>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = Builder {
        file,
        stack: Vec::new(),
        root: None,
        positions: BTreeMap::new(),
        anchors: HashMap::new(),
        diagnostics: Vec::new(),
        documents: 0,
        nodes: 0,
        bytes: 0,
    };
    for event in Parser::new_from_str(text) {
        match event {
            Ok((event, span)) => {
                builder.event(event, &span);
                if let Some(d) = builder.over_limit(&span) {
                    builder.diagnostics.push(d);
                    break;
                }
            }
            Err(err) => {
                let mark = err.marker();
                let info = err.info();
                let mut d = Diagnostic::error(
                    file,
                    mark.line().max(1),
                    mark.col() + 1,
                    format!("invalid YAML: {info}"),
                )
                .with_expected(
                    "well-formed YAML (check indentation, quotes and `key: value` pairs)",
                );
                if info.contains("tab") {
                    d = d.with_hint("indent with spaces: YAML does not allow tabs for indentation");
                }
                builder.diagnostics.push(d);
                break;
            }
        }
    }
    if !builder.diagnostics.is_empty() {
        return Err(builder.diagnostics);
    }
    let mut positions = builder.positions;
    positions.entry(String::new()).or_insert(NodePos {
        key: None,
        value: Pos { line: 1, column: 1 },
    });
    Ok(Document {
        file: file.to_string(),
        value: builder.root.unwrap_or(Value::Null),
        positions,
    })
}

enum Frame {
    Seq {
        pointer: String,
        anchor: usize,
        /// The document's node and byte counts when the collection started, to size an anchored one.
        start: Size,
        items: Vec<Value>,
    },
    Map {
        pointer: String,
        anchor: usize,
        start: Size,
        entries: Map<String, Value>,
        /// Key positions, to report a duplicate against the first occurrence.
        key_lines: HashMap<String, Pos>,
        /// The key read, waiting for its value; `None` when the next node is a key.
        pending: Option<(String, Pos)>,
        /// Set after a non-scalar key: its value is skipped.
        skip_value: bool,
    },
}

/// Nodes and bytes: what a value costs, alias expansions included.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    nodes: usize,
    bytes: usize,
}

struct Builder<'f> {
    file: &'f str,
    stack: Vec<Frame>,
    root: Option<Value>,
    positions: BTreeMap<String, NodePos>,
    /// Anchored values with their expanded size.
    anchors: HashMap<usize, (Value, Size)>,
    diagnostics: Vec<Diagnostic>,
    documents: usize,
    /// Nodes built so far, alias expansions included (a guard against "billion laughs" documents).
    nodes: usize,
    /// Bytes of text built so far (scalars, keys, node paths), alias expansions included: a few
    /// aliases of one long string cost as much memory as many small values.
    bytes: usize,
}

impl Builder<'_> {
    fn size(&self) -> Size {
        Size {
            nodes: self.nodes,
            bytes: self.bytes,
        }
    }

    /// A located error when the document went past a limit (checked after every event, so it stops
    /// before the next copy).
    fn over_limit(&self, span: &Span) -> Option<Diagnostic> {
        let (message, expected, hint) = if self.nodes > MAX_YAML_NODES {
            (
                "the document expands to too many values",
                format!("at most {MAX_YAML_NODES} values, counting every alias expansion"),
                "aliases (`*name`) copy the anchored value; nest them less deeply",
            )
        } else if self.bytes > MAX_YAML_BYTES {
            (
                "the document expands to too much text",
                format!(
                    "at most {} MiB of text, counting every alias expansion",
                    MAX_YAML_BYTES / (1024 * 1024)
                ),
                "aliases (`*name`) copy the anchored value; anchor less text or alias it less often",
            )
        } else if self.stack.len() > MAX_YAML_DEPTH {
            (
                "the document nests too deeply",
                format!("at most {MAX_YAML_DEPTH} levels of nested lists and mappings"),
                "flatten the structure",
            )
        } else {
            return None;
        };
        Some(
            Diagnostic::error(self.file, span.start.line(), span.start.col() + 1, message)
                .with_expected(expected)
                .with_hint(hint),
        )
    }

    fn event(&mut self, event: Event<'_>, span: &Span) {
        match event {
            Event::DocumentStart(..) => {
                self.documents += 1;
                if self.documents == 2 {
                    self.diagnostics.push(
                        Diagnostic::error(
                            self.file,
                            span.start.line(),
                            span.start.col() + 1,
                            "a second YAML document in one file",
                        )
                        .with_expected(
                            "exactly one document per file (remove the `---` separator)",
                        ),
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.bytes = self.bytes.saturating_add(text.len());
                if self.key_expected() {
                    self.key(text.into_owned(), span);
                    return;
                }
                let tag = tag.map(|t| t.suffix().to_string());
                let value = scalar(&text, style, tag.as_deref());
                self.nodes += 1;
                if anchor != 0 {
                    let size = Size {
                        nodes: 1,
                        bytes: text.len(),
                    };
                    self.anchors.insert(anchor, (value.clone(), size));
                }
                self.begin_node(span);
                self.finish(value);
            }
            Event::Alias(id) => {
                let size = self
                    .anchors
                    .get(&id)
                    .map_or(Size::default(), |(_, size)| *size);
                self.nodes = self.nodes.saturating_add(size.nodes.max(1));
                self.bytes = self.bytes.saturating_add(size.bytes);
                if self.nodes > MAX_YAML_NODES || self.bytes > MAX_YAML_BYTES {
                    // Refused before copying; `parse` reports it.
                    return;
                }
                let value = self
                    .anchors
                    .get(&id)
                    .map_or(Value::Null, |(value, _)| value.clone());
                if self.key_expected() {
                    match value {
                        Value::String(s) => self.key(s, span),
                        _ => self.bad_key(span),
                    }
                    return;
                }
                self.begin_node(span);
                self.finish(value);
            }
            Event::SequenceStart(_, anchor, _) => {
                if self.key_expected() {
                    self.bad_key(span);
                }
                let pointer = self.begin_node(span);
                let start = self.size();
                self.stack.push(Frame::Seq {
                    pointer,
                    anchor,
                    start,
                    items: Vec::new(),
                });
            }
            Event::MappingStart(_, anchor, _) => {
                if self.key_expected() {
                    self.bad_key(span);
                }
                let pointer = self.begin_node(span);
                let start = self.size();
                self.stack.push(Frame::Map {
                    pointer,
                    anchor,
                    start,
                    entries: Map::new(),
                    key_lines: HashMap::new(),
                    pending: None,
                    skip_value: false,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    anchor,
                    start,
                    items,
                    ..
                }) = self.stack.pop()
                {
                    let value = Value::Array(items);
                    self.nodes += 1;
                    if anchor != 0 {
                        let size = self.size_since(start);
                        self.anchors.insert(anchor, (value.clone(), size));
                    }
                    self.finish(value);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    anchor,
                    start,
                    entries,
                    ..
                }) = self.stack.pop()
                {
                    let value = Value::Object(entries);
                    self.nodes += 1;
                    if anchor != 0 {
                        let size = self.size_since(start);
                        self.anchors.insert(anchor, (value.clone(), size));
                    }
                    self.finish(value);
                }
            }
            _ => {}
        }
    }

    /// What was built since `start`: the expanded size of a collection that has just ended.
    fn size_since(&self, start: Size) -> Size {
        Size {
            nodes: self.nodes - start.nodes,
            bytes: self.bytes - start.bytes,
        }
    }

    /// Whether the next node in the innermost mapping is a key.
    fn key_expected(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Map {
                pending: None,
                skip_value: false,
                ..
            })
        )
    }

    fn key(&mut self, key: String, span: &Span) {
        let pos = Pos::of(span);
        let file = self.file;
        if let Some(Frame::Map {
            key_lines, pending, ..
        }) = self.stack.last_mut()
        {
            if let Some(first) = key_lines.get(&key) {
                self.diagnostics.push(
                    Diagnostic::error(
                        file,
                        pos.line,
                        pos.column,
                        format!(
                            "duplicate key `{key}` (first defined at line {})",
                            first.line
                        ),
                    )
                    .with_expected("each key at most once per mapping"),
                );
            } else {
                key_lines.insert(key.clone(), pos);
            }
            *pending = Some((key, pos));
        }
    }

    fn bad_key(&mut self, span: &Span) {
        self.diagnostics.push(
            Diagnostic::error(
                self.file,
                span.start.line(),
                span.start.col() + 1,
                "a mapping key must be a plain text value",
            )
            .with_expected("`key: value` with a text key"),
        );
        if let Some(Frame::Map { skip_value, .. }) = self.stack.last_mut() {
            *skip_value = true;
        }
    }

    /// Records the position of a node starting at `span` and returns its pointer.
    fn begin_node(&mut self, span: &Span) -> String {
        let pos = Pos::of(span);
        let (pointer, key) = match self.stack.last() {
            None => (String::new(), None),
            Some(Frame::Seq { pointer, items, .. }) => {
                (pointer_push(pointer, &items.len().to_string()), None)
            }
            Some(Frame::Map {
                pointer, pending, ..
            }) => match pending {
                Some((key, key_pos)) => (pointer_push(pointer, key), Some(*key_pos)),
                // The value of a non-scalar key: not addressable.
                None => (pointer_push(pointer, "\u{0}"), None),
            },
        };
        // Paths are memory too: long keys repeated down a deep tree must count against the budget.
        self.bytes = self.bytes.saturating_add(pointer.len());
        self.positions
            .entry(pointer.clone())
            .or_insert(NodePos { key, value: pos });
        pointer
    }

    /// Attaches a finished node to its parent (or makes it the root).
    fn finish(&mut self, value: Value) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(value);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map {
                entries,
                pending,
                skip_value,
                ..
            }) => {
                if *skip_value {
                    *skip_value = false;
                } else if let Some((key, _)) = pending.take() {
                    // A duplicate was reported already; keep the first value.
                    entries.entry(key).or_insert(value);
                }
            }
        }
    }
}

/// Resolves a scalar by the YAML 1.2 core schema: quoted and block scalars are strings, plain ones may be
/// null, a boolean or a number.
fn scalar(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::String(text.to_string()),
        Some("null") => return Value::Null,
        Some("bool") | Some("int") | Some("float") => {
            return plain(text).unwrap_or_else(|| Value::String(text.to_string()));
        }
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    plain(text).unwrap_or_else(|| Value::String(text.to_string()))
}

fn plain(text: &str) -> Option<Value> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => {
            // JSON has no infinities; keep the text so a schema reports the type.
            return Some(Value::String(text.to_string()));
        }
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.') {
        return None;
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Value::from);
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok().map(Value::from);
    }
    let is_int = {
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if is_int {
        let text = text.strip_prefix('+').unwrap_or(text);
        if let Ok(n) = text.parse::<i64>() {
            return Some(Value::from(n));
        }
        if let Ok(n) = text.parse::<u64>() {
            return Some(Value::from(n));
        }
    }
    let is_float = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if is_float && let Ok(f) = text.parse::<f64>() {
        return Number::from_f64(f).map(Value::Number);
    }
    None
}

/// A short description of a JSON value's type for messages: `text`, `number`, `a list`, ….
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "an integer",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Quotes a scalar for messages (`` `text` ``, numbers and booleans as written).
pub fn show(value: &Value) -> Cow<'static, str> {
    match value {
        Value::String(s) => Cow::Owned(format!("`{s}`")),
        Value::Array(_) | Value::Object(_) => Cow::Borrowed(type_name(value)),
        other => Cow::Owned(format!("`{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TEXT: &str = "\
# comment
resource: event
fields:
  - crm: Subject
    source: $.subject
  - crm: Date
    flag: true
    n: 12
    f: 1.5
    q: '12'
    empty:
list: [a, 'b', 3]
";

    #[test]
    fn values_follow_the_core_schema() {
        let doc = parse("m.yaml", TEXT).unwrap();
        assert_eq!(
            doc.value,
            json!({"resource": "event", "fields": [
                {"crm": "Subject", "source": "$.subject"},
                {"crm": "Date", "flag": true, "n": 12, "f": 1.5, "q": "12", "empty": null}
            ], "list": ["a", "b", 3]})
        );
    }

    #[test]
    fn every_node_has_a_position() {
        let doc = parse("m.yaml", TEXT).unwrap();
        assert_eq!(doc.locate(""), (2, 1));
        assert_eq!(doc.locate("/resource"), (2, 11));
        assert_eq!(doc.locate_key("/resource"), (2, 1));
        assert_eq!(doc.locate("/fields/0"), (4, 5));
        assert_eq!(doc.locate("/fields/0/source"), (5, 13));
        assert_eq!(doc.locate_key("/fields/1/flag"), (7, 5));
        assert_eq!(doc.locate("/list/2"), (12, 16));
        // missing nodes fall back to the nearest ancestor
        assert_eq!(doc.locate("/fields/1/missing/deeper"), (6, 5));
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].file, "bad.yaml");
        assert!(err[0].message.starts_with("invalid YAML"), "{}", err[0]);
        assert!(err[0].line >= 2, "{}", err[0]);
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("d.yaml", "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n").unwrap_err();
        let lines: Vec<_> = err
            .iter()
            .map(|d| (d.line, d.column, d.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![
                (4, 3, "duplicate key `c` (first defined at line 3)"),
                (5, 1, "duplicate key `a` (first defined at line 1)")
            ]
        );
    }

    #[test]
    fn empty_file_is_null_and_anchors_resolve() {
        assert_eq!(parse("e.yaml", "").unwrap().value, Value::Null);
        let doc = parse("a.yaml", "x: &v {k: 1}\ny: *v\n").unwrap();
        assert_eq!(doc.value, json!({"x": {"k": 1}, "y": {"k": 1}}));
    }

    #[test]
    fn one_document_per_file_and_tabs_get_a_hint() {
        let err = parse("m.yaml", "a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err[0].message, "a second YAML document in one file");
        assert_eq!((err[0].line, err[0].column), (2, 1));
        let err = parse("t.yaml", "a: 1\n\tb: 2\n").unwrap_err();
        assert!(
            err[0].hint.as_deref().unwrap_or("").contains("tabs"),
            "{}",
            err[0]
        );
    }

    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[ -~äöüé€\n]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
                proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_/~ -]{0,8}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    let p = pointer_push(&at, k);
                    pointers(v, p, out);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    pointers(v, pointer_push(&at, &i.to_string()), out);
                }
            }
            _ => {}
        }
        out.push(at);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]
        /// Whatever serde-saphyr writes reads back as the same value, with a position for every node.
        #[test]
        fn round_trips_with_a_position_for_every_node(value in json()) {
            let text = serde_saphyr::to_string(&value).unwrap();
            let doc = parse("p.yaml", &text).unwrap();
            proptest::prop_assert_eq!(&doc.value, &value, "{}", text);
            let n_lines = text.lines().count().max(1);
            let mut all = Vec::new();
            pointers(&value, String::new(), &mut all);
            for p in all {
                proptest::prop_assert!(doc.contains(&p), "no position for {:?} in\n{}", p, text);
                let (line, column) = doc.locate(&p);
                proptest::prop_assert!(line >= 1 && line <= n_lines && column >= 1);
            }
        }
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        let err = parse("bomb.yaml", &text).unwrap_err();
        assert_eq!(err[0].message, "the document expands to too many values");
    }

    /// Issue 10 (YAML alias bombs): a few aliases of one long string expand to gigabytes while the
    /// number of values stays small; the expanded text is counted and refused at the alias.
    #[test]
    fn text_bombs_are_refused_at_the_alias() {
        let long = "x".repeat(100_000);
        let mut text = format!("s: &s {long}\nl: [");
        for _ in 0..2_000 {
            text.push_str("*s, ");
        }
        text.push_str("]\n");
        let err = parse("text-bomb.yaml", &text).unwrap_err();
        assert_eq!(err[0].message, "the document expands to too much text");
        assert_eq!(err[0].line, 2, "{}", err[0]);
        assert!(err[0].column > 1, "{}", err[0]);
    }

    /// Issue 10: nested anchors are sized without walking the anchored value again, and a bomb of
    /// nested lists is stopped at the alias that crosses the limit.
    #[test]
    fn nested_alias_bombs_are_refused_with_their_line() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        let err = parse("bomb.yaml", &text).unwrap_err();
        assert_eq!(err[0].message, "the document expands to too many values");
        assert!((5..=7).contains(&err[0].line), "{}", err[0]);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}x{}", "[".repeat(200), "]".repeat(200));
        let err = parse("deep.yaml", &text).unwrap_err();
        assert!(
            err.iter()
                .any(|d| d.message == "the document nests too deeply"
                    || d.message.starts_with("invalid YAML")),
            "{err:?}"
        );
        let text: String = (0..100)
            .map(|i| format!("{}- \n", "  ".repeat(i)))
            .collect();
        let err = parse("deep-block.yaml", &text).unwrap_err();
        assert_eq!(err[0].message, "the document nests too deeply");
    }

    #[test]
    fn long_keys_down_a_deep_tree_count_as_text() {
        // Every node's path repeats the long key: the paths alone would need gigabytes.
        let key = "k".repeat(1_000);
        let mut text = format!("{key}:\n");
        for i in 0..100_000 {
            text.push_str(&format!("  - {i}\n"));
        }
        let err = parse("keys.yaml", &text).unwrap_err();
        assert_eq!(err[0].message, "the document expands to too much text");
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        let doc = parse("bom.yaml", "\u{feff}a: 1\n").unwrap();
        assert_eq!(doc.value, json!({"a": 1}));
    }

    #[test]
    fn columns_count_characters() {
        let doc = parse("u.yaml", "title: \"Jürgen Jäger\"\nb: [ü, x]\n").unwrap();
        assert_eq!(doc.locate("/b/1"), (2, 8));
    }

    #[test]
    fn pointer_escapes() {
        assert_eq!(pointer_push("/a", "b/c~d"), "/a/b~1c~0d");
        let doc = parse("p.yaml", "\"E-mail/x\": 1\n").unwrap();
        assert_eq!(doc.locate("/E-mail~1x"), (1, 13));
    }
}
