//! `connector.yaml`: the setup guide's defaults, secret references, located config errors.

use std::{path::Path, time::Duration};

use graph_connector::{
    config::{ConnectorConfig, CrmTransport},
    diag::{Diagnostic, Severity},
    load,
    secrets::resolve_secret,
};
use pretty_assertions::assert_eq;
use secrecy::ExposeSecret;

const MINIMAL: &str = "\
graph:
  tenant_id: 8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f
  client_id: 3e9a7c51-2d4b-4f6e-8a1c-7b5d9e0f2a43
  client_secret: env:GRAPH_CLIENT_SECRET
crm:
  url: http://127.0.0.1:9/crm.interface
";

type Loaded = Result<(ConnectorConfig, Vec<Diagnostic>), Vec<Diagnostic>>;

/// Writes `text` as `connector.yaml` in a fresh directory and loads it.
fn load_text(text: &str) -> (tempfile::TempDir, Loaded) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connector.yaml");
    std::fs::write(&path, text).unwrap();
    let res = load::load_config(&path);
    (dir, res)
}

/// The diagnostics of a config that must not load, each rendered with the file named `connector.yaml`.
fn failing_diagnostics(text: &str) -> Vec<String> {
    let (_dir, res) = load_text(text);
    res.unwrap_err()
        .iter()
        .map(|d| d.to_string().replace(&d.file, "connector.yaml"))
        .collect()
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(n * 60)
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

#[test]
fn defaults_equal_the_setup_guide() {
    let (dir, res) = load_text(MINIMAL);
    let (config, warnings) = res.expect("a minimal config loads");
    assert_eq!(warnings, vec![]);
    let crm = &config.crm;
    assert_eq!(crm.transport, CrmTransport::Interface);
    assert_eq!(
        (
            crm.user.as_str(),
            crm.client.as_str(),
            crm.language.as_str()
        ),
        ("OCSU", "GraphApi", "en")
    );
    assert_eq!(
        (crm.date_format.as_str(), crm.time_format.as_str()),
        ("YYYY-MM-DD", "HH:MM")
    );
    assert_eq!(
        config.mailboxes.refresh.get(),
        Duration::from_secs(24 * 3600)
    );
    let s = &config.schedules;
    // e-mails every 10 min; appointments and tasks every 10 min over 7 days past / 7 days future;
    // contacts every 1440 min; all enabled
    // e-mails from the mailbox's first sync on (no `since`), Inbox and Sent Items
    assert_eq!(
        (
            s.messages.every.get(),
            s.messages.since,
            s.messages.folders.clone()
        ),
        (
            minutes(10),
            None,
            vec!["inbox".to_owned(), "sentitems".to_owned()]
        )
    );
    for schedule in [&s.events, &s.tasks] {
        assert_eq!(schedule.every.get(), minutes(10));
        assert_eq!(schedule.past.map(|d| d.get()), Some(days(7)));
        assert_eq!(schedule.future.map(|d| d.get()), Some(days(7)));
    }
    assert_eq!(s.contacts.every.get(), minutes(1440));
    assert!(s.messages.enabled && s.events.enabled && s.tasks.enabled && s.contacts.enabled);
    assert_eq!(config.service.listen, "127.0.0.1:8089");
    assert_eq!(config.graph.graph_url, "https://graph.microsoft.com/v1.0");
    assert_eq!(
        config.graph.token_endpoint(),
        "https://login.microsoftonline.com/8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f/oauth2/v2.0/token"
    );
    assert_eq!(config.mappings.template, None);
    // relative paths resolve against the config file's directory
    assert_eq!(config.mappings.dir, dir.path().join("mappings"));
    assert_eq!(
        config.state.location.to_string(),
        format!("sqlite:{}", dir.path().join("graph-connector.db").display())
    );
}

#[test]
fn schedules_can_be_changed_or_disabled_per_resource() {
    let text = format!(
        "{MINIMAL}schedules:\n  contacts:\n    enabled: false\n    every: 2h\n  events:\n    every: 5m\n    past: 1d\n"
    );
    let (_dir, res) = load_text(&text);
    let (config, _) = res.unwrap();
    assert!(!config.schedules.contacts.enabled);
    assert_eq!(
        config.schedules.contacts.every.get(),
        Duration::from_secs(7200)
    );
    assert_eq!(config.schedules.events.every.get(), minutes(5));
    assert_eq!(config.schedules.events.past.map(|d| d.get()), Some(days(1)));
    assert_eq!(config.schedules.events.future, None);
    assert_eq!(config.schedules.tasks.every.get(), minutes(10));
}

#[test]
fn mail_folders_that_are_never_read_are_refused_where_they_are_written() {
    let text = format!(
        "{MINIMAL}schedules:\n  messages:\n    since: 30d\n    folders: [inbox, junkemail, Deleted Items, archive, Outbox, inbox]\n"
    );
    let rendered = failing_diagnostics(&text);
    insta::assert_snapshot!(rendered.join("\n"), @r"
    connector.yaml:10:22: error: mail folder `junkemail` is never read: junk, deleted, unsent and unsendable mail is not correspondence
      expected: a folder other than Junk E-mail, Deleted Items, Drafts and Outbox, e.g. `inbox`, `sentitems` or `archive`
    connector.yaml:10:33: error: mail folder `Deleted Items` is never read: junk, deleted, unsent and unsendable mail is not correspondence
      expected: a folder other than Junk E-mail, Deleted Items, Drafts and Outbox, e.g. `inbox`, `sentitems` or `archive`
    connector.yaml:10:57: error: mail folder `Outbox` is never read: junk, deleted, unsent and unsendable mail is not correspondence
      expected: a folder other than Junk E-mail, Deleted Items, Drafts and Outbox, e.g. `inbox`, `sentitems` or `archive`
    connector.yaml:10:65: warning: mail folder `inbox` is listed twice
      expected: each folder once
    ");
    let ok = format!(
        "{MINIMAL}schedules:\n  messages:\n    since: 2026-01-01\n    folders: [inbox, archive]\n"
    );
    let (_dir, res) = load_text(&ok);
    let (config, warnings) = res.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        config.schedules.messages.since.map(|s| s.to_string()),
        Some("2026-01-01T00:00:00Z".to_owned())
    );
    assert_eq!(config.schedules.messages.folders, ["inbox", "archive"]);
    let bad_since = format!("{MINIMAL}schedules:\n  messages:\n    since: last year\n");
    let rendered = failing_diagnostics(&bad_since);
    assert!(
        rendered
            .iter()
            .any(|d| d.starts_with("connector.yaml:") && d.contains("since")),
        "{rendered:#?}"
    );
}

#[test]
fn subfolders_and_the_contact_folder_are_checked_where_they_are_written() {
    let text = format!(
        "{MINIMAL}schedules:\n  messages:\n    folders: [msgfolderroot]\n  contacts:\n    folder: Contacts\n"
    );
    let rendered = failing_diagnostics(&text);
    insta::assert_snapshot!(rendered.join("\n"), @r"
    connector.yaml:9:15: warning: mail folder `msgfolderroot` with `subfolders: true` reads every folder of the mailbox
      expected: the folders that hold correspondence, e.g. `[inbox, sentitems]`
      hint: list the folders to read, or set `schedules.messages.subfolders: false`
    connector.yaml:11:13: error: `Contacts` is the mailbox's default contact folder
      expected: a folder name such as `CRM contacts`
      hint: contacts the connector creates go to a folder of their own; Outlook contacts in the default folder are adopted by e-mail address and keep syncing
    ");
    let (_dir, res) = load_text(&format!(
        "{MINIMAL}schedules:\n  messages:\n    folders: [inbox]\n    subfolders: false\n  contacts:\n    folder: Kunden\n"
    ));
    let (config, warnings) = res.unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(!config.schedules.messages.subfolders);
    assert_eq!(config.schedules.contacts.folder, "Kunden");
    let (_dir, res) = load_text(MINIMAL);
    let (config, _) = res.unwrap();
    assert!(
        config.schedules.messages.subfolders,
        "subfolders are read by default"
    );
    assert_eq!(config.schedules.contacts.folder, "CRM contacts");
    let rendered = failing_diagnostics(&format!(
        "{MINIMAL}schedules:\n  contacts:\n    folder: \"  \"\n"
    ));
    assert!(
        rendered
            .iter()
            .any(|d| d.contains("an empty contact folder name")),
        "{rendered:#?}"
    );
}

#[test]
fn a_literal_secret_gives_a_located_warning() {
    let text = MINIMAL.replace(
        "env:GRAPH_CLIENT_SECRET",
        "sandbox-secret-value~0123456789abcdefghij",
    );
    let (_dir, res) = load_text(&text);
    let (config, warnings) = res.expect("a literal secret is accepted");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert_eq!(w.severity, Severity::Warning);
    assert_eq!(
        (w.file.ends_with("connector.yaml"), w.line, w.column),
        (true, 4, 18)
    );
    assert_eq!(w.message, "secret written literally in the config file");
    assert_eq!(
        w.expected.as_deref(),
        Some("a reference: `env:NAME` or `file:PATH`")
    );
    // the literal still resolves, and never shows in debug output
    let secret = resolve_secret(&config.graph.client_secret, Path::new(".")).unwrap();
    assert_eq!(
        secret.expose_secret(),
        "sandbox-secret-value~0123456789abcdefghij"
    );
    assert!(!format!("{config:?}").contains("sandbox-secret-value"));
}

#[test]
fn a_pasted_secret_id_gets_a_hint() {
    let text = MINIMAL.replace(
        "env:GRAPH_CLIENT_SECRET",
        "b7c3e1f0-0000-4000-8000-000000000001",
    );
    let (_dir, res) = load_text(&text);
    let (_, warnings) = res.unwrap();
    assert!(
        warnings[0]
            .hint
            .as_deref()
            .unwrap()
            .contains("looks like the secret's ID"),
        "{warnings:?}"
    );
}

#[test]
fn file_secrets_resolve_relative_to_the_config() {
    let text = MINIMAL.replace("env:GRAPH_CLIENT_SECRET", "file:secret.txt");
    let (dir, res) = load_text(&text);
    let (config, warnings) = res.unwrap();
    assert!(warnings.is_empty());
    std::fs::write(dir.path().join("secret.txt"), "s3cret\n").unwrap();
    let secret = resolve_secret(&config.graph.client_secret, dir.path()).unwrap();
    assert_eq!(secret.expose_secret(), "s3cret");
}

#[test]
fn config_errors_are_located_and_all_reported() {
    let text = "\
graph:
  tenant_id: not-a-guid
  client_id: 3e9a7c51-2d4b-4f6e-8a1c-7b5d9e0f2a43
  client_secret: env:GRAPH_CLIENT_SECRET
crm:
  transport: interfaces
  timeout: 30 seconds
mailboxes:
  refesh: 12h
service:
  listen: 0.0.0.0:8089
schedules:
  contacts:
    every: 1440
";
    let rendered = failing_diagnostics(text);
    // The schema errors, and the semantic checks of what could be read despite them (`crm` itself is
    // not checked further: its `transport` is unreadable).
    insta::assert_snapshot!(rendered.join("\n"), @r"
    connector.yaml:2:14: error: `not-a-guid` is neither a tenant GUID nor a domain name
      expected: the Directory (tenant) ID, a GUID like `8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f`, or a verified domain such as `contoso.onmicrosoft.com`
    connector.yaml:6:14: error: unknown value `interfaces` for `crm.transport`
      expected: one of: interface, memory
      hint: did you mean `interface`?
    connector.yaml:7:12: error: `30 seconds` is not a duration in `crm.timeout`
      expected: a whole number followed by a unit, e.g. `30s`, `10m`, `24h`, `7d`
    connector.yaml:9:3: error: unknown key `refesh` in `mailboxes`
      expected: one of: refresh
      hint: did you mean `refresh`?
    connector.yaml:11:11: warning: status endpoint listens on non-loopback address `0.0.0.0:8089`
      expected: a loopback address such as `127.0.0.1:8089`
      hint: the status endpoint has no authentication; put a proxy in front of it
    connector.yaml:14:12: error: wrong type for `schedules.contacts.every`: found an integer
      expected: a whole number followed by a unit, e.g. `30s`, `10m`, `24h`, `7d`
      hint: add a unit, e.g. `1440m` for 1440 minutes
    ");
}

#[test]
fn semantic_config_checks_follow_the_schema() {
    let text = "\
graph:
  tenant_id: not-a-guid
  client_id: 3e9a7c51-2d4b-4f6e-8a1c-7b5d9e0f2a43
  client_secret: env:GRAPH_CLIENT_SECRET
  default_time_zone: Europe/Berln
crm:
  language: fr
service:
  listen: 0.0.0.0:8089
";
    let rendered = failing_diagnostics(text);
    insta::assert_snapshot!(rendered.join("\n"), @r"
    connector.yaml:2:14: error: `not-a-guid` is neither a tenant GUID nor a domain name
      expected: the Directory (tenant) ID, a GUID like `8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f`, or a verified domain such as `contoso.onmicrosoft.com`
    connector.yaml:5:22: error: unknown time zone `Europe/Berln`
      expected: a Windows name such as `W. Europe Standard Time` or an IANA name such as `Europe/Berlin`
      hint: did you mean `Europe/Berlin`?
    connector.yaml:6:1: error: missing `url` for the `interface` CRM transport
      expected: `url: https://crm.example.com/crm.interface` (or `transport: memory`)
    connector.yaml:7:13: error: unsupported CRM language `fr`
      expected: one of: en, de
    connector.yaml:9:11: warning: status endpoint listens on non-loopback address `0.0.0.0:8089`
      expected: a loopback address such as `127.0.0.1:8089`
      hint: the status endpoint has no authentication; put a proxy in front of it
    ");
}

#[test]
fn example_config_loads_clean() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("connector.example.yaml");
    let (config, warnings) = load::load_config(&path).expect("connector.example.yaml loads");
    assert_eq!(warnings, vec![]);
    assert_eq!(config.mappings.template.as_deref(), Some("isi"));
    assert!(config.mappings.dir.ends_with("mappings"));
}

#[test]
fn the_example_setup_loads_config_and_mappings() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("connector.example.yaml");
    let setup = load::load_setup(&path).expect("config and shipped mappings load");
    assert_eq!(setup.warnings, vec![]);
    assert_eq!(setup.mappings.model.template.as_deref(), Some("isi"));
    assert!(setup.mappings.model.resources.contains_key("event"));
}

#[test]
fn a_setup_with_a_bad_config_still_reports_mapping_problems() {
    let dir = tempfile::tempdir().unwrap();
    let five = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/validate/five-mistakes");
    let text = format!(
        "graph:\n  tenant_id: nope\n  client_id: 3e9a7c51-2d4b-4f6e-8a1c-7b5d9e0f2a43\n  client_secret: env:S\ncrm:\n  transport: memory\nmappings:\n  dir: {}\n",
        five.display()
    );
    let path = dir.path().join("connector.yaml");
    std::fs::write(&path, text).unwrap();
    let diagnostics = load::load_setup(&path).unwrap_err();
    assert_eq!(diagnostics.len(), 6, "{diagnostics:#?}");
    assert!(diagnostics[0].message.contains("is neither a tenant GUID"));
}

/// A tenant given as a domain name must be one: labels of letters, digits and hyphens only.
#[test]
fn a_tenant_domain_with_other_characters_is_refused() {
    for bad in [
        "contoso_corp.com",
        "contoso corp.com",
        "contoso.com/",
        "contoso..com",
    ] {
        let text = MINIMAL.replace(
            "8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f",
            &format!("\"{bad}\""),
        );
        let diagnostics = failing_diagnostics(&text);
        assert!(
            diagnostics
                .iter()
                .any(|d| d.contains("is neither a tenant GUID nor a domain name")),
            "{bad}: {diagnostics:#?}"
        );
    }
    for good in ["contoso.onmicrosoft.com", "con-toso.example"] {
        let text = MINIMAL.replace("8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f", good);
        let (_dir, res) = load_text(&text);
        assert!(res.is_ok(), "{good}: {res:#?}");
    }
}
