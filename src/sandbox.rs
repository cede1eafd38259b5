//! The sandbox: both emulators started in-process with their default seeds, and a `ConnectorConfig` that
//! points at them. `doctor --sandbox` uses it today; `sandbox` and the end-to-end tests build on it.

use anyhow::Context as _;
use serde_json::json;

use crate::{
    config::ConnectorConfig,
    emulator::{crm, graph},
};

/// Both emulators, running on loopback until [`Sandbox::shutdown`].
pub struct Sandbox {
    pub graph: graph::GraphEmulator,
    pub crm: crm::CrmEmulator,
}

/// The credentials a sandbox config carries; start from [`Sandbox::credentials`] and change one to
/// reproduce an administrator's mistake.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub crm_password: String,
}

impl Sandbox {
    /// Starts both emulators with their default seeds.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(graph::Seed::sandbox(), crm::EmulatorOptions::default()).await
    }

    /// Starts both emulators with the given Graph seed and CRM options.
    pub async fn start_with(
        graph_seed: graph::Seed,
        crm_options: crm::EmulatorOptions,
    ) -> anyhow::Result<Self> {
        let graph = graph::spawn(graph::EmulatorOptions {
            seed: graph_seed,
            ..Default::default()
        })
        .await
        .context("starting the Graph emulator")?;
        let crm = crm::spawn(crm_options)
            .await
            .context("starting the CRM emulator")?;
        Ok(Self { graph, crm })
    }

    /// The credentials that work.
    pub fn credentials(&self) -> Credentials {
        Credentials {
            tenant_id: self.graph.tenant_id().to_owned(),
            client_id: self.graph.client_id().to_owned(),
            client_secret: self.graph.client_secret().to_owned(),
            crm_password: self.crm.master().password,
        }
    }

    /// A configuration that points at both emulators with `credentials` (literal secrets: the sandbox
    /// made them up) and the managed domain of the default seed.
    pub fn config(&self, credentials: &Credentials) -> anyhow::Result<ConnectorConfig> {
        let master = self.crm.master();
        let tenant_id = &credentials.tenant_id;
        serde_json::from_value(json!({
            "graph": {
                "tenant_id": tenant_id,
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret,
                "managed_domains": ["contoso.com"],
                "graph_url": self.graph.graph_url(),
                "token_url": format!("{}/{tenant_id}/oauth2/v2.0/token", self.graph.base_url()),
            },
            "crm": {
                "transport": "interface",
                "url": self.crm.url(),
                "user": master.user,
                "password": credentials.crm_password,
                "client": master.client,
            },
        }))
        .context("building the sandbox configuration")
    }

    /// Stops both emulators.
    pub async fn shutdown(self) {
        self.graph.shutdown().await;
        self.crm.shutdown().await;
    }
}
