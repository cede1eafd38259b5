//! Issue 10, hostile input: what strangers and typos can feed the connector never crashes, hangs, leaks a
//! secret or silently changes data. One test per class, plus the corpus `tests/data/hostile/<case>/`
//! (each `case.yaml` lists command lines with their exit code and what their output must and must not
//! say), run by [`hostile_corpus`].
//!
//! Sizes are the issue's (a 10 MB body, 100 k attendees, 200 k nested elements, alias bombs of far more
//! than a million values); speed is shown by `crates/core/benches/hostile.rs`, never timed here.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use graph_connector::{
    limits::{MAX_FILE_BYTES, MAX_PARTICIPANTS},
    load,
    mapping::{self, Context, Directory, DirectoryEntry, FieldValue},
    model::MappingSet,
    spec::yaml,
};
use pretty_assertions::assert_eq;
use serde::Deserialize;
use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn set(template: Option<&str>) -> MappingSet {
    load::load_mappings(&root().join("mappings"), template)
        .unwrap_or_else(|f| panic!("{:#?}", f.diagnostics))
        .model
}

fn ctx() -> Context {
    let mut ctx = Context::new("W. Europe Standard Time").unwrap();
    ctx.mailbox = Some("ana@contoso.com".into());
    ctx.directory = Directory {
        reps: vec![DirectoryEntry {
            email: "ana@contoso.com".into(),
            id: "ANA".into(),
            name: "Ana Alvarez".into(),
            fields: Default::default(),
        }],
        persons: vec![DirectoryEntry {
            email: "frank@fabrikam.com".into(),
            id: "FI1-KP1".into(),
            name: "Frank Fischer".into(),
            fields: Default::default(),
        }],
    };
    ctx
}

fn event(extra: Value) -> Value {
    let mut item = json!({
        "id": "AAMkAGI1",
        "subject": "Review",
        "start": {"dateTime": "2025-03-04T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2025-03-04T10:00:00.0000000", "timeZone": "UTC"},
        "isAllDay": false,
    });
    if let (Some(item), Value::Object(extra)) = (item.as_object_mut(), extra) {
        item.extend(extra);
    }
    item
}

fn text(rec: &mapping::CrmRecord, field: &str) -> String {
    match rec.fields.get(field) {
        Some(FieldValue::Text(t)) => t.clone(),
        other => panic!("{field}: {other:?}"),
    }
}

// ---- the corpus ----

/// One case of `tests/data/hostile/<case>/case.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case shows.
    about: String,
    runs: Vec<Run>,
}

/// One command line, run in the case's directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Run {
    args: Vec<String>,
    code: i32,
    /// Texts stdout must contain.
    #[serde(default)]
    stdout: Vec<String>,
    /// Texts stderr must contain.
    #[serde(default)]
    stderr: Vec<String>,
    /// Texts neither output may contain (secrets, injected lines).
    #[serde(default)]
    absent: Vec<String>,
}

/// Every case of the corpus: exit codes and outputs as listed, never a panic.
#[test]
fn hostile_corpus() {
    let dir = root().join("tests/data/hostile");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.yaml").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "{cases:?}");
    let mut failures = Vec::new();
    for case_dir in &cases {
        let name = case_dir.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(case_dir.join("case.yaml")).unwrap();
        let case: Case = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        for run in &case.runs {
            let out = Command::new(env!("CARGO_BIN_EXE_graph-connector"))
                .args(&run.args)
                .current_dir(case_dir)
                .env("GRAPH_CONNECTOR_LOG", "off")
                .env("RUST_BACKTRACE", "0")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let mut wrong = Vec::new();
            if out.status.code() != Some(run.code) {
                wrong.push(format!(
                    "exit code {:?}, expected {}",
                    out.status.code(),
                    run.code
                ));
            }
            if stderr.contains("panicked") {
                wrong.push("panicked".to_string());
            }
            for want in &run.stdout {
                if !stdout.contains(want.as_str()) {
                    wrong.push(format!("stdout lacks {want:?}"));
                }
            }
            for want in &run.stderr {
                if !stderr.contains(want.as_str()) {
                    wrong.push(format!("stderr lacks {want:?}"));
                }
            }
            for bad in &run.absent {
                if stdout.contains(bad.as_str()) || stderr.contains(bad.as_str()) {
                    wrong.push(format!("output contains {bad:?}"));
                }
            }
            if !wrong.is_empty() {
                failures.push(format!(
                    "{name} ({}): {}: {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
                    case.about,
                    run.args.join(" "),
                    wrong.join("; ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---- YAML alias bombs ----

/// `levels` anchors of ten aliases each: 10^levels values from a file of a few hundred bytes.
fn alias_bomb(key: &str, levels: usize) -> String {
    let mut text = format!("{key}:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..levels {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!(
            "  a{i}: &a{i} [{}]\n",
            [prev.as_str(); 10].join(", ")
        ));
    }
    text
}

/// Issue 10 (YAML alias bombs): a million-value expansion is refused, located at the alias that crosses
/// the limit, in every kind of file the connector reads.
#[test]
fn yaml_alias_bombs_are_refused_in_every_file_kind() {
    let dir = tempfile::tempdir().unwrap();
    for (file, key) in [
        ("event.yaml", "fields"),
        ("event.test.yaml", "cases"),
        ("directory.yaml", "reps"),
        ("connector.yaml", "graph"),
        ("graph-seed.yaml", "users"),
        ("crm-seed.yaml", "tables"),
    ] {
        let path = dir.path().join(file);
        std::fs::write(&path, alias_bomb(key, 9)).unwrap();
        let err = load::read_document(&path).unwrap_err();
        assert_eq!(
            err[0].message, "the document expands to too many values",
            "{file}"
        );
        assert!((6..=8).contains(&err[0].line), "{file}: {}", err[0]);
    }
}

#[test]
fn yaml_alias_bombs_are_refused_by_the_emulator_seed_parsers() {
    use graph_connector::emulator::{crm, graph};
    let bomb = alias_bomb("tables", 9);
    let err = crm::Seed::from_yaml(&bomb, "crm-seed.yaml").unwrap_err();
    assert!(
        err.starts_with("crm-seed.yaml: invalid CRM emulator seed: line "),
        "{err}"
    );
    assert!(
        err.contains("the seed expands to more than 250000 values"),
        "{err}"
    );
    let text_bomb = format!(
        "tenant: {{id: 8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f, domains: [x.com]}}\nnote: &s {}\nusers: [{}]\n",
        "x".repeat(100_000),
        ["*s"; 2_000].join(", ")
    );
    let err = graph::Seed::from_yaml(&text_bomb, "graph-seed.yaml").unwrap_err();
    assert!(err.to_string().contains("graph-seed.yaml"), "{err}");
    assert!(
        err.to_string().contains("line 3: the seed expands"),
        "{err}"
    );
    let err =
        crm::Seed::from_yaml(&text_bomb.replace("users", "tables"), "crm-seed.yaml").unwrap_err();
    assert!(err.contains("line 3: the seed expands"), "{err}");
}

// ---- linear per-item processing ----

/// Issue 10 (linear processing): a flat 10 MB HTML body maps, and the other fields of the item too.
#[test]
fn a_ten_megabyte_body_maps() {
    let set = set(None);
    let res = set.resource("event").unwrap();
    let html = "<p>Hello &amp; welcome, this is a paragraph of the body.</p>\n".repeat(170_000);
    assert!(html.len() > 10_000_000);
    let item = event(json!({"body": {"contentType": "html", "content": html}}));
    let rec = mapping::to_crm(&set, res, &item, &ctx());
    let body = text(&rec, "Text");
    assert!(body.starts_with("Hello & welcome"), "{}", &body[..40]);
    assert_eq!(body.matches("welcome").count(), 170_000);
    assert_eq!(text(&rec, "Subject"), "Review");
}

/// 200 000 nested elements (html2text never finished these) map like a flat body.
#[test]
fn two_hundred_thousand_nested_elements_map() {
    let set = set(None);
    let res = set.resource("event").unwrap();
    let n = 200_000;
    for html in [
        format!("{}deep{}", "<div>".repeat(n), "</div>".repeat(n)),
        format!("{}deep", "<ul><li><b><a href=x>".repeat(n / 4)),
        format!("{}deep", "<table><tr><td>".repeat(n / 3)),
    ] {
        let item = event(json!({"body": {"contentType": "html", "content": html}}));
        let rec = mapping::to_crm(&set, res, &item, &ctx());
        assert!(text(&rec, "Text").ends_with("deep"));
    }
}

/// 100 000 attendees map; the first [`MAX_PARTICIPANTS`] are resolved and the rest are named in a warning.
#[test]
fn a_hundred_thousand_attendees_map_with_a_warning() {
    let set = set(Some("isi"));
    let res = set.resource("event").unwrap();
    let mut attendees: Vec<Value> = (0..100_000)
        .map(|i| json!({"type": "required", "emailAddress": {"address": format!("guest{i}@example.org")}}))
        .collect();
    attendees.insert(
        5,
        json!({"type": "optional", "emailAddress": {"address": "Frank@Fabrikam.com", "name": "Frank"}}),
    );
    let item = event(json!({"attendees": attendees}));
    let rec = mapping::to_crm(&set, res, &item, &ctx());
    assert_eq!(text(&rec, "Participants"), "Frank Fischer");
    assert!(
        rec.warnings.iter().any(|w| w
            == &format!(
                "{} participants left out: at most {MAX_PARTICIPANTS} participants of one item are resolved",
                100_001 - MAX_PARTICIPANTS
            )),
        "{:?}",
        rec.warnings
    );
    let block = text(&rec, "MissingParticipants");
    assert!(block.starts_with("Unassigned participants:\nTo: guest0@example.org\n"));
    assert!(block.chars().count() <= 4000);
}

// ---- unbounded reads ----

/// Issue 10 (unbounded reads): devices and oversized files are refused before reading, with the
/// file named.
#[test]
fn devices_and_oversized_files_are_refused() {
    let err = load::read_text(Path::new("/dev/zero"), MAX_FILE_BYTES).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a regular file but a device; expected a file"
    );
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(MAX_FILE_BYTES + 1).unwrap();
    let err = load::read_document(&big).unwrap_err();
    assert_eq!(
        err[0].message,
        "file is larger than 32 MiB (33554432 bytes); expected a smaller file"
    );
    let secret = graph_connector::secrets::resolve_secret(
        &graph_connector::config::SecretRef("file:/dev/zero".into()),
        Path::new("/"),
    )
    .unwrap_err();
    assert!(
        secret.to_string().contains("not a regular file"),
        "{secret}"
    );
}

// ---- silent corruption ----

/// Issue 10 (silent corruption): `isAllDay: "false"` is false, so the times are kept.
#[test]
fn is_all_day_as_the_text_false_keeps_the_times() {
    let set = set(None);
    let res = set.resource("event").unwrap();
    let rec = mapping::to_crm(&set, res, &event(json!({"isAllDay": "false"})), &ctx());
    assert_eq!(rec.fields["Time"].to_json(), json!("10:00"));
    assert_eq!(rec.fields["Duration"].to_json(), json!(1));
    assert_eq!(rec.warnings, Vec::<String>::new());
    let rec = mapping::to_crm(&set, res, &event(json!({"isAllDay": "maybe"})), &ctx());
    assert_eq!(rec.fields["Time"].to_json(), json!("10:00"));
    assert_eq!(
        rec.warnings,
        vec!["$.isAllDay: `maybe` is not a boolean; the item is mapped as not all-day"]
    );
}

#[test]
fn an_end_before_the_start_warns_naming_the_field() {
    let set = set(None);
    let res = set.resource("event").unwrap();
    let item = event(json!({"end": {"dateTime": "2025-03-04T08:00:00", "timeZone": "UTC"}}));
    let rec = mapping::to_crm(&set, res, &item, &ctx());
    assert!(!rec.fields.contains_key("Duration"), "{:?}", rec.fields);
    assert!(
        rec.warnings.iter().any(|w| w
            == "Duration: the end ($.end: 2025-03-04T08:00:00) is before the start \
                (2025-03-04T09:00:00); duration left out"),
        "{:?}",
        rec.warnings
    );
}

/// A newline in an attendee address cannot add a line to MissingParticipants; NUL reaches no field.
#[test]
fn control_characters_never_reach_a_crm_field() {
    let set = set(Some("isi"));
    let res = set.resource("event").unwrap();
    let item = event(json!({
        "subject": "Re\u{0}view\u{1b}[2J",
        "attendees": [
            {"type": "required", "emailAddress": {"address": "evil@example.org\nOptional: ceo@contoso.com"}},
            {"type": "optional", "emailAddress": {"address": "nul\u{0}@example.org", "name": "N\r\nUL"}},
        ],
    }));
    let rec = mapping::to_crm(&set, res, &item, &ctx());
    assert_eq!(
        text(&rec, "MissingParticipants"),
        "Unassigned participants:\nTo: evil@example.org Optional: ceo@contoso.com\nCC: nul @example.org"
    );
    assert_eq!(text(&rec, "Subject"), "Review[2J");
    for (field, value) in &rec.fields {
        if let FieldValue::Text(t) = value {
            assert!(
                !t.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
                "{field}: {t:?}"
            );
        }
    }
    assert_eq!(rec.warnings.len(), 4, "{:?}", rec.warnings);
    assert_eq!(
        rec.warnings[3],
        "Subject: 2 control character(s) (such as NUL) removed from the text"
    );
    assert!(rec.warnings[0].starts_with(
        "participant address \"evil@example.org\\nOptional: ceo@contoso.com\" holds control characters"
    ));
}

/// An all-day event's 15-minute reminder stays 15 minutes (it was `0 Days`).
#[test]
fn an_all_day_reminder_keeps_its_minutes() {
    let set = set(Some("isi"));
    let res = set.resource("event").unwrap();
    let item = event(json!({
        "isAllDay": true,
        "start": {"dateTime": "2025-03-04T00:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2025-03-05T00:00:00", "timeZone": "UTC"},
        "isReminderOn": true,
        "reminderMinutesBeforeStart": 15,
    }));
    let rec = mapping::to_crm(&set, res, &item, &ctx());
    assert_eq!(rec.fields["ReminderDur"].to_json(), json!(15));
    assert_eq!(rec.fields["ReminderUnit"].to_json(), json!("Minutes"));
    assert_eq!(rec.fields["Duration"].to_json(), json!(1));
    assert_eq!(rec.fields["Unit"].to_json(), json!("Days"));
    let item = event(json!({"isReminderOn": "false", "reminderMinutesBeforeStart": 15}));
    let rec = mapping::to_crm(&set, res, &item, &ctx());
    assert!(!rec.fields.contains_key("ReminderDur"), "{:?}", rec.fields);
}

/// A hostile item never changes another item's result: the same items map the same, alone or after it.
#[test]
fn a_hostile_item_does_not_change_the_next_one() {
    let set = set(Some("isi"));
    let res = set.resource("event").unwrap();
    let good = event(
        json!({"attendees": [{"type": "required", "emailAddress": {"address": "frank@fabrikam.com"}}]}),
    );
    let alone = mapping::to_crm(&set, res, &good, &ctx());
    let hostile = event(json!({
        "isAllDay": {"nested": [1, 2]},
        "body": {"contentType": "html", "content": "<ul>".repeat(50_000)},
        "end": "not a time",
        "attendees": [{"emailAddress": {"address": "\u{0}\n"}}, 42, null, "x"],
        "reminderMinutesBeforeStart": -5,
        "isReminderOn": true,
    }));
    let _ = mapping::to_crm(&set, res, &hostile, &ctx());
    assert_eq!(mapping::to_crm(&set, res, &good, &ctx()), alone);
}

/// The parsed YAML of a value written by serde-saphyr round-trips (the guard does not refuse big but
/// honest files: a directory of 20 000 persons).
#[test]
fn big_honest_files_are_not_refused() {
    let persons: Vec<Value> = (0..20_000)
        .map(|i| json!({"email": format!("p{i}@example.org"), "id": format!("P{i}"), "name": format!("Person {i}")}))
        .collect();
    let text = serde_saphyr::to_string(&json!({"persons": persons})).unwrap();
    let doc = yaml::parse("directory.yaml", &text).unwrap();
    assert_eq!(doc.value["persons"].as_array().unwrap().len(), 20_000);
}

// ---- secrets echoed back ----

const GRAPH_CANARY: &str = "canary-Graph~secret+value/0123 x";
const CRM_CANARY: &str = "canary-Crm-p&ss<w>rd\"9";

/// Every way the canaries could show: as written and encoded (the distinctive prefix survives every
/// encoding, and a truncated echo).
fn leaks(text: &str) -> bool {
    text.contains("canary-Graph") || text.contains("canary-Crm")
}

/// An endpoint that answers every request with the request itself: `/token-json` as an Entra error
/// description, `/token-text` as a plain-text 400, `/token-bare` and `/crm-bare` without the
/// `client_secret=` / `pwd=` keys (so only the configured values can be recognised), `/crm` inside a
/// CRM.interface error.
fn echo_endpoint() -> (tokio::runtime::Runtime, String) {
    use axum::{Router, http::StatusCode, routing::post};
    fn xml(text: &str) -> String {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }
    let app = Router::new()
        .route(
            "/token-json",
            post(|body: String| async move {
                let answer = json!({
                    "error": "invalid_client",
                    "error_description": format!("AADSTS7000215: Invalid client secret provided. You sent: {body}"),
                    "error_codes": [7000215],
                });
                (StatusCode::UNAUTHORIZED, answer.to_string())
            }),
        )
        .route(
            "/token-text",
            post(|body: String| async move { (StatusCode::BAD_REQUEST, format!("bad request: {body}")) }),
        )
        .route(
            "/token-bare",
            post(|body: String| async move {
                let answer = json!({
                    "error": "invalid_client",
                    "error_description": body.replace("client_secret=", "cs "),
                });
                (StatusCode::UNAUTHORIZED, answer.to_string())
            }),
        )
        .route(
            "/crm",
            post(|body: String| async move {
                format!("<response><return type=\"error\" code=\"auth\">{}</return></response>", xml(&body))
            }),
        )
        .route(
            "/crm-bare",
            post(|body: String| async move {
                let body = body.replace("pwd=", "p w d ");
                format!("<response><return type=\"error\" code=\"auth\">{}</return></response>", xml(&body))
            }),
        );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    runtime.spawn(async move { axum::serve(listener, app).await });
    (runtime, base)
}

/// Issue 10 (secrets echoed back): doctor against endpoints that echo the request prints neither the
/// client secret nor the CRM password, in text or JSON, with logs at `-vv`.
#[test]
fn doctor_never_prints_an_echoed_secret() {
    let (_runtime, base) = echo_endpoint();
    let dir = tempfile::tempdir().unwrap();
    for (token, crm) in [
        ("token-json", "crm"),
        ("token-text", "crm-bare"),
        ("token-bare", "crm"),
    ] {
        let config = dir.path().join(format!("{token}.yaml"));
        std::fs::write(
            &config,
            format!(
                "graph:\n  tenant_id: 8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f\n  client_id: 3e9a7c51-2d4b-4f6e-8a1c-7b5d9e0f2a43\n  \
                 client_secret: env:HOSTILE_GRAPH_SECRET\n  managed_domains: [contoso.com]\n  graph_url: {base}/v1.0\n  \
                 token_url: {base}/{token}\ncrm:\n  url: {base}/{crm}\n  user: OCSU\n  password: env:HOSTILE_CRM_PASSWORD\n"
            ),
        )
        .unwrap();
        for format in ["text", "json"] {
            let out = Command::new(env!("CARGO_BIN_EXE_graph-connector"))
                .args(["-vv", "doctor", "--config"])
                .arg(&config)
                .args(["--format", format])
                .env_remove("GRAPH_CONNECTOR_LOG")
                .env("HOSTILE_GRAPH_SECRET", GRAPH_CANARY)
                .env("HOSTILE_CRM_PASSWORD", CRM_CANARY)
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
            assert!(
                !leaks(&stdout) && !leaks(&stderr),
                "{token}/{crm} {format}:\n{stdout}\n{stderr}"
            );
            // The echo did reach the messages, redacted.
            assert!(
                stdout.contains("[redacted]"),
                "{token}/{crm} {format}:\n{stdout}"
            );
        }
    }
}

/// A password in a service URL is refused by validate and never printed, by validate or doctor.
#[test]
fn urls_with_credentials_are_refused_without_showing_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("connector.yaml");
    std::fs::write(
        &config,
        "graph:\n  tenant_id: 8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f\n  client_id: 3e9a7c51-2d4b-4f6e-8a1c-7b5d9e0f2a43\n  \
         client_secret: env:X\n  managed_domains: [contoso.com]\n  token_url: ftp://login.example.com/token\n  \
         graph_url: \"javascript:alert(1)\"\ncrm:\n  url: https://ocsu:canary-Crm-url@crm.example.com/crm.interface\n  \
         user: OCSU\n  password: env:Y\n",
    )
    .unwrap();
    for args in [
        vec!["validate", "--config"],
        vec!["doctor", "--format", "json", "--config"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_graph-connector"))
            .args(&args)
            .arg(&config)
            .env("GRAPH_CONNECTOR_LOG", "off")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(!leaks(&stdout), "{stdout}");
        for says in [
            "`ftp://login.example.com/token` has the scheme `ftp`",
            "`javascript:alert(1)` has the scheme `javascript`",
            "`https://ocsu:[redacted]@crm.example.com/crm.interface` carries a user name or password",
        ] {
            assert!(stdout.contains(says), "{says}:\n{stdout}");
        }
    }
}

// ---- big catalogs and many errors in validate ----

/// Issue 10 (quadratic validate): a catalog of 20 000 values that are all unknown to `crm_values` is
/// checked with sets, and reports 20 values one by one plus one error counting the rest (each listing at
/// most 50 expected values), instead of 20 000 errors each listing 20 000 values.
#[test]
fn a_catalog_of_many_unknown_values_gives_bounded_errors() {
    let n = 20_000;
    let values: Vec<String> = (0..n).map(|i| format!("k{i}: V{i}x")).collect();
    let crm: Vec<String> = (0..n).map(|i| format!("V{i}")).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("message.yaml");
    std::fs::write(
        &path,
        format!(
            "resource: message\ntable: Contact\ncontent_type: application/x-mmRecord\ndirection: graph_to_crm\n\
             fields:\n  - crm: Priority\n    from: {{ path: $.importance }}\n    convert: [{{ catalog: importance }}]\n\
             catalogs:\n  importance:\n    values: {{ {} }}\n    default: V1\n    crm_values: [{}]\n",
            values.join(", "),
            crm.join(", ")
        ),
    )
    .unwrap();
    let failure = load::load_mapping_files(&[path], None).unwrap_err();
    assert_eq!(failure.diagnostics.len(), 21);
    let last = failure
        .diagnostics
        .iter()
        .find(|d| d.message.contains("more"))
        .unwrap();
    assert_eq!(
        last.message,
        "19980 more unknown CRM catalog values in this catalog (the first 20 are reported above)"
    );
    assert!(
        last.expected
            .as_deref()
            .unwrap()
            .ends_with("… (20000 values in all)")
    );
}

// ---- short fuzz runs: the entry points strangers and typos reach never panic ----

mod fuzz {
    use graph_connector::{
        check, jinja,
        mapping::html::html_to_text,
        redact::{Redactor, redact_patterns},
        spec::yaml,
    };
    use proptest::prelude::*;

    /// A fixed number of cases from a fixed seed: the same inputs on every run.
    fn fixed_seed(cases: u32) -> ProptestConfig {
        ProptestConfig {
            cases,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x686f_7374_696c_6521),
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    fn pieces(parts: &'static [&'static str]) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(parts), 0..40).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(fixed_seed(256))]

        #[test]
        fn yaml_never_panics(text in pieces(&[
            "a", ": ", "\n", "  ", "- ", "&a ", "*a", "[", "]", "{", "}", ", ", "'", "\"", "#", "!!str ",
            "? ", "|", ">", "---\n", "\t", "é", "\u{feff}", "&b [*a, *a, *a]", "\\", "0x1", ".inf",
        ])) {
            let _ = yaml::parse("fuzz.yaml", &text);
        }

        #[test]
        fn templates_never_panic(src in pieces(&[
            "{{ ", " }}", "{% ", " %}", "item", "ctx", "|format(", "|indent(", "|replace(", "|join(", "'%",
            "99999999999", "d'", ".9f", ")", "(", ", ", "\"", "'", "*", " ~ ", "for x in ", "endfor",
            "if ", "endif", "set y = ", "macro m()", "endmacro", "m()", "[1, 2]", "x", "|length", "é",
        ])) {
            let mut env = check::new_environment();
            if env.add_template_owned("t", src.clone()).is_ok() {
                let tpl = env.get_template("t").unwrap();
                let ctx: std::collections::BTreeMap<&str, minijinja::Value> =
                    [("item", minijinja::Value::from("abc"))].into();
                let _ = jinja::render(&tpl, minijinja::Value::from(ctx));
            }
            let _ = jinja::static_limits(&src);
        }

        #[test]
        fn html_never_panics(html in pieces(&[
            "<p>", "</p>", "<ul>", "<ol>", "<li>", "</li>", "</ol>", "<a href=x>", "<a href=\"y>z\">",
            "</a>", "<br>", "<pre>", "</pre>", "<script>", "</script", ">", "<", "<!--", "-->", "&amp",
            "&#x1F600;", "&#99999999;", "&", ";", "é", " ", "\n", "<td>", "<tr>", "<head>", "text",
        ])) {
            let text = html_to_text(&html);
            prop_assert!(text.len() <= 8 * html.len() + 8);
        }

        #[test]
        fn jsonpaths_and_crm_answers_never_panic(text in pieces(&[
            "$", ".", "[", "]", "*", "?", "@", "(", ")", "'", "==", "..", "a", "0", ":", ",", "-1",
            "<response>", "</response>", "<return type=\"error\" code=\"", "auth", "\">", "</return>",
            "<Contact", " id=\"1\"", " corr=\"", "/>", "<catalog", ">x<", "&amp;", "<!--", "é",
        ])) {
            use graph_connector::transport::crm::{BatchCommand, Command, RecordId, encode};
            let _ = jsonpath_rust::parser::parse_json_path(&text);
            let commands = [
                BatchCommand::new(Command::ReadCatalog("Country".into())),
                BatchCommand::new(Command::Delete { table: "Contact".into(), id: RecordId::new("1") }),
            ];
            let _ = encode::decode_response(&text, &commands);
        }

        #[test]
        fn redaction_never_panics_and_hides_the_secret(
            text in pieces(&["pwd=", "password", "\"", ":", " ", "=", "&", "https://", "u:", "@h", "é", "x"]),
            secret in "[A-Z0-9~+/ &<>\"]{4,12}",
        ) {
            let _ = redact_patterns(&text);
            let mut r = Redactor::new();
            r.add(&secret);
            let out = r.redact(&format!("{text}{secret}{text}"));
            prop_assert!(!out.contains(&secret), "{}", out);
        }
    }
}

/// Graph and CRM error texts quote the services' answers; secret-looking values in them never print,
/// whatever logs or prints the error.
#[test]
fn error_texts_never_show_secret_looking_values() {
    use graph_connector::transport::{
        crm::{CrmError, CrmErrorKind},
        graph::ApiError,
    };
    let api = ApiError {
        method: "GET".into(),
        url: "/users".into(),
        status: 400,
        code: "BadRequest".into(),
        message: "you sent Authorization: Bearer eyJ0eXAi.canary and client_secret=canary-Graph"
            .into(),
        request_id: None,
        client_request_id: "c".into(),
        retry_after: None,
        attempts: 1,
        hint: None,
    };
    let text = api.to_string();
    assert!(!text.contains("canary"), "{text}");
    assert!(text.contains("Bearer [redacted]") && text.contains("client_secret=[redacted]"));
    let crm = CrmError::new(
        CrmErrorKind::Auth,
        r#"<request user="OCSU" pwd="canary-Crm">"#,
    );
    assert_eq!(
        crm.to_string(),
        r#"crm auth: <request user="OCSU" pwd="[redacted]">"#
    );
}
