//! JSON Schemas generated from the spec types, and validation of a parsed YAML document against them.
//!
//! The same schemas serve editors (committed under `schemas/`, referenced by the
//! `# yaml-language-server: $schema=…` line of every shipped YAML) and `validate`, so what an editor
//! flags and what the connector rejects cannot drift apart. Validation reports every violation, located
//! through [`Document::locate`], and turns jsonschema's raw errors into messages an administrator can act
//! on: the unknown key with the allowed ones and a did-you-mean, the found and expected type, the bad
//! value with the allowed values. For `oneOf`/`anyOf` (enums, untagged unions) it reports the most
//! specific failure instead of every branch's.

use std::sync::OnceLock;

use jsonschema::{ValidationError, Validator, error::ValidationErrorKind};
use serde_json::Value;

use crate::{
    config::{ConnectorConfig, DURATION_EXPECTED, DURATION_PATTERN},
    diag::{Diagnostic, Severity, closest, did_you_mean, list, one_of},
    spec::{
        DirectorySpec, MappingSpec, OverlaySpec, TestSuite,
        yaml::{Document, show, type_name},
    },
};

/// The kinds of YAML file the product reads, each with its schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `connector.yaml`.
    Connector,
    /// A resource mapping, `mappings/event.yaml`.
    Mapping,
    /// A template overlay, `mappings/templates/isi.yaml`.
    Overlay,
    /// Mapping test cases, `mappings/event.test.yaml`.
    MappingTests,
    /// Known CRM participants for `map --directory`, `mappings/examples/directory.yaml`.
    Directory,
}

impl Kind {
    /// Every kind, in the order schemas are written.
    pub const ALL: [Kind; 5] = [
        Kind::Connector,
        Kind::Mapping,
        Kind::Overlay,
        Kind::MappingTests,
        Kind::Directory,
    ];

    /// The schema's file name under `schemas/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Kind::Connector => "connector.schema.json",
            Kind::Mapping => "mapping.schema.json",
            Kind::Overlay => "overlay.schema.json",
            Kind::MappingTests => "mapping-tests.schema.json",
            Kind::Directory => "directory.schema.json",
        }
    }

    /// The generated schema.
    pub fn schema(self) -> &'static Value {
        static SCHEMAS: [OnceLock<Value>; Kind::ALL.len()] =
            [const { OnceLock::new() }; Kind::ALL.len()];
        SCHEMAS[self as usize].get_or_init(|| generate(self))
    }

    /// The compiled validator of [`Kind::schema`].
    pub fn validator(self) -> &'static Validator {
        static VALIDATORS: [OnceLock<Validator>; Kind::ALL.len()] =
            [const { OnceLock::new() }; Kind::ALL.len()];
        VALIDATORS[self as usize].get_or_init(|| compile(self.schema(), self.file_name()))
    }
}

fn generate(kind: Kind) -> Value {
    match kind {
        Kind::Connector => generate_for::<ConnectorConfig>(),
        Kind::Mapping => generate_for::<MappingSpec>(),
        Kind::Overlay => generate_for::<OverlaySpec>(),
        Kind::MappingTests => generate_for::<TestSuite>(),
        Kind::Directory => generate_for::<DirectorySpec>(),
    }
}

/// The validator of a generated schema; `file_name` names it if the schema itself is invalid (a bug).
pub fn compile(schema: &Value, file_name: &str) -> Validator {
    jsonschema::validator_for(schema)
        .unwrap_or_else(|err| panic!("generated schema {file_name} is invalid: {err}"))
}

/// The root schema of `T`, as committed under `schemas/`. Generic so that types outside the pure core
/// (the emulator seeds) get their schemas the same way without `spec` depending on them.
pub fn generate_for<T: schemars::JsonSchema>() -> Value {
    // Draft 7: the newest draft editors fully support (yaml-language-server, VS Code's JSON service).
    let generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = generator.into_root_schema_for::<T>();
    // `$schema`, `title` and `description` first: the order people read a schema file in.
    let Value::Object(mut map) = schema.to_value() else {
        unreachable!("a root schema is an object")
    };
    let mut ordered = serde_json::Map::new();
    for key in ["$schema", "title", "description"] {
        if let Some(value) = map.shift_remove(key) {
            ordered.insert(key.to_string(), value);
        }
    }
    ordered.extend(map);
    Value::Object(ordered)
}

/// The schema file's content: pretty JSON with a trailing newline (stable: field order is preserved).
pub fn render(kind: Kind) -> String {
    render_value(kind.schema())
}

/// [`render`] for any schema value.
pub fn render_value(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// Validates `doc` against the schema of `kind`; every violation, located.
pub fn validate(doc: &Document, kind: Kind) -> Vec<Diagnostic> {
    validate_located(doc, kind)
        .into_iter()
        .map(|v| v.diagnostic)
        .collect()
}

/// A schema violation with the JSON pointer of the node at fault.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The node at fault (for an unknown key: the key's entry).
    pub pointer: String,
    /// Whether the node is a key the schema does not know (removing it loses nothing).
    pub unknown_key: bool,
    /// For an unknown key: the allowed key it most resembles.
    pub suggests: Option<String>,
    /// For a missing required key: its name.
    pub missing_key: Option<String>,
    pub diagnostic: Diagnostic,
}

/// Like [`validate`], keeping the pointer of each violation.
pub fn validate_located(doc: &Document, kind: Kind) -> Vec<Violation> {
    validate_with(doc, kind.validator(), kind.schema())
}

/// Validates `doc` with a compiled `validator` of `schema` (the schema is read for key lists).
pub fn validate_with(doc: &Document, validator: &Validator, schema: &Value) -> Vec<Violation> {
    let mut out = Vec::new();
    for err in validator.iter_errors(&doc.value) {
        report(doc, schema, &err, &mut out);
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|v| {
        let d = &v.diagnostic;
        seen.insert((d.line, d.column, d.message.clone()))
    });
    // A misspelled key is one problem, not also "missing required key": the unknown key's did-you-mean
    // already names the missing one.
    let misspelled: std::collections::HashSet<(String, String)> = out
        .iter()
        .filter_map(|v| {
            let parent = parent_pointer(&v.pointer).to_string();
            Some((parent, v.suggests.clone()?))
        })
        .collect();
    out.retain(|v| {
        v.missing_key
            .as_ref()
            .is_none_or(|k| !misspelled.contains(&(v.pointer.clone(), k.clone())))
    });
    out.sort_by_key(|v| (v.diagnostic.line, v.diagnostic.column));
    out
}

fn push(out: &mut Vec<Violation>, pointer: &str, diagnostic: Diagnostic) {
    out.push(Violation {
        pointer: pointer.to_string(),
        unknown_key: false,
        suggests: None,
        missing_key: None,
        diagnostic,
    });
}

/// `` `fields[2].source` `` for `/fields/2/source`; `the document` for the root.
pub fn display_path(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the document".to_string();
    }
    let mut out = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{token}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&token);
        }
    }
    format!("`{out}`")
}

/// `` in `fields[2]` `` or `at the top level`.
pub fn in_path(pointer: &str) -> String {
    if pointer.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in {}", display_path(pointer))
    }
}

/// "wrong type for X: found Y" at `here`, before the caller says what was expected.
fn wrong_type(doc: &Document, here: &str, instance: &Value) -> Diagnostic {
    doc.error(
        here,
        format!(
            "wrong type for {}: found {}",
            display_path(here),
            type_name(instance)
        ),
    )
}

fn type_error(doc: &Document, here: &str, instance: &Value, expected: &[String]) -> Diagnostic {
    let mut d = wrong_type(doc, here, instance).with_expected(expected.join(" or "));
    let wants_bool = expected.iter().any(|e| e.starts_with("a boolean"));
    let wants_list = expected.iter().any(|e| e == "a list");
    if let Some(text) = instance.as_str() {
        if wants_bool
            && matches!(
                text.to_lowercase().as_str(),
                "yes" | "no" | "on" | "off" | "y" | "n"
            )
        {
            d = d.with_hint(format!(
                "YAML 1.2 reads `{text}` as text; write `true` or `false`"
            ));
        } else if wants_list {
            d = d.with_hint(format!("write a list: `[{text}]`"));
        }
    }
    d
}

fn parent_pointer(pointer: &str) -> &str {
    pointer.rfind('/').map_or("", |i| &pointer[..i])
}

fn report(doc: &Document, root: &Value, err: &ValidationError<'_>, out: &mut Vec<Violation>) {
    let here = err.instance_path().as_str();
    let instance = err.instance();
    match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            let subschema = parent_schema(root, err.schema_path().as_str());
            let allowed = subschema
                .map(|s| property_names(root, s))
                .unwrap_or_default();
            for key in unexpected {
                let pointer = crate::spec::yaml::pointer_push(here, key);
                let mut d = doc.diag_key(
                    &pointer,
                    Severity::Error,
                    format!("unknown key `{key}` {}", in_path(here)),
                );
                if !allowed.is_empty() {
                    d = d
                        .with_expected(one_of(&allowed))
                        .with_hint_opt(did_you_mean(key, &allowed));
                }
                if key == "<<" {
                    d = d.with_hint("YAML merge keys (`<<`) are not supported; write the keys out");
                }
                out.push(Violation {
                    pointer,
                    unknown_key: true,
                    suggests: closest(key, &allowed),
                    missing_key: None,
                    diagnostic: d,
                });
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_string);
            let mut d = doc.error(
                here,
                format!("missing required key `{name}` {}", in_path(here)),
            );
            if let Some(description) = parent_schema(root, err.schema_path().as_str())
                .and_then(|s| s.get("properties"))
                .and_then(|p| p.get(&name))
                .map(|p| resolve(root, p))
                .and_then(|p| p.get("description"))
                .and_then(Value::as_str)
            {
                d = d.with_expected(format!("`{name}`: {}", first_sentence(description)));
            }
            out.push(Violation {
                pointer: here.to_string(),
                unknown_key: false,
                suggests: None,
                missing_key: Some(name),
                diagnostic: d,
            });
        }
        ValidationErrorKind::Type { kind } => {
            let expected: Vec<String> = match kind {
                jsonschema::error::TypeKind::Single(t) => vec![json_type(&t.to_string())],
                jsonschema::error::TypeKind::Multiple(set) => {
                    set.iter().map(|t| json_type(&t.to_string())).collect()
                }
            };
            let is_duration = parent_schema(root, err.schema_path().as_str())
                .and_then(|s| s.get("pattern"))
                .is_some_and(|p| p == DURATION_PATTERN);
            let d = if is_duration {
                let mut d = wrong_type(doc, here, instance).with_expected(DURATION_EXPECTED);
                if let Some(n) = instance.as_u64() {
                    d = d.with_hint(format!("add a unit, e.g. `{n}m` for {n} minutes"));
                }
                d
            } else {
                type_error(doc, here, instance, &expected)
            };
            push(out, here, d);
        }
        ValidationErrorKind::Enum { options } => {
            let values = options.as_array().cloned().unwrap_or_default();
            push(out, here, bad_value(doc, here, instance, &values));
        }
        ValidationErrorKind::Constant { expected_value } => {
            push(
                out,
                here,
                bad_value(
                    doc,
                    here,
                    instance,
                    std::slice::from_ref(expected_value.as_ref()),
                ),
            );
        }
        ValidationErrorKind::Pattern { pattern } => {
            let d = if pattern == DURATION_PATTERN {
                doc.error(
                    here,
                    format!("{} is not a duration {}", show(instance), in_path(here)),
                )
                .with_expected(DURATION_EXPECTED)
            } else {
                doc.error(
                    here,
                    format!(
                        "{} does not have the expected format {}",
                        show(instance),
                        in_path(here)
                    ),
                )
                .with_expected(format!("text matching the pattern `{pattern}`"))
            };
            push(out, here, d);
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            report_alternatives(doc, root, err, context, out);
        }
        _ => {
            push(
                out,
                here,
                doc.error(here, format!("{} {}", err.masked(), in_path(here))),
            );
        }
    }
}

/// A failed `oneOf`/`anyOf`: report what the closest alternative needs, not every alternative's errors.
fn report_alternatives(
    doc: &Document,
    root: &Value,
    err: &ValidationError<'_>,
    branches: &[Vec<ValidationError<'static>>],
    out: &mut Vec<Violation>,
) {
    let here = err.instance_path().as_str();
    let instance = err.instance();

    // A value chosen from a closed set (enum variants, or the tag of an internally tagged enum): every
    // branch rejects a constant at the same place.
    let constant_at = |branch: &Vec<ValidationError<'static>>| {
        branch.iter().find_map(|e| match e.kind() {
            ValidationErrorKind::Constant { .. } | ValidationErrorKind::Enum { .. } => {
                Some(e.instance_path().as_str().to_string())
            }
            _ => None,
        })
    };
    let shapes_differ = |branch: &Vec<ValidationError<'static>>| {
        branch.iter().any(|e| {
            e.instance_path().as_str() == here
                && matches!(e.kind(), ValidationErrorKind::Type { .. })
        })
    };
    let candidates: Vec<&Vec<ValidationError<'static>>> =
        branches.iter().filter(|b| !shapes_differ(b)).collect();

    if !candidates.is_empty()
        && let Some(at) = constant_at(candidates[0])
        && candidates
            .iter()
            .all(|b| constant_at(b).as_deref() == Some(at.as_str()))
    {
        let mut values = Vec::new();
        for branch in &candidates {
            for e in branch.iter() {
                match e.kind() {
                    ValidationErrorKind::Constant { expected_value } => {
                        values.push(expected_value.as_ref().clone())
                    }
                    ValidationErrorKind::Enum { options } => {
                        values.extend(options.as_array().cloned().unwrap_or_default())
                    }
                    _ => {}
                }
            }
        }
        let found = if at == here {
            instance.as_ref().clone()
        } else {
            pointer_get(&doc.value, &at).cloned().unwrap_or(Value::Null)
        };
        push(out, &at, bad_value(doc, &at, &found, &values));
        return;
    }

    if candidates.is_empty() {
        // Wrong shape for every alternative: list the accepted shapes.
        let mut expected = Vec::new();
        for branch in branches {
            for e in branch {
                if e.instance_path().as_str() == here
                    && let ValidationErrorKind::Type { kind } = e.kind()
                {
                    let names: Vec<String> = match kind {
                        jsonschema::error::TypeKind::Single(t) => vec![json_type(&t.to_string())],
                        jsonschema::error::TypeKind::Multiple(set) => {
                            set.iter().map(|t| json_type(&t.to_string())).collect()
                        }
                    };
                    for n in names {
                        if !expected.contains(&n) {
                            expected.push(n);
                        }
                    }
                }
            }
        }
        push(out, here, type_error(doc, here, instance, &expected));
        return;
    }

    // An externally tagged enum written with an unknown variant name: every branch misses its own
    // (single) required key.
    let required_here = |branch: &Vec<ValidationError<'static>>| {
        branch.iter().find_map(|e| match e.kind() {
            ValidationErrorKind::Required { property } if e.instance_path().as_str() == here => {
                property.as_str().map(str::to_string)
            }
            _ => None,
        })
    };
    if candidates.len() > 1 && candidates.iter().all(|b| required_here(b).is_some()) {
        let keys: Vec<String> = candidates.iter().filter_map(|b| required_here(b)).collect();
        let present: Vec<String> = instance
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let expected = format!("exactly one of the keys: {}", list(&keys));
        match present.iter().find(|k| !keys.contains(k)) {
            Some(unknown) => {
                let pointer = crate::spec::yaml::pointer_push(here, unknown);
                let d = doc
                    .diag_key(
                        &pointer,
                        Severity::Error,
                        format!("unknown key `{unknown}` {}", in_path(here)),
                    )
                    .with_expected(expected)
                    .with_hint_opt(did_you_mean(unknown, &keys));
                out.push(Violation {
                    pointer,
                    unknown_key: true,
                    suggests: closest(unknown, &keys),
                    missing_key: None,
                    diagnostic: d,
                });
            }
            None => push(
                out,
                here,
                doc.error(here, format!("{} is incomplete", display_path(here)))
                    .with_expected(expected),
            ),
        }
        return;
    }

    // Otherwise the alternative that got furthest: errors deepest in the document (it matched the
    // most structure), then the fewest problems.
    let best = candidates
        .iter()
        .min_by_key(|b| {
            let (depth, problems) = score(b);
            (usize::MAX - depth, problems)
        })
        .expect("candidates is not empty");
    for e in best.iter() {
        report(doc, root, e, out);
    }
}

/// How far an alternative got: the deepest instance depth of its errors, and how many problems it
/// has (each unexpected key counts; nested alternatives count as their best branch).
fn score(errors: &[ValidationError<'_>]) -> (usize, usize) {
    let mut depth = 0;
    let mut problems = 0;
    for e in errors {
        depth = depth.max(e.instance_path().as_str().matches('/').count());
        match e.kind() {
            ValidationErrorKind::AnyOf { context }
            | ValidationErrorKind::OneOfNotValid { context } => {
                if let Some((d, p)) = context
                    .iter()
                    .map(|b| score(b))
                    .min_by_key(|(d, p)| (usize::MAX - d, *p))
                {
                    depth = depth.max(d);
                    problems += p;
                }
            }
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
                problems += unexpected.len();
            }
            _ => problems += 1,
        }
    }
    (depth, problems)
}

fn bad_value(doc: &Document, pointer: &str, found: &Value, allowed: &[Value]) -> Diagnostic {
    let names: Vec<String> = allowed
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    let mut d = doc
        .error(
            pointer,
            format!(
                "unknown value {} for {}",
                show(found),
                display_path(pointer)
            ),
        )
        .with_expected(one_of(&names));
    if let Some(text) = found.as_str() {
        d = d.with_hint_opt(closest(text, &names).map(|c| format!("did you mean `{c}`?")));
    }
    d
}

fn json_type(name: &str) -> String {
    match name {
        "null" => "nothing (null)",
        "boolean" => "a boolean (`true` or `false`)",
        "integer" => "a whole number",
        "number" => "a number",
        "string" => "text",
        "array" => "a list",
        "object" => "a mapping of keys to values",
        other => other,
    }
    .to_string()
}

/// The first sentence of a (possibly wrapped) description.
fn first_sentence(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let end = joined.find(". ").map_or(joined.len(), |i| i);
    joined[..end].trim_end_matches('.').to_string()
}

fn pointer_get<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    value.pointer(pointer)
}

/// The schema object holding the keyword at `schema_path` (a canonical keyword location).
fn parent_schema<'s>(root: &'s Value, schema_path: &str) -> Option<&'s Value> {
    root.pointer(parent_pointer(schema_path))
}

/// Follows a local `$ref` (`#/$defs/X`).
fn resolve<'s>(root: &'s Value, schema: &'s Value) -> &'s Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => reference
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .map_or(schema, |s| resolve(root, s)),
        None => schema,
    }
}

/// The keys a schema object allows, including those of its `allOf`/`anyOf`/`oneOf` parts.
fn property_names(root: &Value, schema: &Value) -> Vec<String> {
    let mut names = Vec::new();
    collect_properties(root, schema, &mut names, 0);
    names
}

fn collect_properties(root: &Value, schema: &Value, names: &mut Vec<String>, depth: usize) {
    if depth > 8 {
        return;
    }
    let schema = resolve(root, schema);
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for key in props.keys() {
            if !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    for keyword in ["allOf", "anyOf", "oneOf"] {
        if let Some(parts) = schema.get(keyword).and_then(Value::as_array) {
            for part in parts {
                collect_properties(root, part, names, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_display_like_yaml() {
        assert_eq!(display_path(""), "the document");
        assert_eq!(in_path(""), "at the top level");
        assert_eq!(display_path("/fields/2/source"), "`fields[2].source`");
        assert_eq!(display_path("/crm"), "`crm`");
        assert_eq!(display_path("/values/a~1b"), "`values.a/b`");
    }
}
