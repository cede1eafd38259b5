//! Reading spec and config files: the one place where the YAML pipeline touches the file system.
//!
//! Per file: read → [`yaml::parse`] → [`schema::validate`] → deserialize into the spec type (through
//! `serde_path_to_error`, so even a serde error is located); then all mapping files together (with the
//! template overlay) → [`check::check`]. Every step reports
//! located diagnostics and the pipeline keeps going as far as it can, so one run shows every problem of
//! every file. A file with schema errors is still handed to the semantic checks when it can be read
//! after dropping the offending nodes, so a misspelled key does not hide a broken JSONPath.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use jsonschema::Validator;

use serde::de::DeserializeOwned;
use serde_json::Value;

#[cfg(feature = "sandbox")]
use crate::emulator::{crm::Seed as CrmSeed, graph::Seed as GraphSeed};
use crate::{
    check::{self, Source},
    config::{self, ConnectorConfig},
    diag::{Diagnostic, did_you_mean, one_of},
    limits::MAX_FILE_BYTES,
    model::MappingSet,
    spec::{
        DirectorySpec, MappingSpec, OverlaySpec, TestSuite,
        schema::{self, Kind},
        yaml::{self, Document},
    },
};

/// A mapping set that passed every check; `diagnostics` holds the warnings.
#[derive(Debug)]
pub struct Loaded {
    pub model: MappingSet,
    pub diagnostics: Vec<Diagnostic>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

/// A mapping set with errors; `diagnostics` holds every error and warning found.
#[derive(Debug)]
pub struct LoadFailure {
    pub diagnostics: Vec<Diagnostic>,
    /// The files read, in order.
    pub files: Vec<PathBuf>,
}

/// One file read as a spec type: the document, the spec when it could be built, and diagnostics.
#[derive(Debug)]
pub struct SpecFile<T> {
    pub path: PathBuf,
    pub doc: Option<Document>,
    pub spec: Option<T>,
    pub diagnostics: Vec<Diagnostic>,
    /// Positions where semantic diagnostics are suppressed (see [`FromDocument::masked`]).
    pub masked: HashSet<(usize, usize)>,
}

/// The name a file goes by in diagnostics: the path as given, with `/` separators.
pub fn display_name(path: &Path) -> String {
    let text = path.display().to_string();
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}

/// Why a file could not be read as text.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read file: {0}")]
    Io(#[from] std::io::Error),
    #[error("not a regular file but {0}; expected a file")]
    NotAFile(&'static str),
    #[error("file is larger than {} ({limit} bytes); expected a smaller file", human_bytes(*limit))]
    TooLarge { limit: u64 },
    #[error("not UTF-8 text (invalid byte at offset {offset}); expected a UTF-8 text file")]
    NotUtf8 { offset: usize },
}

/// `32 MiB`, `64 KiB`, `100 bytes`.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1024 * 1024 && n % (1024 * 1024) == 0 => format!("{} MiB", n / (1024 * 1024)),
        n if n >= 1024 && n % 1024 == 0 => format!("{} KiB", n / 1024),
        n => format!("{n} bytes"),
    }
}

/// Reads a UTF-8 text file of at most `limit` bytes, without a leading byte-order mark. Devices
/// (`/dev/zero`), FIFOs and directories are refused before reading, and no more than `limit + 1` bytes
/// are ever read, so no path given on the command line or in a config can make the process read
/// without end.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    use std::io::Read;
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotAFile(file_kind(&kind)));
    }
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    let mut text = String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
        offset: e.utf8_error().valid_up_to(),
    })?;
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

fn file_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_fifo() {
            return "a pipe";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// Reads and parses a YAML file (at most [`MAX_FILE_BYTES`]).
pub fn read_document(path: &Path) -> Result<Document, Vec<Diagnostic>> {
    let name = display_name(path);
    let text = read_text(path, MAX_FILE_BYTES)
        .map_err(|err| vec![Diagnostic::error(&name, 0, 0, err.to_string())])?;
    yaml::parse(&name, &text)
}

/// Reads one file as a spec of `kind`: parse, schema-validate, deserialize.
pub fn read_spec<T: DeserializeOwned>(path: &Path, kind: Kind) -> SpecFile<T> {
    let doc = match read_document(path) {
        Ok(doc) => doc,
        Err(diagnostics) => {
            return SpecFile {
                path: path.to_path_buf(),
                doc: None,
                spec: None,
                diagnostics,
                masked: HashSet::new(),
            };
        }
    };
    let read = spec_from_document(&doc, kind);
    SpecFile {
        path: path.to_path_buf(),
        doc: Some(doc),
        spec: read.spec,
        diagnostics: read.diagnostics,
        masked: read.masked,
    }
}

/// A spec read from a document, with what the semantic checks must not report.
#[derive(Debug)]
pub struct FromDocument<T> {
    pub spec: Option<T>,
    pub diagnostics: Vec<Diagnostic>,
    /// Positions inside nodes dropped to get past schema errors: a later diagnostic there would only
    /// repeat (or be caused by) a schema error already reported.
    pub masked: HashSet<(usize, usize)>,
}

/// Schema-validates a parsed document and deserializes it (a deserialization error is located too).
/// With schema errors, the nodes at fault are dropped — never list items, so positions stay valid —
/// and deserialization is retried so that the semantic checks still run on the rest; failing that,
/// the file is left out of them silently (the schema errors already say what is wrong).
pub fn spec_from_document<T: DeserializeOwned>(doc: &Document, kind: Kind) -> FromDocument<T> {
    from_document(doc, schema::validate_located(doc, kind), kind.description())
}

/// [`spec_from_document`] with the schema violations found and the name of what the file is.
fn from_document<T: DeserializeOwned>(
    doc: &Document,
    violations: Vec<schema::Violation>,
    what: &str,
) -> FromDocument<T> {
    let mut masked = HashSet::new();
    if violations.is_empty() {
        return match serde_path_to_error::deserialize::<_, T>(doc.value.clone()) {
            Ok(spec) => FromDocument {
                spec: Some(spec),
                diagnostics: Vec::new(),
                masked,
            },
            Err(err) => {
                let pointer = pointer_of(err.path());
                let d = doc.error(
                    &pointer,
                    format!(
                        "cannot read {} at {}: {}",
                        what,
                        schema::display_path(&pointer),
                        err.inner()
                    ),
                );
                FromDocument {
                    spec: None,
                    diagnostics: vec![d],
                    masked,
                }
            }
        };
    }
    let mut repaired = doc.value.clone();
    let mut drop = |repaired: &mut Value, pointer: &str| -> bool {
        let Some(member) = member_at_or_above(repaired, pointer) else {
            return false;
        };
        masked.extend(doc.subtree_positions(&member));
        // The node's mapping may now lack a key it needs; whatever the checks say about that mapping
        // itself stems from this error (a misspelled `from` is not also "a rule without `from`").
        let parent = parent_of(&member);
        if !parent.is_empty() {
            masked.insert(doc.locate(parent));
            masked.insert(doc.locate_key(parent));
        }
        remove(repaired, &member)
    };
    for v in &violations {
        drop(&mut repaired, &v.pointer);
    }
    let mut spec = None;
    for _ in 0..32 {
        match serde_path_to_error::deserialize::<_, T>(repaired.clone()) {
            Ok(s) => {
                spec = Some(s);
                break;
            }
            Err(err) => {
                if !drop(&mut repaired, &pointer_of(err.path())) {
                    break;
                }
            }
        }
    }
    FromDocument {
        spec,
        diagnostics: violations.into_iter().map(|v| v.diagnostic).collect(),
        masked,
    }
}

/// The JSON pointer of a serde path (`fields[2].from.path` → `/fields/2/from/path`).
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => pointer = yaml::pointer_push(&pointer, &index.to_string()),
            Segment::Map { key } => pointer = yaml::pointer_push(&pointer, key),
            Segment::Enum { variant } => pointer = yaml::pointer_push(&pointer, variant),
            Segment::Unknown => break,
        }
    }
    pointer
}

fn parent_of(pointer: &str) -> &str {
    pointer.rfind('/').map_or("", |i| &pointer[..i])
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// The deepest mapping entry at or above `pointer` that exists in `value` (list items are skipped).
fn member_at_or_above(value: &Value, pointer: &str) -> Option<String> {
    let mut best = None;
    let mut current = value;
    let mut at = String::new();
    for token in pointer.split('/').skip(1) {
        let next = match current {
            Value::Object(map) => {
                let key = unescape(token);
                let next = map.get(&key)?;
                at = yaml::pointer_push(&at, &key);
                best = Some(at.clone());
                next
            }
            Value::Array(items) => {
                let next = items.get(token.parse::<usize>().ok()?)?;
                at = format!("{at}/{token}");
                next
            }
            _ => break,
        };
        current = next;
    }
    best
}

fn remove(value: &mut Value, pointer: &str) -> bool {
    let parent = parent_of(pointer);
    let last = unescape(&pointer[parent.len() + 1..]);
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => map.shift_remove(&last).is_some(),
        _ => false,
    }
}

/// The resource spec files of a mapping directory: `DIR/*.yaml` without `*.test.yaml`, sorted.
pub fn mapping_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    list_yaml(dir, |name| !is_test_file(name))
}

/// The mapping test files of a mapping directory: `DIR/*.test.yaml`, sorted.
pub fn test_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    list_yaml(dir, is_test_file)
}

/// The template names available in `DIR/templates/`.
pub fn template_names(dir: &Path) -> Vec<String> {
    list_yaml(&dir.join("templates"), |_| true)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
        .collect()
}

/// Whether a file name is a mapping test file (`*.test.yaml`).
pub fn is_test_file(name: &str) -> bool {
    name.ends_with(".test.yaml") || name.ends_with(".test.yml")
}

fn list_yaml(dir: &Path, keep: impl Fn(&str) -> bool) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        // Not `is_file`: a device or pipe named `*.yaml` is read, and refused with a located error.
        if !path.is_dir() && (name.ends_with(".yaml") || name.ends_with(".yml")) && keep(name) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The overlay file of `template` in `dir`, or a diagnostic naming the templates that exist.
pub fn template_file(dir: &Path, template: &str) -> Result<PathBuf, Diagnostic> {
    let path = dir.join("templates").join(format!("{template}.yaml"));
    if path.is_file() {
        return Ok(path);
    }
    let names = template_names(dir);
    let mut d = Diagnostic::error(
        display_name(&dir.join("templates")),
        0,
        0,
        format!(
            "template `{template}` not found (no file {})",
            display_name(&path)
        ),
    )
    .with_hint_opt(did_you_mean(template, &names));
    if !names.is_empty() {
        d = d.with_expected(one_of(&names));
    }
    Err(d)
}

/// Loads the mapping directory `dir` with the overlay of `template`: every file, every check.
pub fn load_mappings(dir: &Path, template: Option<&str>) -> Result<Loaded, LoadFailure> {
    let files = mapping_files(dir).map_err(|err| LoadFailure {
        diagnostics: vec![
            Diagnostic::error(
                display_name(dir),
                0,
                0,
                format!("cannot read mapping directory: {err}"),
            )
            .with_expected("a directory of mapping specs such as `mappings/event.yaml`"),
        ],
        files: Vec::new(),
    })?;
    let overlay = match template {
        Some(name) => match template_file(dir, name) {
            Ok(path) => Some(path),
            Err(d) => {
                return Err(LoadFailure {
                    diagnostics: vec![d],
                    files,
                });
            }
        },
        None => None,
    };
    load_mapping_files(&files, overlay.as_deref())
}

/// The resource name and form of a resource file that could not be read as a spec, as far as they
/// are known: from its document, else (a YAML syntax error) its top-level `form:` line and its file
/// name (`event.yaml` → `event`).
fn resource_and_form(file: &SpecFile<MappingSpec>) -> (Option<String>, Option<String>) {
    let get = |key: &str| {
        file.doc
            .as_ref()?
            .value
            .get(key)?
            .as_str()
            .map(str::to_string)
    };
    let name = get("resource").or_else(|| {
        let stem = file.path.file_name()?.to_str()?;
        let stem = stem
            .strip_suffix(".yaml")
            .or_else(|| stem.strip_suffix(".yml"))?;
        Some(stem.to_string())
    });
    let form = match &file.doc {
        Some(_) => get("form"),
        None => read_text(&file.path, MAX_FILE_BYTES).ok().and_then(|text| {
            text.lines().find_map(|line| {
                let value = line.strip_prefix("form:")?;
                let value = value.split(" #").next()?.trim().trim_matches(['"', '\'']);
                (!value.is_empty()).then(|| value.to_string())
            })
        }),
    };
    (name, form)
}

/// Loads the given resource spec files with an optional overlay file: every file, every check.
pub fn load_mapping_files(
    files: &[PathBuf],
    overlay: Option<&Path>,
) -> Result<Loaded, LoadFailure> {
    let mut diagnostics = Vec::new();
    let mut specs: Vec<SpecFile<MappingSpec>> = Vec::new();
    for path in files {
        let mut file = read_spec::<MappingSpec>(path, Kind::Mapping);
        diagnostics.append(&mut file.diagnostics);
        specs.push(file);
    }
    let mut overlay_file = overlay.map(|path| read_spec::<OverlaySpec>(path, Kind::Overlay));
    if let Some(file) = &mut overlay_file {
        diagnostics.append(&mut file.diagnostics);
        // A resource file that could not be read is not "missing": what the checks would say about the
        // overlay's changes to it (its resource, its form's field list) only follows from that file's
        // own errors.
        let used_forms: HashSet<&str> = specs
            .iter()
            .filter_map(|f| f.spec.as_ref()?.form.as_deref())
            .collect();
        let mut hidden = HashSet::new();
        if let Some(doc) = &file.doc {
            for unreadable in specs.iter().filter(|f| f.spec.is_none()) {
                let (name, form) = resource_and_form(unreadable);
                if let Some(name) = name {
                    hidden.extend(doc.subtree_positions(&yaml::pointer_push("/resources", &name)));
                }
                // Without its form, the file might have used any form no readable file uses.
                let forms: Vec<&String> = match &form {
                    Some(form) => vec![form],
                    None => file.spec.iter().flat_map(|o| o.forms.keys()).collect(),
                };
                for form in forms {
                    if !used_forms.contains(form.as_str()) {
                        hidden.insert(doc.locate(&yaml::pointer_push("/forms", form)));
                    }
                }
            }
        }
        file.masked.extend(hidden);
    }
    let mut all_files: Vec<PathBuf> = files.to_vec();
    all_files.extend(overlay.map(Path::to_path_buf));

    let sources: Vec<Source<'_, MappingSpec>> = specs
        .iter()
        .filter_map(|f| {
            Some(Source {
                doc: f.doc.as_ref()?,
                spec: f.spec.as_ref()?,
            })
        })
        .collect();
    let overlay_source = overlay_file.as_ref().and_then(|f| {
        Some(Source {
            doc: f.doc.as_ref()?,
            spec: f.spec.as_ref()?,
        })
    });
    let all_read = sources.len() == specs.len()
        && overlay_file
            .as_ref()
            .is_none_or(|_| overlay_source.is_some());
    let checked = check::check(&sources, overlay_source);
    let masked: HashSet<(&str, usize, usize)> = specs
        .iter()
        .map(|f| (f.doc.as_ref(), &f.masked))
        .chain(overlay_file.as_ref().map(|f| (f.doc.as_ref(), &f.masked)))
        .filter_map(|(doc, masked)| Some((doc?.file.as_str(), masked)))
        .flat_map(|(file, masked)| masked.iter().map(move |(l, c)| (file, *l, *c)))
        .collect();
    diagnostics.extend(
        checked
            .diagnostics
            .into_iter()
            .filter(|d| !masked.contains(&(d.file.as_str(), d.line, d.column))),
    );

    crate::diag::sort(&mut diagnostics);
    match checked.model {
        Some(model) if all_read && !diagnostics.iter().any(Diagnostic::is_error) => Ok(Loaded {
            model,
            diagnostics,
            files: all_files,
        }),
        _ => Err(LoadFailure {
            diagnostics,
            files: all_files,
        }),
    }
}

/// Checks a mapping test file: its schema, and what `test` would stumble on later (an unknown resource,
/// time zone or `now`), located. The resources are those of the mapping files beside it.
pub fn check_test_file(path: &Path) -> Vec<Diagnostic> {
    let read = read_spec::<TestSuite>(path, Kind::MappingTests);
    let mut diagnostics = read.diagnostics;
    if let (Some(doc), Some(suite)) = (&read.doc, &read.spec) {
        let dir = path.parent().unwrap_or(Path::new("."));
        let resources: Vec<String> = mapping_files(dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|file| {
                let doc = read_document(file).ok()?;
                Some(doc.value.get("resource")?.as_str()?.to_string())
            })
            .collect();
        diagnostics.extend(
            check::check_suite(doc, suite, Some(&resources))
                .into_iter()
                .filter(|d| !read.masked.contains(&(d.line, d.column))),
        );
    }
    diagnostics
}

/// Checks a participant directory or an emulator seed: YAML, schema and types, every problem located;
/// a Graph seed also gets the emulator's own checks (GUIDs, time zones, duplicate users).
pub fn check_data_file(path: &Path, kind: Kind) -> Vec<Diagnostic> {
    let doc = match read_document(path) {
        Ok(doc) => doc,
        Err(diagnostics) => return diagnostics,
    };
    let (Some(validator), Some(schema)) = (validator(kind), schema(kind)) else {
        return vec![doc.error(
            "",
            format!(
                "checking {} needs the emulators (build with the `sandbox` feature)",
                kind.description()
            ),
        )];
    };
    let violations = schema::validate_with(&doc, validator, schema);
    match kind {
        Kind::Directory => {
            from_document::<DirectorySpec>(&doc, violations, kind.description()).diagnostics
        }
        #[cfg(feature = "sandbox")]
        Kind::CrmSeed => from_document::<CrmSeed>(&doc, violations, kind.description()).diagnostics,
        #[cfg(feature = "sandbox")]
        Kind::GraphSeed => {
            let read = from_document::<GraphSeed>(&doc, violations, kind.description());
            if !read.diagnostics.is_empty() || read.spec.is_none() {
                return read.diagnostics;
            }
            let text = read_text(path, MAX_FILE_BYTES).unwrap_or_default();
            match GraphSeed::from_yaml(&text, &doc.file) {
                Ok(_) => Vec::new(),
                Err(crate::emulator::graph::Error::Seed { message, .. }) => {
                    vec![seed_error(&doc, &message)]
                }
                Err(other) => vec![Diagnostic::error(&doc.file, 0, 0, other.to_string())],
            }
        }
        other => vec![Diagnostic::error(
            &doc.file,
            0,
            0,
            format!("{} is not a data file", other.description()),
        )],
    }
}

#[cfg(feature = "sandbox")]
/// Locates an emulator seed message of the form `users[2].timeZone: expected …` at that node.
fn seed_error(doc: &Document, message: &str) -> Diagnostic {
    let (path, rest) = message.split_once(": ").unwrap_or(("", message));
    let mut pointer = String::new();
    for part in path.split(' ').next().unwrap_or("").split('.') {
        let (key, index) = match part.split_once('[') {
            Some((key, index)) => (key, index.strip_suffix(']')),
            None => (part, None),
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return doc.error("", message.to_string());
        }
        pointer = yaml::pointer_push(&pointer, key);
        if let Some(index) = index {
            pointer = yaml::pointer_push(&pointer, index);
        }
    }
    if doc.value.pointer(&pointer).is_none() {
        return doc.error("", message.to_string());
    }
    doc.error(&pointer, format!("`{path}`: {rest}"))
}

/// Loads `connector.yaml`: schema, types, and [`config::check`]; relative paths are made relative to
/// the file's directory. Warnings accompany success.
pub fn load_config(path: &Path) -> Result<(ConnectorConfig, Vec<Diagnostic>), Vec<Diagnostic>> {
    let file = read_spec::<ConnectorConfig>(path, Kind::Connector);
    let mut diagnostics = file.diagnostics;
    let (Some(doc), Some(mut config)) = (file.doc, file.spec) else {
        return Err(diagnostics);
    };
    diagnostics.extend(
        config::check(&doc, &config)
            .into_iter()
            .filter(|d| !file.masked.contains(&(d.line, d.column))),
    );
    crate::diag::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    let base = path.parent().unwrap_or(Path::new("."));
    config.resolve_paths(base);
    Ok((config, diagnostics))
}

/// Everything the connector runs on: the config and the mapping set it names, with the warnings of
/// both.
#[derive(Debug)]
pub struct Setup {
    pub config: ConnectorConfig,
    pub mappings: Loaded,
    pub warnings: Vec<Diagnostic>,
}

/// Loads `connector.yaml` and then its mapping directory with its template; every problem of every
/// file when anything is wrong (the mappings are checked even when the config has errors, as far as
/// its `mappings` section can be read).
pub fn load_setup(config_path: &Path) -> Result<Setup, Vec<Diagnostic>> {
    match load_config(config_path) {
        Ok((config, mut warnings)) => {
            match load_mappings(&config.mappings.dir, config.mappings.template.as_deref()) {
                Ok(mappings) => {
                    warnings.extend(mappings.diagnostics.iter().cloned());
                    Ok(Setup {
                        config,
                        mappings,
                        warnings,
                    })
                }
                Err(failure) => {
                    warnings.extend(failure.diagnostics);
                    Err(warnings)
                }
            }
        }
        Err(mut diagnostics) => {
            let raw = read_document(config_path).ok();
            let get = |key: &str| {
                raw.as_ref()
                    .and_then(|d| d.value.pointer(&format!("/mappings/{key}")))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let base = config_path.parent().unwrap_or(Path::new(""));
            let dir = base.join(get("dir").unwrap_or_else(|| "mappings".to_string()));
            if dir.is_dir()
                && let Err(failure) = load_mappings(&dir, get("template").as_deref())
            {
                diagnostics.extend(failure.diagnostics);
            }
            Err(diagnostics)
        }
    }
}

/// The schema of any file kind: the core's for the spec kinds, the emulator seeds' from the emulator's
/// types (`None` without the `sandbox` feature, which brings the emulator crate).
pub fn schema(kind: Kind) -> Option<&'static Value> {
    match kind.core_schema() {
        Some(schema) => Some(schema),
        None => seed_schema(kind).map(|(schema, _)| schema),
    }
}

/// The compiled validator of [`schema`].
pub fn validator(kind: Kind) -> Option<&'static Validator> {
    match kind.core_validator() {
        Some(validator) => Some(validator),
        None => seed_schema(kind).map(|(_, validator)| validator),
    }
}

/// The schema file's content (see [`schema::render_value`]), when this build has the kind's schema.
pub fn render_schema(kind: Kind) -> Option<String> {
    schema(kind).map(schema::render_value)
}

#[cfg(feature = "sandbox")]
fn seed_schema(kind: Kind) -> Option<&'static (Value, Validator)> {
    use std::sync::OnceLock;
    static CRM: OnceLock<(Value, Validator)> = OnceLock::new();
    static GRAPH: OnceLock<(Value, Validator)> = OnceLock::new();
    let (cell, generate): (_, fn() -> Value) = match kind {
        Kind::CrmSeed => (&CRM, schema::generate_for::<CrmSeed>),
        Kind::GraphSeed => (&GRAPH, schema::generate_for::<GraphSeed>),
        _ => return None,
    };
    Some(cell.get_or_init(|| {
        let value = generate();
        let validator = schema::compile(&value, kind.file_name());
        (value, validator)
    }))
}

#[cfg(not(feature = "sandbox"))]
fn seed_schema(_kind: Kind) -> Option<&'static (Value, Validator)> {
    None
}

/// Classifies a file by name (`*.test.yaml`) or content, failing that by name (`connector*.yaml`,
/// `*seed*.yaml` in `graph/` or `crm/`, `directory*.yaml`, `templates/`).
pub fn classify(path: &Path, doc: Option<&Document>) -> Kind {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if is_test_file(name) {
        return Kind::MappingTests;
    }
    if let Some(Value::Object(map)) = doc.map(|d| &d.value) {
        if map.contains_key("graph") || map.contains_key("crm") && !map.contains_key("resource") {
            return Kind::Connector;
        }
        if map.contains_key("tenant") && !map.contains_key("resource") {
            return Kind::GraphSeed;
        }
        if ["master", "tables", "catalogs"]
            .iter()
            .any(|key| map.contains_key(*key))
            && !map.contains_key("resource")
        {
            return Kind::CrmSeed;
        }
        if (map.contains_key("reps") || map.contains_key("persons"))
            && !map.contains_key("resource")
            && !map.contains_key("cases")
        {
            return Kind::Directory;
        }
        if map.contains_key("template") && !map.contains_key("resource") {
            return Kind::Overlay;
        }
        if map.contains_key("cases") {
            return Kind::MappingTests;
        }
        if map.contains_key("resource") {
            return Kind::Mapping;
        }
    }
    if name.starts_with("connector") {
        return Kind::Connector;
    }
    if name.contains("seed") {
        let in_dir = |dir: &str| {
            path.parent()
                .and_then(|p| p.file_name())
                .is_some_and(|p| p == dir)
        };
        if in_dir("graph") || name.contains("graph") {
            return Kind::GraphSeed;
        }
        if in_dir("crm") || name.contains("crm") {
            return Kind::CrmSeed;
        }
    }
    if name.starts_with("directory") {
        return Kind::Directory;
    }
    if path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|p| p == "templates")
    {
        return Kind::Overlay;
    }
    Kind::Mapping
}

// ---- loading for commands: print every diagnostic, fail with a summary ----

/// Loads a mapping set, printing warnings to stderr; errors end the command.
pub fn load_set(dir: &std::path::Path, template: Option<&str>) -> anyhow::Result<MappingSet> {
    match load_mappings(dir, template) {
        Ok(loaded) => {
            for d in &loaded.diagnostics {
                eprintln!("{d}");
            }
            Ok(loaded.model)
        }
        Err(failure) => {
            for d in &failure.diagnostics {
                eprintln!("{d}");
            }
            let n = failure.diagnostics.iter().filter(|d| d.is_error()).count();
            anyhow::bail!(
                "the mappings in {} have {n} error(s) (shown above); fix them first (`graph-connector validate {}`)",
                dir.display(),
                dir.display()
            )
        }
    }
}

/// Reads a `--directory` file like `validate` checks one (YAML, schema, types), printing every located
/// diagnostic to stderr; errors end the command.
pub fn read_directory(path: &std::path::Path) -> anyhow::Result<crate::mapping::Directory> {
    let read = read_spec::<DirectorySpec>(path, Kind::Directory);
    for d in &read.diagnostics {
        eprintln!("{d}");
    }
    let n = read.diagnostics.iter().filter(|d| d.is_error()).count();
    match read.spec {
        Some(spec) if n == 0 => Ok(crate::mapping::Directory::from(&spec)),
        _ => anyhow::bail!(
            "the participant directory {} has {} error(s) (shown above); expected `reps: [{{email, id, name}}]` and `persons: [{{email, id, name, fields}}]`",
            display_name(path),
            n.max(1)
        ),
    }
}
