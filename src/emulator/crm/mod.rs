//! Emulator of Aurea CRM.interface: XML over HTTP on loopback, backed by a seeded record store.

use std::{net::SocketAddr, path::Path};

/// `graph-connector emulate crm`: serves until Ctrl-C after printing one JSON line with URLs and credentials.
pub async fn run_from_cli(_listen: SocketAddr, _seed: Option<&Path>) -> anyhow::Result<()> {
    anyhow::bail!("emulate crm: the CRM.interface emulator is not implemented yet")
}
