//! `graph-connector schema`: regenerates `schemas/` from the spec and emulator seed types, or checks it
//! for drift.

use std::{path::PathBuf, process::ExitCode};

use anyhow::Context;

use graph_connector::load::FileKind;

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
    FileKind::ALL
        .iter()
        .map(|kind| dir.join(kind.schema_file()))
        .zip(FileKind::ALL)
        .filter(|(path, kind)| {
            std::fs::read_to_string(path).map_or(true, |text| text != kind.render_schema())
        })
        .map(|(path, _)| path)
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.check {
        let drifted = drifted(&args.dir);
        if drifted.is_empty() {
            println!(
                "schemas in {} are up to date ({} files)",
                args.dir.display(),
                FileKind::ALL.len()
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
    for kind in FileKind::ALL {
        let path = args.dir.join(kind.schema_file());
        let text = kind.render_schema();
        if std::fs::read_to_string(&path).is_ok_and(|old| old == text) {
            continue;
        }
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
