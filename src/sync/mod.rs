//! The sync runner: one cycle brings every selected mailbox and the CRM in step — read both sides, plan with
//! the pure core planner (`crate::plan`), apply the plan, record links, cursors and the audit in the state
//! store — with the write journal making a crash at any point safe to rerun.
//!
//! A cycle (`Engine::cycle`):
//! 1. `roster`: CRM reps × tenant mailbox users → `mapping::mailboxes::select`; every skipped rep is in
//!    the report with its reason and fix, never dropped silently.
//! 2. `recover`: writes a crashed run left pending are resolved first (found by stamp, XK row or payload
//!    hash, and linked), so no rerun duplicates them.
//! 3. per resource (`resources`): each mailbox's Graph delta (`graph_side`) and CRM changes (`crm_side`)
//!    are read concurrently (bounded); then each mailbox is planned and applied (`apply`). Resources whose
//!    copies correlate across mailboxes (a meeting seen by several attendees, an e-mail filed by several
//!    reps) are applied one mailbox at a time, so a second copy always finds the first copy's link.
//! 4. `commit_round` per mailbox and resource: links, the new cursors and the audit in one transaction;
//!    a cursor never moves past a change that failed or that the mass-delete guard held.
//!
//! The runner only speaks to `GraphTransport`, `CrmTransport` and `StateStore` trait objects.

mod apply;
mod contact_folder;
mod context;
mod create_crm;
mod crm_side;
pub mod explain;
mod graph_side;
pub mod legacy;
mod links;
mod mail_folders;
pub mod metered;
mod recover;
pub mod report;
pub use retire::CleanUp;
mod resources;
mod retire;
mod roster;
mod scope;
pub mod setup;
mod write_crm;
mod write_graph;

use std::{collections::BTreeMap, sync::Arc};

use futures::{StreamExt, stream};
use jiff::Timestamp;

pub use report::{Counts, CycleReport, MailboxReport, PlannedAction, ResourceCounts, Status};
pub use resources::ResourceSpec;
pub use roster::{Roster, RosterEntry};

use crate::{
    config::ConnectorConfig,
    mapping::Directory,
    model::MappingSet,
    plan::{self, Plan},
    state::StateStore,
    transport::{
        crm::{CrmTransport, WireFormats},
        graph::GraphTransport,
    },
};

/// What the engine runs on: the three trait objects and the settings.
#[derive(Clone)]
pub struct Engine {
    pub graph: Arc<dyn GraphTransport>,
    pub crm: Arc<dyn CrmTransport>,
    pub state: Arc<dyn StateStore>,
    pub settings: Arc<Settings>,
    /// The old connector's EWS ids already translated (`legacy`).
    pub legacy: Arc<legacy::Translations>,
}

/// Everything a cycle needs to know besides the services.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mappings: Arc<MappingSet>,
    /// The resources to sync, with their policies (from the mappings and the config).
    pub resources: Vec<ResourceSpec>,
    pub managed_domains: Vec<String>,
    /// The zone CRM dates and times are kept in (every mailbox's items are converted to it).
    pub crm_time_zone: String,
    /// Default language of texts (a rep's own language wins).
    pub language: String,
    pub formats: WireFormats,
    /// Names the mapping version in links and the audit (`template@hash`).
    pub mapping_version: String,
    /// How many mailboxes are read at once.
    pub concurrency: usize,
    /// The calendar window around today (`schedules.events.past` / `future`).
    pub event_past: std::time::Duration,
    pub event_future: std::time::Duration,
    /// Mail folders read for e-mails (well-known names or ids; `schedules.messages.folders`).
    pub mail_folders: Vec<String>,
    /// Also read every folder under them (`schedules.messages.subfolders`).
    pub mail_subfolders: bool,
    /// The contact folder the connector creates contacts in (`schedules.contacts.folder`).
    pub contact_folder: String,
    /// Where e-mail history starts (`schedules.messages.since`; `None`: at the first sync).
    pub message_since: Option<crate::config::Since>,
    pub tenant_id: String,
    /// The namespace of this installation's stamps on Graph items (`ConnectorConfig::installation`).
    pub installation: String,
}

/// Which mailboxes and resources a command covers (empty = all).
#[derive(Debug, Clone, Default)]
pub struct Selector {
    /// Addresses or user object ids.
    pub mailboxes: Vec<String>,
    pub resources: Vec<String>,
}

impl Selector {
    fn wants_resource(&self, name: &str) -> bool {
        self.resources.is_empty() || self.resources.iter().any(|r| r == name)
    }

    fn wants_mailbox(&self, entry: &RosterEntry) -> bool {
        self.mailboxes.is_empty()
            || self
                .mailboxes
                .iter()
                .any(|m| entry.has_address(m) || entry.user_id.as_deref() == Some(m.trim()))
    }
}

/// Apply the plan, or only show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Write both sides and the state store.
    Apply,
    /// Plan only: nothing is written anywhere, not even cursors.
    DryRun,
}

/// Per-cycle switches from the command line.
#[derive(Debug, Clone, Copy)]
pub struct CycleOptions {
    pub mode: Mode,
    /// `--no-adopt`: never link existing records, always create.
    pub adopt: bool,
    /// `--allow-mass-delete`: let deletes through the guard this once.
    pub allow_mass_delete: bool,
    /// The cycle's "now" (the caller reads the clock; tests pass a fixed instant).
    pub now: Timestamp,
}

impl Settings {
    /// Settings from a loaded config and mapping set; `policies` override the mapping-derived ones.
    pub fn new(config: &ConnectorConfig, mappings: Arc<MappingSet>) -> anyhow::Result<Settings> {
        let resources = resources::specs(config, &mappings)?;
        Ok(Settings {
            resources,
            managed_domains: config.graph.managed_domains.clone(),
            crm_time_zone: config
                .crm
                .time_zone
                .clone()
                .unwrap_or_else(|| config.graph.default_time_zone.clone()),
            language: config.crm.language.clone(),
            formats: WireFormats {
                date: crate::config::strftime_pattern(&config.crm.date_format),
                time: crate::config::strftime_pattern(&config.crm.time_format),
            },
            mapping_version: mapping_version(&mappings),
            concurrency: config.service.concurrency.max(1),
            event_past: config.schedules.events.past.map_or(WEEK, |d| d.get()),
            event_future: config.schedules.events.future.map_or(WEEK, |d| d.get()),
            mail_folders: config.schedules.messages.folders.clone(),
            mail_subfolders: config.schedules.messages.subfolders,
            contact_folder: config.schedules.contacts.folder.clone(),
            message_since: config.schedules.messages.since,
            tenant_id: config.graph.tenant_id.clone(),
            installation: config.installation(),
            mappings,
        })
    }
}

impl Settings {
    /// The stamp of `record` on the Graph item the connector writes for it: `INSTALLATION/TABLE:ID`.
    pub fn stamp(&self, record: &plan::CrmRef) -> String {
        links::graph_stamp(&self.installation, record)
    }
}

const WEEK: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// `template@resources`: changes when the template or the set of resources changes.
fn mapping_version(set: &MappingSet) -> String {
    let names: Vec<&str> = set.resources.keys().map(String::as_str).collect();
    format!(
        "{}@{}",
        set.template.as_deref().unwrap_or("base"),
        names.join("+")
    )
}

impl Engine {
    /// One cycle over the selected mailboxes and resources.
    pub async fn cycle(&self, selector: &Selector, options: CycleOptions) -> CycleReport {
        let started = std::time::Instant::now();
        let mut report = CycleReport::new(options.mode);
        let roster = match roster::read(self).await {
            Ok(roster) => roster,
            Err(e) => {
                report.fatal = Some(e);
                report.duration_ms = started.elapsed().as_millis() as u64;
                return report;
            }
        };
        report.warnings.extend(roster.warnings.iter().cloned());
        let selected: Vec<&RosterEntry> = roster
            .entries
            .iter()
            .filter(|e| selector.wants_mailbox(e))
            .collect();
        for entry in &selected {
            report.mailboxes.push(MailboxReport::for_entry(entry));
        }
        retire::detect(
            self,
            &roster,
            selector,
            options.mode == Mode::Apply,
            options.now,
            &mut report.mailboxes,
        )
        .await;
        let synced: Vec<&RosterEntry> = selected.into_iter().filter(|e| e.synced()).collect();

        if options.mode == Mode::Apply {
            for entry in &synced {
                if let Err(e) = recover::pending(self, entry, &roster, options.now).await {
                    report.mailbox_mut(entry).fail(&e);
                }
            }
        }

        let specs: Vec<&ResourceSpec> = self
            .settings
            .resources
            .iter()
            .filter(|r| selector.wants_resource(&r.name))
            .collect();
        for spec in specs {
            self.resource_round(spec, &synced, &roster, options, &mut report)
                .await;
        }
        if options.mode == Mode::Apply {
            for mailbox in &report.mailboxes {
                let Some(mut status) = mailbox.status_row(options.now) else {
                    continue;
                };
                // The last success and the last error each stay until a newer one replaces them.
                if let Ok(Some(before)) = self.state.get_status(&status.mailbox).await {
                    status.last_success = status.last_success.or(before.last_success);
                    if status.last_error_at.is_none() {
                        status.last_error_at = before.last_error_at;
                        status.last_error = before.last_error;
                        status.last_fix = before.last_fix;
                    }
                }
                if let Err(e) = self.state.put_status(&status).await {
                    tracing::warn!(mailbox = %mailbox.mailbox, error = %e, "cannot record the mailbox status");
                }
            }
        }
        report.finish(started.elapsed().as_millis() as u64);
        report
    }

    /// One resource over every synced mailbox: read concurrently, then plan and apply.
    async fn resource_round(
        &self,
        spec: &ResourceSpec,
        synced: &[&RosterEntry],
        roster: &Roster,
        options: CycleOptions,
        report: &mut CycleReport,
    ) {
        let mailboxes: Vec<&RosterEntry> = synced
            .iter()
            .copied()
            .filter(|e| {
                let on = (spec.rep_switch)(&e.rep);
                if !on {
                    report
                        .mailbox_mut(e)
                        .resource_off(&spec.name, spec.switch_name);
                }
                on && report.mailbox_mut(e).status != report::Status::Failed
            })
            .collect();
        let reads: Vec<(usize, Result<Prepared, SyncError>)> = stream::iter(
            mailboxes.iter().enumerate(),
        )
        .map(|(n, entry)| async move { (n, self.prepare(spec, entry, roster, options).await) })
        .buffer_unordered(self.settings.concurrency)
        .collect()
        .await;
        let ordered: BTreeMap<usize, Result<Prepared, SyncError>> = reads.into_iter().collect();
        // Correlated resources (meetings, e-mails) apply one mailbox at a time, so a second copy always
        // finds the first copy's link; the others apply concurrently, like the reads.
        let limit = if spec.correlated {
            1
        } else {
            self.settings.concurrency
        };
        let outcomes: Vec<(usize, Result<RoundOutcome, SyncError>)> = stream::iter(ordered)
            .map(|(n, read)| {
                let entry = mailboxes[n];
                async move {
                    let outcome = match read {
                        Ok(prepared) => {
                            self.plan_and_apply(spec, entry, roster, prepared, options)
                                .await
                        }
                        Err(e) => Err(e),
                    };
                    (n, outcome)
                }
            })
            .buffered(limit)
            .collect()
            .await;
        for (n, outcome) in outcomes {
            let entry = mailboxes[n];
            match outcome {
                Ok(outcome) => report.mailbox_mut(entry).resource_done(&spec.name, outcome),
                Err(e) => report.mailbox_mut(entry).resource_failed(&spec.name, &e),
            }
        }
    }
}

impl Engine {
    /// Forgets the cursors of one mailbox (address or user object id), of some resources or all, so the
    /// next cycle replays it; with `since`, CRM changes are re-read from then. Links stay, so the replay
    /// links instead of duplicating. Returns how many cursors were removed.
    pub async fn forget(
        &self,
        mailbox: &str,
        resources: &[String],
        since: Option<Timestamp>,
    ) -> anyhow::Result<u64> {
        let roster = roster::read(self).await.map_err(anyhow::Error::msg)?;
        let selector = Selector {
            mailboxes: vec![mailbox.to_owned()],
            resources: resources.to_vec(),
        };
        let entry = roster
            .entries
            .iter()
            .find(|e| selector.wants_mailbox(e))
            .ok_or_else(|| anyhow::anyhow!("no rep has the mailbox `{mailbox}`"))?;
        let id = entry.mailbox_id();
        let mut n = 0;
        for spec in &self.settings.resources {
            if !selector.wants_resource(&spec.name) {
                continue;
            }
            // The e-mail start and the connector's contact folder are not cursors: a replay must not
            // import the old mail it kept out, nor lose a folder the user renamed.
            let mut kept = Vec::new();
            for memo in [scope::SINCE_SCOPE, contact_folder::FOLDER_SCOPE] {
                if let Some(value) = self.state.get_cursor(id, &spec.name, memo).await? {
                    kept.push((memo, value));
                }
            }
            n += self.state.forget_cursors(id, Some(&spec.name)).await?;
            for (memo, value) in kept {
                self.state.put_cursor(id, &spec.name, memo, &value).await?;
                n = n.saturating_sub(1);
            }
            if let Some(since) = since {
                self.state
                    .put_cursor(id, &spec.name, crm_side::CRM_SCOPE, &since.to_string())
                    .await?;
            }
        }
        Ok(n)
    }
}

/// What was read for one mailbox and resource, ready to plan.
pub(crate) struct Prepared {
    pub graph: graph_side::GraphRead,
    pub crm: crm_side::CrmRead,
    pub links: Vec<crate::state::Link>,
    pub directory: Directory,
    /// New items the mailbox's scope kept out (not planned), with the reason.
    pub out_of_scope: Vec<(String, crate::scope::OutOfScope)>,
}

/// What one mailbox and resource did.
#[derive(Debug, Default)]
pub struct RoundOutcome {
    pub counts: ResourceCounts,
    pub planned: Vec<PlannedAction>,
    pub guard: Option<String>,
    pub item_errors: Vec<String>,
    pub notes: Vec<String>,
}

impl Engine {
    async fn prepare(
        &self,
        spec: &ResourceSpec,
        entry: &RosterEntry,
        roster: &Roster,
        options: CycleOptions,
    ) -> Result<Prepared, SyncError> {
        let mailbox = entry.mailbox_id();
        let links = self
            .state
            .list_links(mailbox, &spec.name)
            .await
            .map_err(SyncError::state)?;
        let mut graph = graph_side::read(self, spec, entry, &links, options).await?;
        let rules = scope::rules(self, spec, entry, options).await?;
        let out_of_scope = scope::retain(&rules, &links, &mut graph);
        for (id, why) in &out_of_scope {
            tracing::debug!(mailbox = %entry.address(), resource = %spec.name, graph_id = %id, reason = why.code(), "out of scope: {why}");
        }
        let crm = crm_side::read(self, spec, entry, &links, options).await?;
        let directory = context::directory(self, spec, entry, roster, &graph).await?;
        Ok(Prepared {
            graph,
            crm,
            links,
            directory,
            out_of_scope,
        })
    }

    async fn plan_and_apply(
        &self,
        spec: &ResourceSpec,
        entry: &RosterEntry,
        roster: &Roster,
        mut prepared: Prepared,
        options: CycleOptions,
    ) -> Result<RoundOutcome, SyncError> {
        let mut ctx = context::base(self, entry, options.now)?;
        ctx.directory = std::mem::take(&mut prepared.directory);
        let mut changes = graph_side::map_changes(
            self,
            spec,
            entry,
            roster,
            &mut prepared.graph,
            &prepared.crm,
            &ctx,
        );
        let links = links::plan_links(self, spec, entry, &prepared.links, &changes).await?;
        let mut foreign = Vec::new();
        let candidates = if options.adopt && spec.policy.adopt {
            links::candidates(
                self,
                spec,
                entry,
                &changes,
                &links,
                &prepared.graph,
                &mut foreign,
            )
            .await?
        } else {
            plan::Candidates::default()
        };
        // Items another installation stamped are that installation's: never adopted, never imported.
        changes.graph.retain(|c| !foreign.contains(&c.graph_id));
        // A record a Graph item adopts this cycle is that item's: its own change would create it again.
        changes
            .crm
            .retain(|c| !candidates.crm.iter().any(|k| k.record == c.record));
        let mut policy = spec.policy.clone();
        policy.adopt = options.adopt && policy.adopt;
        policy.mass_delete.allow = options.allow_mass_delete;
        let plan: Plan = plan::plan(&policy, &changes, &links, &candidates);
        let mut outcome = RoundOutcome::default();
        for action in &plan.actions {
            tracing::debug!(mailbox = %entry.address(), resource = %spec.name, action = action.kind.name(), direction = %action.direction, subject = ?action.subject, reason = %action.reason, "planned");
            outcome
                .planned
                .push(PlannedAction::from_action(entry, spec, action));
        }
        if let Some(stop) = &plan.stopped {
            outcome.guard = Some(format!(
                "{stop}; nothing was deleted and the cursor stays, so the removals come back next cycle: check the mailbox, or run once with --allow-mass-delete"
            ));
        }
        let kept_out = prepared.out_of_scope.len() as u64;
        if options.mode == Mode::DryRun {
            outcome.counts = ResourceCounts::from_plan(&plan, &[]);
            outcome.counts.graph_to_crm.skipped += kept_out;
            return Ok(outcome);
        }
        let applied = apply::apply(self, spec, entry, &ctx, &prepared, &plan, options).await?;
        outcome.counts = ResourceCounts::from_plan(&plan, &applied.failed);
        outcome.counts.graph_to_crm.skipped += kept_out;
        outcome.item_errors = applied.errors.clone();
        outcome.notes = applied.notes.clone();
        outcome
            .notes
            .extend(prepared.graph.warnings.iter().cloned());
        apply::commit(self, spec, entry, &prepared, &plan, applied, options).await?;
        Ok(outcome)
    }
}

/// Why a mailbox or resource could not be synced this cycle: one line, and the fix.
#[derive(Debug, Clone)]
pub struct SyncError {
    pub message: String,
    pub fix: String,
    /// The whole mailbox is parked for this cycle (no licence, no permission), not just one resource.
    pub park_mailbox: bool,
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl SyncError {
    pub fn new(message: impl Into<String>, fix: impl Into<String>) -> SyncError {
        SyncError {
            message: message.into(),
            fix: fix.into(),
            park_mailbox: false,
        }
    }

    pub fn graph(e: crate::transport::graph::GraphError) -> SyncError {
        use crate::transport::Disposition;
        let park = e.disposition() == Disposition::ParkMailbox;
        SyncError {
            message: format!("Microsoft Graph: {e}"),
            fix: "see the message; `graph-connector doctor` checks the app and the mailbox".into(),
            park_mailbox: park,
        }
    }

    pub fn crm(e: crate::transport::crm::CrmError) -> SyncError {
        SyncError::new(
            format!("CRM: {e}"),
            "see the message; `graph-connector doctor` checks the CRM connection",
        )
    }

    pub fn state(e: crate::state::StateError) -> SyncError {
        SyncError::new(
            format!("state store: {e}"),
            "check that the state store is reachable and writable",
        )
    }
}
