//! `graph-connector map`: the administrator's preview of one item through the mappings.

use std::{path::PathBuf, process::ExitCode};

/// Arguments of `map`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Resource: event, message, task, contact or absence.
    pub resource: String,
    /// The item: Graph item JSON (or, with --reverse, a CRM record `{"table", "fields"}`).
    #[arg(long)]
    pub input: PathBuf,
    /// Mapping directory.
    #[arg(long, default_value = "mappings")]
    pub mappings: PathBuf,
    /// Template overlay from `mappings/templates/NAME.yaml` (default: base behaviour only).
    #[arg(long)]
    pub template: Option<String>,
    /// Mailbox time zone, Windows (`W. Europe Standard Time`) or IANA (`Europe/Berlin`).
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// Language of texts such as the missing-attendees block.
    #[arg(long, default_value = "en")]
    pub lang: String,
    /// YAML file of known CRM participants: `reps: [{email, id, name}]`, `persons: [{email, id, name}]`.
    #[arg(long)]
    pub directory: Option<PathBuf>,
    /// Map a CRM record to the Graph JSON body instead.
    #[arg(long)]
    pub reverse: bool,
    /// The "now" used by rules that need it (RFC 3339); default: the current time.
    #[arg(long)]
    pub now: Option<String>,
}

pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("map: not implemented yet")
}
