//! The product as an administrator runs it: both emulators started with `graph-connector emulate …` as
//! separate processes, a `connector.yaml` pointing at them, and `sync --once`, `plan` and `explain` run as
//! processes — including `sync` killed with SIGKILL at arbitrary moments and run again.

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

use graph_connector::{
    connect::{self, Patience},
    load,
    transport::crm::{Actor, Query},
};
use serde_json::Value;

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_graph-connector"));
    c.env("GRAPH_CONNECTOR_LOG", "off");
    c
}

/// Starts `emulate WHICH` and returns it with the JSON line it printed.
fn emulator(which: &str) -> (Proc, Value) {
    let mut child = bin()
        .args(["emulate", which])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the emulator starts");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let info: Value = serde_json::from_str(&line).expect("the emulator prints its connection");
    (Proc(child), info)
}

/// Both emulators and a config file for them in `dir`.
fn setup(dir: &Path) -> (Proc, Proc) {
    let (graph, g) = emulator("graph");
    let (crm, c) = emulator("crm");
    std::fs::write(
        dir.join("client-secret"),
        g["client_secret"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("crm-password"), c["password"].as_str().unwrap()).unwrap();
    let mappings = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings");
    let config = format!(
        "graph:
  tenant_id: {tenant}
  client_id: {client}
  client_secret: file:client-secret
  managed_domains: [contoso.com]
  graph_url: {graph_url}
  token_url: {token_url}
crm:
  transport: interface
  url: {crm_url}
  user: {user}
  password: file:crm-password
  client: {crm_client}
  time_zone: W. Europe Standard Time
state:
  location: sqlite:{state}
mappings:
  dir: {mappings}
  template: isi
",
        tenant = g["tenant_id"].as_str().unwrap(),
        client = g["client_id"].as_str().unwrap(),
        graph_url = g["graph_url"].as_str().unwrap(),
        token_url = g["token_url"].as_str().unwrap(),
        crm_url = c["url"].as_str().unwrap(),
        user = c["user"].as_str().unwrap(),
        crm_client = c["client"].as_str().unwrap(),
        state = dir.join("state.db").display(),
        mappings = mappings.display(),
    );
    std::fs::write(dir.join("connector.yaml"), config).unwrap();
    (graph, crm)
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = bin()
        .args(args)
        .arg("--config")
        .arg(dir.join("connector.yaml"))
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn writes(report: &Value) -> u64 {
    report["totals"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|r| ["graph_to_crm", "crm_to_graph"].map(|d| &r[d]))
        .map(|c| {
            ["created", "updated", "deleted"]
                .iter()
                .map(|k| c[*k].as_u64().unwrap())
                .sum::<u64>()
        })
        .sum()
}

async fn crm(dir: &Path) -> connect::CrmConnection {
    let (config, _) = load::load_config(&dir.join("connector.yaml")).unwrap();
    let password =
        graph_connector::secrets::resolve_secret(config.crm.password.as_ref().unwrap(), dir)
            .unwrap();
    connect::crm(&config, Some(password), Patience::Interactive)
        .await
        .unwrap()
}

/// The id of one appointment record.
async fn first_appointment(dir: &Path) -> String {
    let crm = crm(dir).await;
    let records = crm
        .transport
        .query(&Actor::Master, &Query::table("Contact").fields(["Subject"]))
        .await
        .unwrap();
    records.first().expect("an appointment").id.to_string()
}

/// (Subject, Date, Time, master?) → how many undeleted appointment records, read through CRM.interface
/// (a series master starts when its first occurrence does).
async fn appointments(dir: &Path) -> BTreeMap<(String, String, String), usize> {
    let crm = crm(dir).await;
    let records = crm
        .transport
        .query(
            &Actor::Master,
            &Query::table("Contact").fields(["Subject", "Date", "Time", "IsMasterContact"]),
        )
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for r in records {
        let key = ["Subject", "Date", "Time", "IsMasterContact"]
            .map(|f| r.text(f).unwrap_or("").to_owned());
        let time = format!(
            "{} {}",
            key[2],
            if key[3] == "true" { "(master)" } else { "" }
        );
        *out.entry((key[0].clone(), key[1].clone(), time))
            .or_insert(0) += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_plan_and_explain_as_processes_against_separate_emulators() {
    let dir = tempfile::tempdir().unwrap();
    let _emulators = setup(dir.path());
    let (code, stdout, stderr) = run(dir.path(), &["sync", "--once", "--report", "json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let first: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(first["ok"], true);
    assert!(writes(&first) > 0, "{stdout}");

    // The dry run afterwards plans no write and changes nothing.
    let (code, stdout, stderr) = run(dir.path(), &["plan", "--format", "json"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let plan: Value = serde_json::from_str(&stdout).unwrap();
    let actions = plan["actions"].as_array().unwrap();
    assert!(
        actions.iter().all(|a| a["action"] == "skip"),
        "the plan after a sync writes: {stdout}"
    );
    let (_, stdout, _) = run(dir.path(), &["sync", "--once", "--report", "json"]);
    let second: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(writes(&second), 0, "{stdout}");

    // explain answers for a linked record: its link, the rules' values and the decision.
    let id = first_appointment(dir.path()).await;
    let (code, stdout, stderr) = run(
        dir.path(),
        &["explain", &format!("Contact:{id}"), "--format", "json"],
    );
    assert_eq!(
        code, 0,
        "{stdout}
{stderr}"
    );
    let explained: Value = serde_json::from_str(&stdout).unwrap();
    assert!(explained["link"].is_object(), "{stdout}");
    assert!(explained["graph_item"].is_object(), "{stdout}");
    assert!(
        !explained["rules"].as_object().unwrap().is_empty(),
        "{stdout}"
    );
    assert!(
        !explained["decisions"].as_array().unwrap().is_empty(),
        "{stdout}"
    );
    let (code, text, _) = run(dir.path(), &["explain", "no-such-id"]);
    assert_eq!(code, 0);
    assert!(text.contains("no link"), "{text}");
    let appointments = appointments(dir.path()).await;
    assert!(appointments.values().all(|n| *n == 1), "{appointments:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_killed_at_arbitrary_moments_then_rerun_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let _emulators = setup(dir.path());
    // Delays from a fixed sequence: where they land varies with the machine, what must hold does not.
    for delay_ms in [15u64, 40, 80, 140, 220, 330] {
        let mut child = Proc(
            bin()
                .args(["sync", "--once", "--config"])
                .arg(dir.path().join("connector.yaml"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        let _ = child.0.kill(); // SIGKILL
        let _ = child.0.wait();
    }
    let mut last = Value::Null;
    for _ in 0..4 {
        let (code, stdout, stderr) = run(dir.path(), &["sync", "--once", "--report", "json"]);
        assert!(code == 0 || code == 1, "{stdout}\n{stderr}");
        last = serde_json::from_str(&stdout).unwrap();
        if last["ok"] == true && writes(&last) == 0 {
            break;
        }
    }
    assert_eq!(last["ok"], true, "{last}");
    assert_eq!(writes(&last), 0, "{last}");
    let appointments = appointments(dir.path()).await;
    assert!(
        appointments.values().all(|n| *n == 1),
        "duplicates: {appointments:#?}"
    );
}
