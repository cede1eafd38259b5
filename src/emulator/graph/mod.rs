//! Emulator of Microsoft Graph v1.0 (and the Entra token endpoint) on loopback, from a YAML seed.

use std::{net::SocketAddr, path::Path};

/// `graph-connector emulate graph`: serves until Ctrl-C after printing one JSON line with URLs and credentials.
pub async fn run_from_cli(_listen: SocketAddr, _seed: Option<&Path>) -> anyhow::Result<()> {
    anyhow::bail!("emulate graph: the Graph emulator is not implemented yet")
}
