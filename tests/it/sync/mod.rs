//! End-to-end tests of the sync engine against both emulators: the sandbox world around the emulator's
//! "today", SQLite state in a temporary directory, the repository's mappings, cycles run through the
//! library. Each concern is a module; `Fixture` is the shared harness.

mod adopt;
mod contact_folder;
mod crash;
mod deletes;
mod edits;
mod faults;
mod first_sync;
mod identity;
mod lengths;
mod mail_folders;
mod meetings;
mod privacy;
mod processes;
mod resync;
mod retire;
mod scope;
mod takeover;

use std::{collections::BTreeMap, path::Path, sync::Arc};

use graph_connector::{
    config::{ConnectorConfig, Since, StateLocation},
    emulator::graph::ItemKind,
    load,
    plan::ConflictPolicy,
    sandbox::{Sandbox, World},
    sync::{CycleOptions, CycleReport, Mode, Selector, setup::Connected},
    transport::crm::{Actor, CrmTransport, Fields, RecordId, Value},
};
use jiff::Timestamp;

pub const ANA: &str = "ana@contoso.com";
pub const BEN: &str = "ben@contoso.com";

/// Both emulators with the world of the Graph emulator's today, and an engine on them.
pub struct Fixture {
    pub sandbox: Sandbox,
    pub world: World,
    pub config: ConnectorConfig,
    pub connected: Option<Connected>,
    pub template: Option<String>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// The ISI template (the sandbox CRM has its fields).
    pub async fn start() -> Fixture {
        Fixture::with_template(Some("isi")).await
    }

    pub async fn with_template(template: Option<&str>) -> Fixture {
        let today = Timestamp::now()
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .date();
        let world = World::around(today);
        let sandbox = Sandbox::start_world(&world).await.expect("emulators start");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = sandbox
            .config(&sandbox.credentials())
            .expect("sandbox config");
        config.state.location = StateLocation::Sqlite(dir.path().join("state.db"));
        config.mappings.template = template.map(str::to_owned);
        // The suites file the seed's (and their own, fixed-date) mail: e-mail history from long ago. The
        // default (the first sync) is what `scope` tests.
        config.schedules.messages.since = Some(Since::At(
            "2000-01-01T00:00:00Z".parse().expect("a timestamp"),
        ));
        let mut fx = Fixture {
            sandbox,
            world,
            config,
            connected: None,
            template: template.map(str::to_owned),
            _dir: dir,
        };
        fx.reopen().await;
        fx
    }

    /// A new engine on the same state and services (a process restart).
    pub async fn reopen(&mut self) {
        if let Some(old) = self.connected.take() {
            old.close().await;
        }
        let mappings_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
        let mappings = load::load_mappings(&mappings_dir, self.template.as_deref())
            .expect("the shipped mappings load")
            .model;
        self.connected = Some(
            Connected::open(&self.config, Arc::new(mappings), Path::new("."))
                .await
                .expect("the engine connects"),
        );
    }

    pub fn engine(&mut self) -> &mut graph_connector::sync::Engine {
        &mut self.connected.as_mut().expect("connected").engine
    }

    /// Sets the conflict policy of a resource.
    pub fn set_conflict(&mut self, resource: &str, policy: ConflictPolicy) {
        let engine = self.engine();
        let mut settings = (*engine.settings).clone();
        for spec in &mut settings.resources {
            if spec.name == resource {
                spec.policy.conflict = policy;
                spec.policy.field_conflicts.clear();
            }
        }
        engine.settings = Arc::new(settings);
    }

    /// Changes a resource's mapping `sync` settings (as if its YAML said so).
    pub fn set_sync(
        &mut self,
        resource: &str,
        change: impl Fn(&mut graph_connector::model::SyncSpec),
    ) {
        let engine = self.engine();
        let mut settings = (*engine.settings).clone();
        for spec in &mut settings.resources {
            if spec.name == resource {
                let mut mapping = spec.mapping.clone();
                change(&mut mapping.sync);
                let policy = spec.policy.clone();
                *spec = graph_connector::sync::ResourceSpec::new(&mapping);
                spec.policy.conflict = policy.conflict;
            }
        }
        engine.settings = Arc::new(settings);
    }

    pub fn options(&self) -> CycleOptions {
        CycleOptions {
            mode: Mode::Apply,
            adopt: true,
            allow_mass_delete: false,
            now: self.sandbox.graph.now(),
        }
    }

    pub async fn cycle(&self) -> CycleReport {
        self.cycle_with(&Selector::default(), self.options()).await
    }

    pub async fn cycle_with(&self, selector: &Selector, options: CycleOptions) -> CycleReport {
        self.connected
            .as_ref()
            .expect("connected")
            .cycle(selector, options)
            .await
    }

    /// Runs cycles until one writes nothing (at most `max`); returns the reports.
    pub async fn settle(&self, max: usize) -> Vec<CycleReport> {
        let mut reports = Vec::new();
        for _ in 0..max {
            let report = self.cycle().await;
            let done = report.writes() == 0 && report.ok;
            reports.push(report);
            if done {
                break;
            }
        }
        reports
    }

    pub fn crm(&self) -> Arc<dyn CrmTransport> {
        self.connected
            .as_ref()
            .expect("connected")
            .engine
            .crm
            .clone()
    }

    /// Undeleted CRM records of `table` as field → text (catalog fields hold codes).
    pub fn records(&self, table: &str) -> Vec<BTreeMap<String, String>> {
        self.sandbox
            .crm
            .records(table)
            .into_iter()
            .filter(|r| !r.deleted)
            .map(|r| {
                let mut values = r.values;
                values.insert("id".into(), r.id.to_string());
                values
            })
            .collect()
    }

    /// Undeleted records of `table` whose `field` is `value`.
    pub fn records_where(
        &self,
        table: &str,
        field: &str,
        value: &str,
    ) -> Vec<BTreeMap<String, String>> {
        self.records(table)
            .into_iter()
            .filter(|r| r.get(field).map(String::as_str) == Some(value))
            .collect()
    }

    /// Sets fields of a CRM record as a CRM user would.
    pub async fn crm_update(&self, table: &str, id: &str, fields: &[(&str, Value)]) {
        let mut f = Fields::new();
        for (k, v) in fields {
            f.insert((*k).to_owned(), v.clone());
        }
        self.crm()
            .update(&Actor::Master, table, &RecordId::new(id), f)
            .await
            .expect("crm update");
    }

    /// Graph items of a mailbox.
    pub fn items(&self, mailbox: &str, kind: ItemKind) -> Vec<serde_json::Value> {
        self.sandbox.graph.items(mailbox, kind)
    }

    /// The one Graph item of `mailbox` whose `field` (subject, title, displayName) is `text`.
    pub fn item_by(
        &self,
        mailbox: &str,
        kind: ItemKind,
        field: &str,
        text: &str,
    ) -> serde_json::Value {
        let found: Vec<_> = self
            .items(mailbox, kind)
            .into_iter()
            .filter(|i| i.get(field).and_then(|v| v.as_str()) == Some(text))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one {kind:?} `{text}` in {mailbox}, found {found:#?}"
        );
        found.into_iter().next().unwrap()
    }

    /// A fingerprint of both sides: CRM (table, subject-ish, flags) and Graph (mailbox, kind, subject)
    /// multisets, for comparing two runs whose ids differ.
    pub fn fingerprint(&self) -> Vec<String> {
        let mut out = Vec::new();
        for table in ["Contact", "Tasks", "Absences", "Person"] {
            for r in self.records(table) {
                let name = ["Subject", "LastName", "Type"]
                    .iter()
                    .find_map(|f| r.get(*f))
                    .cloned()
                    .unwrap_or_default();
                let get = |f: &str| r.get(f).cloned().unwrap_or_default();
                out.push(format!(
                    "crm {table} {name} {} {} del={} rep={} part={}",
                    get("Date"),
                    get("Time"),
                    get("ConnectorDeleted"),
                    get("RepID"),
                    get("ParticipantID")
                ));
            }
        }
        for mailbox in [ANA, BEN] {
            for kind in [
                ItemKind::Event,
                ItemKind::Message,
                ItemKind::Contact,
                ItemKind::Task,
            ] {
                for i in self.items(mailbox, kind) {
                    let name = ["subject", "title", "displayName"]
                        .iter()
                        .find_map(|f| i.get(*f).and_then(|v| v.as_str()))
                        .unwrap_or("")
                        .to_owned();
                    out.push(format!("graph {mailbox} {kind:?} {name}"));
                }
            }
        }
        out.sort();
        out
    }

    /// An attendee answers an invitation (`accept`, `decline`, `tentativelyAccept`) through Graph, as
    /// Outlook does; the organizer's copy records the response.
    pub async fn respond(&self, mailbox: &str, event_id: &str, action: &str) {
        let graph = &self.sandbox.graph;
        let http = reqwest::Client::new();
        let token: serde_json::Value = http
            .post(graph.token_url())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", graph.client_id()),
                ("client_secret", graph.client_secret()),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let status = http
            .post(format!(
                "{}/users/{mailbox}/events/{event_id}/{action}",
                graph.graph_url()
            ))
            .bearer_auth(token["access_token"].as_str().unwrap())
            .header("Prefer", "IdType=\"ImmutableId\"")
            .json(&serde_json::json!({"sendResponse": true}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 202, "{action} {event_id}");
    }

    pub async fn close(mut self) {
        if let Some(c) = self.connected.take() {
            c.close().await;
        }
        self.sandbox.shutdown().await;
    }
}

/// The counts of `resource` in the report's totals.
pub fn totals(report: &CycleReport, resource: &str) -> graph_connector::sync::ResourceCounts {
    report.totals.get(resource).copied().unwrap_or_default()
}

/// Asserts a report is ok, with its text on failure.
pub fn assert_ok(report: &CycleReport) {
    assert!(report.ok, "the cycle failed:\n{report}");
}
