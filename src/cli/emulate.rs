//! `graph-connector emulate crm|graph`: loopback emulators of CRM.interface and Microsoft Graph.
//!
//! On start each prints one JSON line to stdout with its URLs and credentials, then serves until Ctrl-C.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

/// Which emulator to run.
#[derive(Debug, clap::Subcommand)]
pub enum Which {
    /// Aurea CRM.interface (XML over HTTP).
    Crm(Args),
    /// Microsoft Graph v1.0 and the Entra token endpoint.
    Graph(Args),
}

/// Arguments shared by both emulators.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (loopback by default; port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// YAML seed (default: the built-in sandbox seed).
    #[arg(long)]
    pub seed: Option<PathBuf>,
}

pub fn run(which: Which) -> anyhow::Result<ExitCode> {
    match which {
        Which::Crm(_args) => anyhow::bail!("emulate crm: not implemented yet"),
        Which::Graph(_args) => anyhow::bail!("emulate graph: not implemented yet"),
    }
}
