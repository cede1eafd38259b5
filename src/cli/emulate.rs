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
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match which {
            Which::Crm(args) => {
                graph_connector::emulator::crm::run_from_cli(args.listen, args.seed.as_deref())
                    .await
            }
            Which::Graph(args) => {
                graph_connector::emulator::graph::run_from_cli(args.listen, args.seed.as_deref())
                    .await
            }
        }
    })?;
    Ok(ExitCode::SUCCESS)
}
