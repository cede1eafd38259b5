//! `graph-connector schema`: regenerates `schemas/` from the spec types, or checks it for drift.

use std::{path::PathBuf, process::ExitCode};

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

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("schema: not implemented yet")
}
