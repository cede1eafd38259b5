//! Config → a running engine: secrets resolved, transports connected (with request meters), the state
//! store opened and migrated. Used by `sync`, `plan`, `explain`, `resync` and the sandbox alike.

use std::{path::Path, sync::Arc};

use anyhow::Context as _;

use crate::{
    config::ConnectorConfig,
    connect::{self, CrmConnection, Patience},
    model::MappingSet,
    secrets::resolve_secret,
    state,
};

use super::{
    CycleOptions, CycleReport, Engine, Selector, Settings,
    metered::{MeteredCrm, MeteredGraph},
};

/// An engine with its connections, ready to run cycles.
pub struct Connected {
    pub engine: Engine,
    graph_meter: Arc<MeteredGraph>,
    crm_meter: Arc<MeteredCrm>,
    crm_connection: Option<CrmConnection>,
}

impl Connected {
    /// Connects to everything `config` names; `base` is the directory relative secret files are read from.
    pub async fn open(
        config: &ConnectorConfig,
        mappings: Arc<MappingSet>,
        base: &Path,
    ) -> anyhow::Result<Connected> {
        let secret =
            resolve_secret(&config.graph.client_secret, base).context("graph.client_secret")?;
        let graph = connect::graph_client(config, secret, Patience::Service)
            .map_err(|e| anyhow::anyhow!("cannot set up the Graph client: {e}"))?;
        let password = match &config.crm.password {
            Some(p) => Some(resolve_secret(p, base).context("crm.password")?),
            None => None,
        };
        let crm_connection = connect::crm(config, password, Patience::Service)
            .await
            .map_err(|e| anyhow::anyhow!("cannot connect to the CRM: {e}"))?;
        let state = state::open(&config.state.location)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let graph_meter = Arc::new(MeteredGraph::new(Arc::new(graph)));
        let crm_meter = Arc::new(MeteredCrm::new(crm_connection.transport.clone()));
        let settings = Settings::new(config, mappings)?;
        Ok(Connected {
            engine: Engine {
                graph: graph_meter.clone(),
                crm: crm_meter.clone(),
                state,
                settings: Arc::new(settings),
                legacy: Arc::default(),
            },
            graph_meter,
            crm_meter,
            crm_connection: Some(crm_connection),
        })
    }

    /// One cycle, with the requests it sent in the report.
    pub async fn cycle(&self, selector: &Selector, options: CycleOptions) -> CycleReport {
        let (g0, c0) = (self.graph_meter.requests(), self.crm_meter.requests());
        let mut report = self.engine.cycle(selector, options).await;
        report.requests.graph = self.graph_meter.requests() - g0;
        report.requests.crm = self.crm_meter.requests() - c0;
        report
    }

    /// Closes the state store and an in-process CRM.
    pub async fn close(mut self) {
        self.engine.state.close().await;
        if let Some(c) = self.crm_connection.take() {
            c.shutdown().await;
        }
    }
}
