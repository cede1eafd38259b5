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
            std::fs::read_to_string(dir.join(kind.file_name())).map_or(true, |old| &old != text)
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
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            continue;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
