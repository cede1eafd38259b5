//! `graph-connector validate`: every problem of a config or mapping set, one located line each.

use std::{path::PathBuf, process::ExitCode};

/// Arguments of `validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config files, mapping directories or mapping files (default: the configured ones).
    pub paths: Vec<PathBuf>,
    /// Connector config to take the mapping directory and template from.
    #[arg(long, default_value = "connector.yaml")]
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

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("validate: not implemented yet")
}
