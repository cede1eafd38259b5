//! `graph-connector schema`: regenerates `schemas/` from the spec and emulator seed types, or checks it
//! for drift.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;

use graph_connector::{load, spec::schema::Kind};

/// Arguments of `schema`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Compare instead of writing; exit 1 when a committed schema differs from the generated one.
    #[arg(long)]
    pub check: bool,
    /// Directory holding the schemas.
    #[arg(long, default_value = "schemas")]
    pub dir: PathBuf,
}

/// Files under `dir` whose content differs from the generated schema (missing files count).
pub fn drifted(dir: &std::path::Path) -> Vec<PathBuf> {
    schemas()
        .filter(|(kind, text)| {
            same_text(&dir.join(kind.file_name()), text).is_none_or(|same| !same)
        })
        .map(|(kind, _)| dir.join(kind.file_name()))
        .collect()
}

/// Every kind whose schema this build has (the seeds' need the `sandbox` feature), with the rendered schema.
fn schemas() -> impl Iterator<Item = (Kind, String)> {
    Kind::ALL
        .into_iter()
        .filter_map(|kind| load::render_schema(kind).map(|text| (kind, text)))
}

/// Whether the file holds exactly `text` (`None` when it cannot be read). Reads at most one byte more
/// than `text`, so a device or a huge file in the schema directory is "different", not a hang.
fn same_text(path: &std::path::Path, text: &str) -> Option<bool> {
    match load::read_text(path, text.len() as u64) {
        Ok(old) => Some(old == text),
        Err(load::ReadError::TooLarge { .. } | load::ReadError::NotAFile(_)) => Some(false),
        Err(_) => None,
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.check {
        let drifted = drifted(&args.dir);
        if drifted.is_empty() {
            println!(
                "schemas in {} are up to date ({} files)",
                args.dir.display(),
                schemas().count()
            );
            return Ok(ExitCode::SUCCESS);
        }
        for path in &drifted {
            println!(
                "{}: differs from the schema generated from the spec types",
                path.display()
            );
        }
        println!("run `graph-connector schema` to regenerate them");
        return Ok(ExitCode::from(1));
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create schema directory {}", args.dir.display()))?;
    for (kind, text) in schemas() {
        let path = args.dir.join(kind.file_name());
        if same_text(&path, &text) == Some(true) {
            continue;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
