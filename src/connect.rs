//! Configuration → transports: the one place that turns a `ConnectorConfig` and its resolved secrets into
//! an `Arc<dyn GraphTransport>` and an `Arc<dyn CrmTransport>`, used by `doctor`, `sync`, `plan` and the
//! sandbox alike so that every command talks to the services the same way.

use std::{sync::Arc, time::Duration};

use secrecy::SecretString;

use crate::{
    config::{ConnectorConfig, CrmTransport as CrmKind},
    transport::{
        crm::{
            self, CrmErrorKind, CrmTransport,
            client::{CrmClient, CrmClientConfig},
        },
        graph::{
            GraphClient, GraphClientConfig, GraphError, auth::Credentials, throttle::RetryPolicy,
        },
    },
};

/// How patient a command is with the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// An administrator waits for the answer (`doctor`): few, short retries.
    Interactive,
    /// The sync cycle: the clients' full retry budgets.
    Service,
}

/// Builds the Graph client for `config` with its resolved client secret.
pub fn graph_client(
    config: &ConnectorConfig,
    secret: SecretString,
    patience: Patience,
) -> Result<GraphClient, GraphError> {
    let g = &config.graph;
    let mut credentials = Credentials::new(
        "https://login.microsoftonline.com",
        &g.tenant_id,
        &g.client_id,
        secret,
    );
    credentials.token_url = g.token_endpoint();
    let mut c = GraphClientConfig::new(&g.graph_url, credentials);
    c.default_mailbox_time_zone = g.default_time_zone.clone();
    if patience == Patience::Interactive {
        c.retry = RetryPolicy {
            max_attempts: 3,
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(10),
            jitter_seed: None,
        };
        c.request_timeout = Some(Duration::from_secs(30));
    }
    GraphClient::new(c)
}

/// A CRM transport and, for `crm.transport: memory`, the in-process emulator behind it (kept alive as
/// long as the connection; shut down with [`CrmConnection::shutdown`] or when dropped).
pub struct CrmConnection {
    pub transport: Arc<dyn CrmTransport>,
    #[cfg(feature = "sandbox")]
    emulator: Option<crate::emulator::crm::CrmEmulator>,
}

impl CrmConnection {
    /// Where the CRM is, for messages.
    pub fn place(&self, config: &ConnectorConfig) -> String {
        match config.crm.transport {
            CrmKind::Memory => "the in-memory CRM (crm.transport: memory)".to_owned(),
            CrmKind::Interface => config.crm.url.clone().unwrap_or_default(),
        }
    }

    /// Stops the in-process emulator, if there is one.
    pub async fn shutdown(self) {
        #[cfg(feature = "sandbox")]
        if let Some(emulator) = self.emulator {
            emulator.shutdown().await;
        }
    }
}

/// Connects to the CRM that `config` names. `crm.transport: memory` starts the CRM emulator in-process
/// with its default seed and logs in as its master user (the password is then ignored): one CRM
/// implementation, reached through the real client, for dry runs.
pub async fn crm(
    config: &ConnectorConfig,
    password: Option<SecretString>,
    patience: Patience,
) -> Result<CrmConnection, crm::CrmError> {
    let c = &config.crm;
    match c.transport {
        CrmKind::Memory => memory_crm(config, patience).await,
        CrmKind::Interface => {
            let url = c
                .url
                .clone()
                .ok_or_else(|| crm::CrmError::new(CrmErrorKind::Config, "crm.url is not set"))?;
            let password = password.unwrap_or_else(|| SecretString::from(String::new()));
            let client = crm_client(config, url, &c.user, &c.client, password, patience)?;
            Ok(CrmConnection {
                transport: Arc::new(client),
                #[cfg(feature = "sandbox")]
                emulator: None,
            })
        }
    }
}

fn crm_client(
    config: &ConnectorConfig,
    url: String,
    user: &str,
    client: &str,
    password: SecretString,
    patience: Patience,
) -> Result<CrmClient, crm::CrmError> {
    let c = &config.crm;
    let mut cc = CrmClientConfig::new(url, user, password);
    cc.client_name = client.to_owned();
    cc.language = c.language.clone();
    cc.timeout = c.timeout.get();
    cc.formats = crm::WireFormats {
        date: crate::config::strftime_pattern(&c.date_format),
        time: crate::config::strftime_pattern(&c.time_format),
    };
    if patience == Patience::Interactive {
        cc.retry = crm::client::RetryPolicy {
            max_retries: 2,
            ..Default::default()
        };
    }
    CrmClient::new(cc)
}

#[cfg(feature = "sandbox")]
async fn memory_crm(
    config: &ConnectorConfig,
    patience: Patience,
) -> Result<CrmConnection, crm::CrmError> {
    let emulator = crate::emulator::crm::spawn(crate::emulator::crm::EmulatorOptions::default())
        .await
        .map_err(|e| {
            crm::CrmError::new(
                CrmErrorKind::Config,
                format!("cannot start the in-process CRM (crm.transport: memory): {e}"),
            )
        })?;
    let master = emulator.master();
    let client = crm_client(
        config,
        emulator.url().to_owned(),
        &master.user,
        &master.client,
        SecretString::from(master.password),
        patience,
    )?;
    Ok(CrmConnection {
        transport: Arc::new(client),
        emulator: Some(emulator),
    })
}

#[cfg(not(feature = "sandbox"))]
async fn memory_crm(
    _config: &ConnectorConfig,
    _patience: Patience,
) -> Result<CrmConnection, crm::CrmError> {
    Err(crm::CrmError::new(
        CrmErrorKind::Config,
        "crm.transport: memory needs the in-process emulator, and this graph-connector was built without \
         the `sandbox` feature; use crm.transport: interface or rebuild with the default features",
    ))
}
