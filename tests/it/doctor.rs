//! `doctor`: the sandbox's mailbox table, each reproduced admin mistake with its one-line fix, the JSON
//! shape and exit codes, run through the real binary.

use std::process::Command;

use pretty_assertions::assert_eq;
use serde_json::Value;

/// The sandbox app's secret value: it must never appear in doctor's output.
const SANDBOX_SECRET: &str = "sandbox-secret-value~0123456789abcdefghij";

/// Runs `graph-connector doctor ARGS`; returns (exit code, stdout, stderr).
fn doctor(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_graph-connector"))
        .arg("doctor")
        .args(args)
        .env("GRAPH_CONNECTOR_LOG", "off")
        .env_remove("DOCTOR_TEST_UNSET_SECRET")
        .envs(envs.iter().copied())
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let stderr = String::from_utf8(out.stderr).expect("utf-8 stderr");
    assert!(
        !stdout.contains(SANDBOX_SECRET) && !stderr.contains(SANDBOX_SECRET),
        "doctor printed the client secret:\n{stdout}\n{stderr}"
    );
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// The table row of `rep`, whitespace collapsed: `ANA Ana Alvarez ana@contoso.com sync W. Europe …`.
fn row(stdout: &str, rep: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{rep} ")))
        .unwrap_or_else(|| panic!("no table row for {rep} in:\n{stdout}"));
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn sandbox_syncs_ana_and_ben_and_says_why_the_others_are_skipped() {
    let (code, stdout, _) = doctor(&["--sandbox"], &[]);
    assert_eq!(code, 0, "{stdout}");
    for check in [
        "sandbox",
        "secrets",
        "graph token",
        "crm login",
        "crm reps",
        "tenant users",
        "permissions",
    ] {
        assert!(
            stdout.contains(&format!("ok   {check}: ")),
            "no ok line for {check}:\n{stdout}"
        );
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert_eq!(
        row(&stdout, "ANA"),
        "ANA Ana Alvarez ana@contoso.com sync W. Europe Standard Time"
    );
    assert_eq!(
        row(&stdout, "BEN"),
        "BEN Ben Becker ben@contoso.com sync Pacific Standard Time"
    );
    assert_eq!(
        row(&stdout, "CHL"),
        "CHL Chloé Dubois chloe@contoso.com skip no Exchange Online mailbox"
    );
    assert_eq!(
        row(&stdout, "DIE"),
        "DIE Dieter Dörr dieter@contoso.com skip connector not enabled"
    );
    assert_eq!(
        row(&stdout, "EVA"),
        "EVA Eva Engel eva@fabrikam-partner.com skip domain fabrikam-partner.com is not managed"
    );
    assert!(stdout.contains("fix: user chloe@contoso.com has no Exchange Online mailbox"));
    assert!(stdout.contains("add its domain to graph.managed_domains (now: contoso.com)"));
    // Reps flagged Enable Connector that cannot be synced are warnings; DIE (not flagged) is not.
    let warnings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 2, "{stdout}");
    assert!(warnings[0].starts_with("warning: CHL (Chloé Dubois) has Enable Connector set"));
    assert!(warnings[1].starts_with("warning: EVA (Eva Engel) has Enable Connector set"));
    assert!(
        stdout.contains("\n2 of 5 mailboxes will be synced\n"),
        "{stdout}"
    );
}

#[test]
fn each_mistake_fails_with_its_one_line_fix() {
    let cases = [
        (
            "secret-id",
            "graph token",
            "the secret's ID was pasted instead of its Value",
        ),
        (
            "wrong-secret",
            "graph token",
            "fix: the client secret is wrong",
        ),
        (
            "expired-secret",
            "graph token",
            "fix: the client secret has expired",
        ),
        (
            "unknown-tenant",
            "graph token",
            "fix: tenant 0f0e0d0c-0b0a-4999-8888-777766665555 does not exist",
        ),
        (
            "unknown-client",
            "graph token",
            "fix: application 11111111-2222-4333-8444-555555555555 was not found in tenant",
        ),
        (
            "missing-permission",
            "permissions",
            "fix: the app lacks the application permission Calendars.ReadWrite",
        ),
        (
            "crm-password",
            "crm login",
            "fix: the CRM refused the login of master user OCSU",
        ),
    ];
    let mut problems = Vec::new();
    for (mistake, check, fix) in cases {
        let (code, stdout, _) = doctor(&["--sandbox", "--mistake", mistake], &[]);
        let fails: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
        let expected_prefix = format!("FAIL {check}: ");
        if code != 1
            || fails.len() != 1
            || !fails[0].starts_with(&expected_prefix)
            || !fails[0].contains(fix)
        {
            problems.push(format!(
                "--mistake {mistake}: exit {code}, expected 1 and one line `{expected_prefix}…{fix}…`; got:\n{stdout}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn json_format_has_checks_mailboxes_and_summary() {
    let (code, stdout, _) = doctor(&["--sandbox", "--format", "json"], &[]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&stdout).expect("doctor --format json prints JSON");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["summary"], serde_json::json!({"synced": 2, "total": 5}));
    let checks = doc["checks"].as_array().expect("checks");
    assert!(
        checks
            .iter()
            .all(|c| c["status"] == "ok" && c["name"].is_string() && c["detail"].is_string())
    );
    let mailboxes = doc["mailboxes"].as_array().expect("mailboxes");
    let got: Vec<(String, String, Value, bool)> = mailboxes
        .iter()
        .map(|m| {
            (
                m["rep_id"].as_str().unwrap_or_default().to_owned(),
                m["status"].as_str().unwrap_or_default().to_owned(),
                m["reason"].clone(),
                m["warning"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        got,
        vec![
            (s("ANA"), s("sync"), Value::Null, false),
            (s("BEN"), s("sync"), Value::Null, false),
            (s("CHL"), s("skip"), Value::from("no-mailbox"), true),
            (
                s("DIE"),
                s("skip"),
                Value::from("connector-not-enabled"),
                false
            ),
            (
                s("EVA"),
                s("skip"),
                Value::from("outside-managed-domains"),
                true
            ),
        ]
    );
    assert_eq!(mailboxes[0]["time_zone"], "W. Europe Standard Time");
    assert!(
        mailboxes[2]["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("Exchange Online license")
    );
    assert_eq!(doc["warnings"].as_array().map(Vec::len), Some(2));
}

#[test]
fn json_failure_is_ok_false_with_the_failed_check() {
    let (code, stdout, _) = doctor(
        &["--sandbox", "--mistake", "secret-id", "--format", "json"],
        &[],
    );
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["mailboxes"], Value::Null);
    let failed: Vec<&Value> = doc["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["name"], "graph token");
}

#[test]
fn missing_config_file_cannot_run() {
    let (code, _, stderr) = doctor(&["--config", "/nonexistent/connector.yaml"], &[]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("config file /nonexistent/connector.yaml does not exist"),
        "{stderr}"
    );
}

#[test]
fn mistake_needs_the_sandbox() {
    let (code, _, stderr) = doctor(&["--mistake", "secret-id"], &[]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn unresolvable_secrets_are_named_and_nothing_is_contacted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("connector.yaml");
    std::fs::write(
        &path,
        "graph:\n  tenant_id: 8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f\n  client_id: 3e9a7c51-2d4b-4f6e-8a1c-7b5d9e0f2a43\n  \
         client_secret: env:DOCTOR_TEST_UNSET_SECRET\n  managed_domains: [contoso.com]\n\
         crm:\n  url: http://127.0.0.1:9/crm.interface\n  password: file:missing-password.txt\n",
    )
    .expect("write config");
    let (code, stdout, _) = doctor(&["--config", path.to_str().expect("utf-8 path")], &[]);
    assert_eq!(code, 1, "{stdout}");
    let fail = stdout
        .lines()
        .find(|l| l.starts_with("FAIL secrets: "))
        .unwrap_or_else(|| panic!("no secrets failure in:\n{stdout}"));
    assert!(fail.contains("environment variable `DOCTOR_TEST_UNSET_SECRET` is not set"));
    assert!(fail.contains("missing-password.txt"));
    // Without secrets no service is called: no token or login line at all.
    assert!(!stdout.contains("graph token"), "{stdout}");
    assert!(!stdout.contains("crm login"), "{stdout}");
}

#[test]
fn config_errors_are_printed_as_diagnostics() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("connector.yaml");
    std::fs::write(&path, "graph:\n  tenant_id: x\n  client_idd: y\n").expect("write config");
    let (code, stdout, _) = doctor(&["--config", path.to_str().expect("utf-8 path")], &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("connector.yaml:3:3: error: unknown key `client_idd`"),
        "{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("FAIL config: ")),
        "{stdout}"
    );
}

#[test]
fn access_policy_skips_ben_with_a_warning_but_passes() {
    let (code, stdout, _) = doctor(&["--sandbox", "--mistake", "access-policy"], &[]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        row(&stdout, "BEN"),
        "BEN Ben Becker ben@contoso.com skip excluded by an application access policy"
    );
    assert!(stdout.contains(
        "fix: mailbox ben@contoso.com is outside the Exchange application access policy"
    ));
    assert!(
        stdout
            .contains("warning: BEN (Ben Becker) has Enable Connector set but will not be synced")
    );
    assert!(
        stdout.contains("\n1 of 5 mailboxes will be synced\n"),
        "{stdout}"
    );
}

/// A real config file (secret from the environment, password from a file) pointing at emulators
/// started in-process: the same table as the sandbox, through the config path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_pointing_at_the_emulators_gives_the_sandbox_table() {
    use graph_connector::emulator::{crm, graph};
    let g = graph::spawn(graph::EmulatorOptions::default())
        .await
        .expect("graph emulator");
    let c = crm::spawn(crm::EmulatorOptions::default())
        .await
        .expect("crm emulator");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("crm.pw"),
        format!("{}\n", c.master().password),
    )
    .expect("password file");
    let config = format!(
        "graph:\n  tenant_id: {}\n  client_id: {}\n  client_secret: env:DOCTOR_IT_GRAPH_SECRET\n  \
         managed_domains: [contoso.com]\n  graph_url: {}\n  token_url: {}\n\
         crm:\n  url: {}\n  user: {}\n  password: file:crm.pw\n",
        g.tenant_id(),
        g.client_id(),
        g.graph_url(),
        g.token_url(),
        c.url(),
        c.master().user,
    );
    let path = dir.path().join("connector.yaml");
    std::fs::write(&path, config).expect("config");
    let path = path.to_str().expect("utf-8 path").to_owned();
    let secret = g.client_secret().to_owned();
    let (code, stdout, _) = tokio::task::spawn_blocking(move || {
        doctor(&["--config", &path], &[("DOCTOR_IT_GRAPH_SECRET", &secret)])
    })
    .await
    .expect("doctor ran");
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.starts_with("ok   config: "), "{stdout}");
    assert!(
        stdout.contains(
            "ok   secrets: graph.client_secret (env:DOCTOR_IT_GRAPH_SECRET), crm.password (file:crm.pw) resolved"
        ),
        "{stdout}"
    );
    assert_eq!(
        row(&stdout, "CHL"),
        "CHL Chloé Dubois chloe@contoso.com skip no Exchange Online mailbox"
    );
    assert!(
        stdout.contains("\n2 of 5 mailboxes will be synced\n"),
        "{stdout}"
    );
    g.shutdown().await;
    c.shutdown().await;
}

#[test]
fn missing_mailbox_settings_permission_is_a_warning_and_uses_the_default_time_zone() {
    let (code, stdout, _) = doctor(&["--sandbox", "--mistake", "mailbox-settings"], &[]);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("warning: mailboxSettings is refused")
                && l.contains("fix: add MailboxSettings.Read")),
        "{stdout}"
    );
    assert_eq!(
        row(&stdout, "ANA"),
        "ANA Ana Alvarez ana@contoso.com sync UTC (configured default)"
    );
    assert!(
        stdout.contains("\n2 of 5 mailboxes will be synced\n"),
        "{stdout}"
    );
}
