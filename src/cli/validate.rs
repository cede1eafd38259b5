//! `graph-connector validate`: every problem of a config or mapping set, one located line each.
//!
//! Paths may be a connector config, a mapping directory, or single files (resource specs, overlays,
//! `*.test.yaml`, a `--directory` participant file, a CRM or Graph emulator seed); without paths the connector config and its mapping directory are checked. A mapping
//! directory is checked with its base behaviour and with each template overlay in scope (the one chosen
//! by `--template` or the config, else every overlay in `templates/`); identical diagnostics from several
//! passes are reported once.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::bail;

use graph_connector::{
    diag::{self, Diagnostic},
    load::{self},
    spec::schema::Kind,
};

/// The config read when `--config` is not given.
pub const DEFAULT_CONFIG: &str = "connector.yaml";

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config files, mapping directories or mapping files (default: the configured ones).
    pub paths: Vec<PathBuf>,
    /// Connector config to take the mapping directory and template from.
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Template overlay to check the mappings against (default: the config's template).
    #[arg(long)]
    pub template: Option<String>,
    /// Treat warnings as errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Output format of diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Everything found, and the files looked at.
#[derive(Debug, Default)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
    pub files: BTreeSet<PathBuf>,
    /// Remarks about what was validated (not problems), e.g. the config assumed.
    pub notes: Vec<String>,
    seen: std::collections::HashSet<Diagnostic>,
}

impl Report {
    fn add(&mut self, diagnostics: impl IntoIterator<Item = Diagnostic>) {
        for d in diagnostics {
            // A set, not a scan of the list: a file with many thousand errors stays linear.
            if self.seen.insert(d.clone()) {
                self.diagnostics.push(d);
            }
        }
    }

    /// `2 errors, 1 warning in 3 files`.
    pub fn summary(&self) -> String {
        let (errors, warnings) = diag::count(&self.diagnostics);
        let files = self.files.len();
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        if errors == 0 && warnings == 0 {
            return format!("no problems in {}", plural(files, "file"));
        }
        format!(
            "{}, {} in {}",
            plural(errors, "error"),
            plural(warnings, "warning"),
            plural(files, "file")
        )
    }
}

/// Runs the checks `args` ask for (no output).
pub fn collect(args: &Args) -> anyhow::Result<Report> {
    let mut report = Report::default();
    if args.paths.is_empty() {
        default_targets(args, &mut report)?;
    } else {
        explicit_targets(args, &mut report)?;
    }
    diag::sort(&mut report.diagnostics);
    Ok(report)
}

/// No paths: the config (when it exists) and its mapping directory and template.
fn default_targets(args: &Args, report: &mut Report) -> anyhow::Result<()> {
    let (dir, template, only_template) = if args.config.exists() {
        report.files.insert(args.config.clone());
        let Some((dir, template)) = check_config(&args.config, report) else {
            return Ok(());
        };
        (dir, args.template.clone().or(template), true)
    } else if args.config != Path::new(DEFAULT_CONFIG) {
        bail!(
            "config file {} does not exist",
            load::display_name(&args.config)
        );
    } else {
        let dir = args
            .config
            .parent()
            .unwrap_or(Path::new(""))
            .join("mappings");
        report.notes.push(format!(
            "{} not found; assuming the default config: mappings in {}/, checked with {}",
            load::display_name(&args.config),
            load::display_name(&dir),
            match &args.template {
                Some(name) => format!("template `{name}`"),
                None => "every template overlay".to_string(),
            }
        ));
        (dir, args.template.clone(), args.template.is_some())
    };
    if !dir.is_dir() {
        bail!(
            "mapping directory {} does not exist (pass a config with --config or paths to validate)",
            dir.display()
        );
    }
    check_mapping_dir(&dir, template.as_deref(), only_template, report);
    Ok(())
}

/// Validates a config file; returns the mapping directory and template it names (best effort even
/// when the config has errors, so the mappings get checked too). A mapping directory or template that
/// does not exist is reported at its line in the config (and `None` / no template is returned).
fn check_config(path: &Path, report: &mut Report) -> Option<(PathBuf, Option<String>)> {
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let raw = load::read_document(path).ok();
    let (dir, mut template) = match load::load_config(path) {
        Ok((config, diagnostics)) => {
            report.add(diagnostics);
            (config.mappings.dir, config.mappings.template)
        }
        Err(diagnostics) => {
            report.add(diagnostics);
            // Read what we can of `mappings:` from the raw document.
            let get = |key: &str| {
                raw.as_ref()
                    .and_then(|d| d.value.pointer(&format!("/mappings/{key}")))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let dir = base.join(get("dir").unwrap_or_else(|| "mappings".to_string()));
            (dir, get("template"))
        }
    };
    let located = |pointer: &str, message: String| match &raw {
        Some(doc) => doc.error(pointer, message),
        None => Diagnostic::error(load::display_name(path), 0, 0, message),
    };
    if !dir.is_dir() {
        report.add([located(
            "/mappings/dir",
            format!(
                "mapping directory `{}` does not exist",
                load::display_name(&dir)
            ),
        )
        .with_expected("a directory of mapping specs (relative to the config file)")]);
        return None;
    }
    if let Some(name) = &template
        && let Err(missing) = load::template_file(&dir, name)
    {
        let mut d = located("/mappings/template", missing.message);
        d.expected = missing.expected;
        d.hint = missing.hint;
        report.add([d]);
        template = None;
    }
    Some((dir, template))
}

fn explicit_targets(args: &Args, report: &mut Report) -> anyhow::Result<()> {
    // Mapping files given one by one are checked together, per directory.
    let mut mapping_groups: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    let mut overlays: Vec<PathBuf> = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            check_mapping_dir(
                path,
                args.template.as_deref(),
                args.template.is_some(),
                report,
            );
            continue;
        }
        // Anything else that exists (a device, a pipe) is read, and refused, as a file: a located error.
        if !path.exists() {
            bail!(
                "{} does not exist (expected a config file, a mapping directory or a mapping file)",
                path.display()
            );
        }
        report.files.insert(path.clone());
        let doc = load::read_document(path);
        match load::classify(path, doc.as_ref().ok()) {
            Kind::Connector => {
                check_config(path, report);
            }
            Kind::MappingTests => report.add(load::check_test_file(path)),
            kind @ (Kind::Directory | Kind::CrmSeed | Kind::GraphSeed) => {
                report.add(load::check_data_file(path, kind))
            }
            Kind::Overlay => overlays.push(path.clone()),
            Kind::Mapping => {
                let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
                mapping_groups.entry(dir).or_default().push(path.clone());
            }
        }
    }
    for (dir, files) in &mapping_groups {
        let overlay = match &args.template {
            Some(name) => match load::template_file(dir, name) {
                Ok(path) => Some(path),
                Err(d) => {
                    report.add([d]);
                    None
                }
            },
            None => None,
        };
        // With an overlay, the given files are checked in the context of their whole directory (the
        // overlay may change other resources), reporting on the given files and the overlay only.
        let mut context = files.clone();
        let mut shown: BTreeSet<String> = files.iter().map(|f| load::display_name(f)).collect();
        if let Some(path) = &overlay {
            report.files.insert(path.clone());
            shown.insert(load::display_name(path));
            for file in load::mapping_files(dir).unwrap_or_default() {
                if !context.iter().any(|f| same_file(f, &file)) {
                    context.push(file);
                }
            }
        }
        let diagnostics = match load::load_mapping_files(&context, overlay.as_deref()) {
            Ok(loaded) => loaded.diagnostics,
            Err(failure) => failure.diagnostics,
        };
        report.add(diagnostics.into_iter().filter(|d| shown.contains(&d.file)));
    }
    for overlay in &overlays {
        // An overlay is checked against the resource specs of its mapping directory (`templates/..`).
        let dir = overlay
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new(""))
            .to_path_buf();
        let files = load::mapping_files(&dir).unwrap_or_default();
        report.files.extend(files.iter().cloned());
        match load::load_mapping_files(&files, Some(overlay)) {
            Ok(loaded) => report.add(loaded.diagnostics),
            Err(failure) => report.add(failure.diagnostics),
        }
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Checks a mapping directory: its test files' schema, the base set, and the set with each overlay in
/// scope (`template`, or every overlay in `templates/` unless `only_template`).
fn check_mapping_dir(dir: &Path, template: Option<&str>, only_template: bool, report: &mut Report) {
    let files = match load::mapping_files(dir) {
        Ok(files) => files,
        Err(err) => {
            report.add([Diagnostic::error(
                load::display_name(dir),
                0,
                0,
                format!("cannot read mapping directory: {err}"),
            )]);
            return;
        }
    };
    // A config kept next to the mappings is checked as a config, not as a mapping.
    let (configs, files): (Vec<PathBuf>, Vec<PathBuf>) = files.into_iter().partition(|path| {
        load::classify(path, load::read_document(path).ok().as_ref()) == Kind::Connector
    });
    for config in configs {
        check_config(&config, report);
        report.files.insert(config);
    }
    if files.is_empty() {
        report.add([Diagnostic::warning(
            load::display_name(dir),
            0,
            0,
            "no mapping specs in this directory",
        )
        .with_expected(
            "resource specs such as `event.yaml` (and `templates/NAME.yaml` overlays)",
        )]);
    }
    report.files.extend(files.iter().cloned());
    for test in load::test_files(dir).unwrap_or_default() {
        report.add(load::check_test_file(&test));
        report.files.insert(test);
    }
    let mut overlays: Vec<Option<PathBuf>> = vec![None];
    match template {
        Some(name) => match load::template_file(dir, name) {
            Ok(path) => overlays.push(Some(path)),
            Err(d) => report.add([d]),
        },
        None if !only_template => {
            for name in load::template_names(dir) {
                if let Ok(path) = load::template_file(dir, &name) {
                    overlays.push(Some(path));
                }
            }
        }
        None => {}
    }
    for overlay in overlays {
        if let Some(path) = &overlay {
            report.files.insert(path.clone());
        }
        match load::load_mapping_files(&files, overlay.as_deref()) {
            Ok(loaded) => report.add(loaded.diagnostics),
            Err(failure) => report.add(failure.diagnostics),
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let report = collect(&args)?;
    match args.format {
        Format::Text => {
            for note in &report.notes {
                println!("note: {note}");
            }
            for d in &report.diagnostics {
                println!("{d}");
            }
            println!("{}", report.summary());
        }
        Format::Json => {
            for note in &report.notes {
                eprintln!("note: {note}");
            }
            println!("{}", serde_json::to_string_pretty(&report.diagnostics)?);
        }
    }
    let (errors, warnings) = diag::count(&report.diagnostics);
    let failed = errors > 0 || (args.deny_warnings && warnings > 0);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
