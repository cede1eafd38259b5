//! The Graph emulator as the product ships it: `graph-connector emulate graph` prints one JSON line and
//! refuses bad settings naming the variable. The emulator alone is tested in
//! `crates/emulator/tests/graph_emulator/`.

use serde_json::Value;

#[test]
fn cli_prints_one_json_line_with_urls_and_credentials() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_graph-connector"))
        .args(["emulate", "graph"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert!(
        v["graph_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(v["graph_url"].as_str().unwrap().ends_with("/v1.0"));
    assert!(
        v["token_url"]
            .as_str()
            .unwrap()
            .ends_with("/8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f/oauth2/v2.0/token")
    );
    assert_eq!(v["tenant_id"], "8f4c1d2e-5b6a-4c3d-9e8f-0a1b2c3d4e5f");
    assert_eq!(v["client_id"], "3e9a7c51-2d4b-4f6e-8a1c-7b5d9e0f2a43");
    assert_eq!(
        v["client_secret"],
        "sandbox-secret-value~0123456789abcdefghij"
    );
}

#[test]
fn cli_refuses_a_bad_fault_rate_naming_the_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_graph-connector"))
        .args(["emulate", "graph"])
        .env("GRAPH_EMULATOR_FAULT_RATE", "2")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("GRAPH_EMULATOR_FAULT_RATE: expected a number from 0 to 1, found 2"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
