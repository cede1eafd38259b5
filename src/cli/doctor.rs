//! `graph-connector doctor`: checks a setup end to end (config, secrets, Graph token, CRM login, reps,
//! tenant mailboxes, permissions) and says which mailboxes will be synced, each failure with its one-line fix.
//!
//! The vendor connector's worst support cases are consent/secret errors and mailboxes silently not synced;
//! this command is the answer to both. `--sandbox` runs the same checks against in-process emulators, and
//! `--mistake NAME` reproduces a classic admin mistake there so its diagnosis can be seen.
//!
//! Exit codes: 0 every check passed (skipped mailboxes are information), 1 a check failed, 2 doctor could
//! not run (no config file, bad arguments, emulators failed to start). Secrets are never printed.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use jiff::{SignedDuration, Timestamp};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::validate::Format;
use graph_connector::{
    config::{self, ConnectorConfig, CrmTransport as CrmKind, SecretRef},
    connect::{self, CrmConnection, Patience},
    diag::Diagnostic,
    load,
    mapping::mailboxes::{self, MailboxEntry, Status},
    redact::Redactor,
    transport::{
        crm::{self, Actor, CrmErrorKind, Rep},
        graph::{
            DeltaCursor, DeltaResource, DeltaScope, GraphClient, GraphError, GraphTransport,
            MailboxState, MailboxUser, diagnose,
        },
    },
};

/// Arguments of `doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Connector configuration to check (default: connector.yaml).
    #[arg(long, conflicts_with = "sandbox")]
    pub config: Option<PathBuf>,
    /// Output: text (one line per check, then the mailbox table) or json.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Check the sandbox instead: Graph and CRM emulators started in-process with their default seeds.
    #[arg(long)]
    pub sandbox: bool,
    /// With --sandbox: reproduce an administrator's mistake to see how doctor diagnoses it.
    #[arg(long, value_enum, requires = "sandbox")]
    pub mistake: Option<Mistake>,
}

/// Setup mistakes `--sandbox --mistake` can reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mistake {
    /// The client secret's ID pasted instead of its Value.
    SecretId,
    /// A wrong client secret.
    WrongSecret,
    /// The client secret has expired.
    ExpiredSecret,
    /// A tenant id that does not exist.
    UnknownTenant,
    /// A client id that is not registered in the tenant.
    UnknownClient,
    /// The app lacks Calendars.ReadWrite (no admin consent for it).
    MissingPermission,
    /// A wrong CRM master user password.
    CrmPassword,
    /// The app lacks MailboxSettings.Read: mailboxes are probed through their inbox and use the configured
    /// default time zone, with a warning (exit code 0).
    MailboxSettings,
    /// An Exchange application access policy that admits only ana@contoso.com: BEN is skipped with a
    /// warning (a skipped mailbox is information, so the exit code stays 0).
    AccessPolicy,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let mut report = Report::new(args.format);
    let ok = runtime.block_on(async {
        if args.sandbox {
            run_sandbox(args.mistake, &mut report).await
        } else {
            let path = args
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from("connector.yaml"));
            run_config(&path, &mut report).await
        }
    })?;
    report.finish();
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Checks the configuration file, then the services it names.
async fn run_config(path: &Path, report: &mut Report) -> anyhow::Result<bool> {
    if !path.exists() {
        anyhow::bail!(
            "config file {} does not exist; pass --config FILE (copy connector.example.yaml to start), or try \
             `graph-connector doctor --sandbox`",
            path.display()
        );
    }
    let name = load::display_name(path);
    let config = match load::load_config(path) {
        Ok((config, warnings)) => {
            report.diagnostics(&warnings);
            report.check(
                "config",
                Ok(format!("{name} ({} warnings)", warnings.len())),
            );
            config
        }
        Err(diagnostics) => {
            report.diagnostics(&diagnostics);
            let (errors, warnings) = graph_connector::diag::count(&diagnostics);
            report.check(
                "config",
                Err(format!(
                    "{name}: {errors} errors, {warnings} warnings; fix: correct the lines above \
                     (`graph-connector validate --config {name}` shows them too)"
                )),
            );
            return Ok(false);
        }
    };
    let base = path.parent().unwrap_or(Path::new(".")).to_owned();
    Ok(check_setup(&config, &base, None, report).await)
}

/// Starts both emulators (optionally with a mistake), builds a config from them and checks it.
#[cfg(not(feature = "sandbox"))]
async fn run_sandbox(_mistake: Option<Mistake>, _report: &mut Report) -> anyhow::Result<bool> {
    anyhow::bail!(
        "this graph-connector was built without the `sandbox` feature, so it has no emulators to check; \
         rebuild with the default features or check a real setup with --config FILE"
    )
}

#[cfg(feature = "sandbox")]
async fn run_sandbox(mistake: Option<Mistake>, report: &mut Report) -> anyhow::Result<bool> {
    use graph_connector::{emulator, sandbox::Sandbox};
    // Each mistake is made in the seed, so the emulator starts as the misconfigured tenant would be.
    let mut seed = emulator::graph::Seed::sandbox();
    let dropped_role = match mistake {
        Some(Mistake::MissingPermission) => Some("Calendars.ReadWrite"),
        Some(Mistake::MailboxSettings) => Some("MailboxSettings.Read"),
        _ => None,
    };
    for app in &mut seed.apps {
        if mistake == Some(Mistake::ExpiredSecret) {
            for secret in &mut app.secrets {
                secret.expires = Some("2024-06-30T00:00:00Z".to_owned());
            }
        }
        if let Some(dropped) = dropped_role {
            app.roles.retain(|role| role != dropped);
        }
        if mistake == Some(Mistake::AccessPolicy) {
            app.access_policy_allow = Some(vec!["ana@contoso.com".to_owned()]);
        }
    }
    let sandbox = Sandbox::start_with(seed, emulator::crm::EmulatorOptions::default()).await?;
    let graph = &sandbox.graph;
    let mut credentials = sandbox.credentials();
    match mistake {
        Some(Mistake::SecretId) => credentials.client_secret = graph.secret_id().to_owned(),
        Some(Mistake::WrongSecret) => {
            credentials.client_secret = "Qx48Q~not-the-secret-value.0123456789abcd".to_owned()
        }
        Some(Mistake::UnknownTenant) => {
            credentials.tenant_id = "0f0e0d0c-0b0a-4999-8888-777766665555".to_owned()
        }
        Some(Mistake::UnknownClient) => {
            credentials.client_id = "11111111-2222-4333-8444-555555555555".to_owned()
        }
        Some(Mistake::CrmPassword) => credentials.crm_password = "not-the-password".to_owned(),
        Some(
            Mistake::ExpiredSecret
            | Mistake::MissingPermission
            | Mistake::MailboxSettings
            | Mistake::AccessPolicy,
        )
        | None => {}
    }
    let config = sandbox.config(&credentials)?;
    let what = match mistake {
        Some(m) => format!(
            " with mistake `{}`",
            clap::ValueEnum::to_possible_value(&m)
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default()
        ),
        None => String::new(),
    };
    report.check(
        "sandbox",
        Ok(format!(
            "Graph emulator at {}, CRM emulator at {}{what}",
            graph.base_url(),
            sandbox.crm.url()
        )),
    );
    let ok = check_setup(&config, Path::new("."), Some("the sandbox"), report).await;
    sandbox.shutdown().await;
    Ok(ok)
}

/// The checks shared by a config file and the sandbox; returns whether all passed.
/// `secrets_from` names who provided literal secrets (the sandbox), else they are references to resolve.
async fn check_setup(
    config: &ConnectorConfig,
    base: &Path,
    secrets_from: Option<&str>,
    report: &mut Report,
) -> bool {
    // Secrets: resolved here, never printed; only their references are named.
    let graph_secret = resolve(&config.graph.client_secret, "graph.client_secret", base);
    let crm_password = match (config.crm.transport, &config.crm.password) {
        (CrmKind::Memory, _) => Ok(None),
        (CrmKind::Interface, Some(r)) => resolve(r, "crm.password", base).map(Some),
        (CrmKind::Interface, None) => Err(
            "crm.password is not set; fix: add `password: env:CRM_PASSWORD` under crm and set that variable to \
             the CRM master user's password"
                .to_owned(),
        ),
    };
    // From here on every line doctor prints is redacted of both secrets: an endpoint that echoes the
    // request (or a misconfigured proxy) must not make doctor print them. The sandbox's are the
    // emulators' published fixtures (the CRM password is the word `sandbox`): only the patterns apply.
    if secrets_from.is_none() {
        if let Ok(secret) = &graph_secret {
            report.redactor.add(secret.expose_secret());
        }
        if let Ok(Some(password)) = &crm_password {
            report.redactor.add(password.expose_secret());
        }
    }
    let mut problems = Vec::new();
    for r in [graph_secret.as_ref().err(), crm_password.as_ref().err()]
        .into_iter()
        .flatten()
    {
        problems.push(r.clone());
    }
    if problems.is_empty() {
        let detail = match secrets_from {
            Some(who) => format!("graph.client_secret and crm.password given by {who}"),
            None => {
                let mut names = vec![format!(
                    "graph.client_secret ({})",
                    shown_ref(&config.graph.client_secret)
                )];
                if let Some(r) = config.crm.password.as_ref()
                    && config.crm.transport == CrmKind::Interface
                {
                    names.push(format!("crm.password ({})", shown_ref(r)));
                }
                format!("{} resolved", names.join(", "))
            }
        };
        report.check("secrets", Ok(detail));
    } else {
        report.check("secrets", Err(problems.join("; ")));
    }

    // Graph: a token first; everything else needs it.
    let graph = match graph_secret {
        Ok(secret) => match connect::graph_client(config, secret, Patience::Interactive) {
            Ok(client) => match client.check_credentials().await {
                Ok(()) => {
                    report.check(
                        "graph token",
                        Ok(format!(
                            "app {} in tenant {}",
                            config.graph.client_id, config.graph.tenant_id
                        )),
                    );
                    Some(client)
                }
                Err(e) => {
                    report.check("graph token", Err(diagnose(&e)));
                    None
                }
            },
            Err(e) => {
                report.check("graph token", Err(diagnose(&e)));
                None
            }
        },
        Err(_) => None,
    };

    // CRM: master user login, then the reps.
    let crm: Option<CrmConnection> = match crm_password {
        Ok(password) => match connect::crm(config, password, Patience::Interactive).await {
            Ok(t) => match t.transport.health_check().await {
                Ok(health) => {
                    let place = t.place(config);
                    let reps = if health.reps_visible {
                        ""
                    } else {
                        " (no rep visible)"
                    };
                    report.check("crm login", Ok(format!("{} at {place}{reps}", health.user)));
                    Some(t)
                }
                Err(e) => {
                    report.check("crm login", Err(crm_fix(&e, config)));
                    None
                }
            },
            Err(e) => {
                report.check("crm login", Err(crm_fix(&e, config)));
                None
            }
        },
        Err(_) => None,
    };
    let reps: Option<Vec<Rep>> = match &crm {
        Some(t) => match t.transport.list_reps(&Actor::Master, false).await {
            Ok(reps) => {
                let enabled = reps.iter().filter(|r| r.enable_connector).count();
                report.check(
                    "crm reps",
                    Ok(format!(
                        "{} reps, {enabled} with Enable Connector",
                        reps.len()
                    )),
                );
                Some(reps)
            }
            Err(e) => {
                report.check("crm reps", Err(crm_fix(&e, config)));
                None
            }
        },
        None => None,
    };

    // Taking over: the old connector must have stopped writing its external keys.
    if let Some(t) = &crm {
        match graph_connector::sync::legacy::still_writing(t.transport.as_ref(), Timestamp::now())
            .await
        {
            Ok(Some(warning)) => report.warning(warning),
            Ok(None) => {}
            Err(e) => report.note(format!(
                "could not tell whether the old connector still writes external keys: {e}"
            )),
        }
    }

    // Tenant users of the managed domains with their mailbox probes.
    let domains = &config.graph.managed_domains;
    if domains.is_empty() {
        report.check(
            "managed domains",
            Err("none configured, so no mailbox can be synced; fix: list the mailbox domains under \
                 graph.managed_domains, e.g. [contoso.com]"
                .to_owned()),
        );
    }
    let users: Option<Vec<MailboxUser>> = match &graph {
        Some(client) if !domains.is_empty() => match client.list_mailbox_users(domains).await {
            Ok(listing) => {
                let count = |f: fn(&MailboxState) -> bool| {
                    listing.users.iter().filter(|u| f(&u.mailbox)).count()
                };
                let mut parts = vec![format!(
                    "{} with a readable mailbox",
                    count(|m| matches!(m, MailboxState::Ready { .. }))
                )];
                let none = count(|m| matches!(m, MailboxState::NoMailbox { .. }));
                if none > 0 {
                    parts.push(format!("{none} without a mailbox"));
                }
                let denied = count(|m| matches!(m, MailboxState::Denied { .. }));
                if denied > 0 {
                    parts.push(format!("{denied} refused by an access policy"));
                }
                report.check(
                    "tenant users",
                    Ok(format!(
                        "{} users in {}: {}",
                        listing.users.len(),
                        domains.join(", "),
                        parts.join(", ")
                    )),
                );
                for w in listing.warnings {
                    report.warning(w);
                }
                Some(listing.users)
            }
            Err(e) => {
                report.check("tenant users", Err(diagnose(&e)));
                None
            }
        },
        _ => None,
    };

    // The decision per rep, and a permission probe on one synced mailbox.
    if let (Some(reps), Some(users)) = (&reps, &users) {
        let entries = mailboxes::select(reps, users, domains);
        if let (Some(client), Some(first)) =
            (&graph, entries.iter().find(|e| e.status == Status::Sync))
        {
            let mailbox = first.email.clone().unwrap_or_default();
            report.check(
                "permissions",
                probe_permissions(client, config, &mailbox).await,
            );
        }
        let warnings: Vec<(String, String)> = entries
            .iter()
            .filter(|e| e.is_warning())
            .filter_map(|e| match &e.status {
                Status::Skip(reason) => {
                    let line = format!(
                        "{} ({}) has Enable Connector set but will not be synced: {}",
                        e.rep_id,
                        e.rep_name,
                        reason.message()
                    );
                    let fix = reason.fix(&e.rep_id, e.email.as_deref().unwrap_or(""));
                    Some((line, fix))
                }
                Status::Sync => None,
            })
            .collect();
        report.mailboxes(entries, domains);
        // The table above shows each fix; the JSON warning carries it too.
        for (line, fix) in warnings {
            report.warning_with_fix(line, fix);
        }
    } else {
        let missing = match (reps.is_some(), users.is_some()) {
            (false, false) => "the CRM reps and the tenant users",
            (false, true) => "the CRM reps",
            _ => "the tenant users",
        };
        report.note(format!(
            "mailbox table not computed: it needs {missing} (fix the failed checks above)"
        ));
    }
    report.ok()
}

fn resolve(secret: &SecretRef, key: &str, base: &Path) -> Result<SecretString, String> {
    graph_connector::secrets::resolve_secret(secret, base).map_err(|e| {
        let fix = match &e {
            graph_connector::secrets::SecretError::MissingEnv(name) => {
                format!("set the environment variable {name} before starting the connector")
            }
            graph_connector::secrets::SecretError::File { path, .. } => format!(
                "create {} (readable only by the connector) or correct the path",
                path.display()
            ),
            graph_connector::secrets::SecretError::Empty(_) => {
                "put the secret's value there".to_owned()
            }
        };
        format!("{key}: {e}; fix: {fix}")
    })
}

/// A reference as written (`env:NAME`, `file:PATH`); a literal is never shown.
fn shown_ref(secret: &SecretRef) -> String {
    if secret.is_literal() {
        "written literally in the config".to_owned()
    } else {
        secret.0.clone()
    }
}

/// A CRM failure as one line with the fix.
fn crm_fix(e: &crm::CrmError, config: &ConnectorConfig) -> String {
    let c = &config.crm;
    let fix = match e.kind {
        CrmErrorKind::Auth => format!(
            "the CRM refused the login of master user {}; check crm.user and the password crm.password refers \
             to (the master user's CRM login), and that the user is not locked",
            c.user
        ),
        CrmErrorKind::PermissionDenied => format!(
            "user {} may not do this; the connector needs the CRM master user with client {} and read access \
             to the rep table (ID)",
            c.user, c.client
        ),
        CrmErrorKind::Transient => format!(
            "CRM.interface at {} did not answer; check crm.url, that the CRM web server is running and \
             reachable from here",
            c.url.as_deref().unwrap_or("?")
        ),
        CrmErrorKind::Config => {
            "check crm.url: it must be the whole CRM.interface URL, e.g. https://crm.contoso.com/crm.interface"
                .to_owned()
        }
        CrmErrorKind::Protocol | CrmErrorKind::Malformed => format!(
            "the answer from {} is not CRM.interface's; check that crm.url points at CRM.interface",
            c.url.as_deref().unwrap_or("?")
        ),
        _ => "see the CRM.interface log for this request".to_owned(),
    };
    format!("{e}; fix: {fix}")
}

/// Reads one synced mailbox with each enabled resource, so a missing permission shows before a sync.
async fn probe_permissions(
    client: &GraphClient,
    config: &ConnectorConfig,
    mailbox: &str,
) -> Result<String, String> {
    let s = &config.schedules;
    let mut read = Vec::new();
    let fail = |e: GraphError| diagnose(&e);
    if s.messages.enabled {
        client.health_check(Some(mailbox)).await.map_err(fail)?;
        read.push("mail");
    }
    if s.events.enabled {
        let now = Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| Timestamp::now());
        let span = |d: Option<config::Duration>| {
            SignedDuration::try_from(d.map(config::Duration::get).unwrap_or_default())
                .unwrap_or(SignedDuration::ZERO)
        };
        let scope = DeltaScope {
            mailbox: mailbox.to_owned(),
            resource: DeltaResource::Events {
                start: now - span(s.events.past),
                end: now + span(s.events.future).max(SignedDuration::from_hours(1)),
            },
        };
        client
            .delta_page(&scope, &DeltaCursor::Start)
            .await
            .map_err(fail)?;
        read.push("calendar");
    }
    if s.contacts.enabled {
        client.contact_folders(mailbox).await.map_err(fail)?;
        read.push("contacts");
    }
    if s.tasks.enabled {
        client.todo_lists(mailbox).await.map_err(fail)?;
        read.push("To Do");
    }
    Ok(format!("{} of {mailbox} readable", read.join(", ")))
}

/// Collects (and in text mode prints as it goes) what doctor found; every text is redacted of the
/// configured secrets and of secret-looking patterns before it is printed or kept.
struct Report {
    format: Format,
    redactor: Redactor,
    checks: Vec<Value>,
    diagnostics: Vec<Diagnostic>,
    warnings: Vec<String>,
    notes: Vec<String>,
    mailboxes: Option<Vec<MailboxEntry>>,
    failed: usize,
}

impl Report {
    fn new(format: Format) -> Report {
        Report {
            format,
            redactor: Redactor::new(),
            checks: Vec::new(),
            diagnostics: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
            mailboxes: None,
            failed: 0,
        }
    }

    fn text(&self) -> bool {
        matches!(self.format, Format::Text)
    }

    fn ok(&self) -> bool {
        self.failed == 0
    }

    fn diagnostics(&mut self, diagnostics: &[Diagnostic]) {
        for d in diagnostics {
            let mut d = d.clone();
            d.message = self.redactor.redact(&d.message);
            d.expected = d.expected.map(|e| self.redactor.redact(&e));
            d.hint = d.hint.map(|h| self.redactor.redact(&h));
            if self.text() {
                println!("{d}");
            }
            self.diagnostics.push(d);
        }
    }

    fn check(&mut self, name: &str, result: Result<String, String>) {
        let (ok, detail) = match result {
            Ok(d) => (true, self.redactor.redact(&d)),
            Err(d) => (false, self.redactor.redact(&d)),
        };
        if !ok {
            self.failed += 1;
        }
        if self.text() {
            println!("{:<4} {name}: {detail}", if ok { "ok" } else { "FAIL" });
        }
        self.checks.push(json!({
            "name": name,
            "status": if ok { "ok" } else { "fail" },
            "detail": detail,
        }));
    }

    fn warning(&mut self, w: String) {
        let w = self.redactor.redact(&w);
        if self.text() {
            println!("warning: {w}");
        }
        self.warnings.push(w);
    }

    /// A warning whose fix the text output has just shown (in the mailbox table).
    fn warning_with_fix(&mut self, line: String, fix: String) {
        let (line, fix) = (self.redactor.redact(&line), self.redactor.redact(&fix));
        if self.text() {
            println!("warning: {line}");
        }
        self.warnings.push(format!("{line}; fix: {fix}"));
    }

    fn note(&mut self, n: String) {
        let n = self.redactor.redact(&n);
        if self.text() {
            println!("note: {n}");
        }
        self.notes.push(n);
    }

    fn mailboxes(&mut self, entries: Vec<MailboxEntry>, domains: &[String]) {
        if self.text() {
            for line in table(&entries, domains) {
                println!("{}", self.redactor.redact(&line));
            }
        }
        self.mailboxes = Some(entries);
    }

    /// Text: the summary line. JSON: the whole document.
    fn finish(self) {
        let synced = self.mailboxes.as_ref().map(|m| {
            (
                m.iter().filter(|e| e.status == Status::Sync).count(),
                m.len(),
            )
        });
        match self.format {
            Format::Text => {
                if let Some((n, total)) = synced {
                    println!("{n} of {total} mailboxes will be synced");
                }
                if self.failed == 0 {
                    println!(
                        "doctor: all {} checks passed, {} warnings",
                        self.checks.len(),
                        self.warnings.len()
                    );
                } else {
                    println!(
                        "doctor: {} of {} checks failed",
                        self.failed,
                        self.checks.len()
                    );
                }
            }
            Format::Json => {
                let mailboxes = self
                    .mailboxes
                    .as_ref()
                    .map(|m| m.iter().map(entry_json).collect::<Vec<_>>());
                let doc = json!({
                    "ok": self.failed == 0,
                    "checks": self.checks,
                    "diagnostics": self.diagnostics,
                    "warnings": self.warnings,
                    "notes": self.notes,
                    "mailboxes": mailboxes,
                    "summary": synced.map(|(n, total)| json!({"synced": n, "total": total})),
                });
                let text = serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".to_owned());
                println!("{}", self.redactor.redact(&text));
            }
        }
    }
}

fn entry_json(e: &MailboxEntry) -> Value {
    let (status, reason, message, fix) = match &e.status {
        Status::Sync => ("sync", None, None, None),
        Status::Skip(r) => (
            "skip",
            Some(r.code()),
            Some(r.message()),
            Some(r.fix(&e.rep_id, e.email.as_deref().unwrap_or(""))),
        ),
    };
    json!({
        "rep_id": e.rep_id,
        "name": e.rep_name,
        "email": e.email,
        "enable_connector": e.enable_connector,
        "user_id": e.user_id,
        "time_zone": e.time_zone,
        "time_zone_is_default": e.time_zone_is_default,
        "status": status,
        "reason": reason,
        "message": message,
        "fix": fix,
        "warning": e.is_warning(),
    })
}

fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
}

fn table(entries: &[MailboxEntry], domains: &[String]) -> Vec<String> {
    let mut lines = vec![format!(
        "mailboxes (managed domains: {}):",
        domains.join(", ")
    )];
    let w_id = entries
        .iter()
        .map(|e| e.rep_id.chars().count())
        .max()
        .unwrap_or(0);
    let w_name = entries
        .iter()
        .map(|e| e.rep_name.chars().count())
        .max()
        .unwrap_or(0);
    let w_mail = entries
        .iter()
        .map(|e| e.email.as_deref().unwrap_or("-").chars().count())
        .max()
        .unwrap_or(0);
    for e in entries {
        let (status, detail) = match &e.status {
            Status::Sync => {
                let tz = e.time_zone.as_deref().unwrap_or("?");
                let default = if e.time_zone_is_default {
                    " (configured default)"
                } else {
                    ""
                };
                ("sync", format!("{tz}{default}"))
            }
            Status::Skip(r) => ("skip", r.message()),
        };
        lines.push(format!(
            "  {}  {}  {}  {status}  {detail}",
            pad(&e.rep_id, w_id),
            pad(&e.rep_name, w_name),
            pad(e.email.as_deref().unwrap_or("-"), w_mail),
        ));
        if let Status::Skip(r) = &e.status {
            lines.push(format!(
                "  {}  fix: {}",
                " ".repeat(w_id),
                r.fix(&e.rep_id, e.email.as_deref().unwrap_or(""))
            ));
        }
    }
    lines
}
