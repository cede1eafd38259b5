//! `graph-connector test`: runs the `*.test.yaml` cases beside the mapping specs, with a diff on failure.

use std::{path::PathBuf, process::ExitCode};

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Mapping directory (default: `mappings`).
    #[arg(default_value = "mappings")]
    pub dir: PathBuf,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("test: not implemented yet")
}
