//! The planner against data: every `tests/data/plan/<case>/case.yaml` (policy tweaks, Graph changes, CRM
//! changes, links, candidates) is planned and compared with `plan.snap` next to it; the same case with its
//! inputs reversed must give the same plan (deterministic order).

use std::{fs, path::Path};

use graph_connector::plan::{
    Candidates, Changes, CrmChange, GraphChange, Link, Plan, Policy, plan,
};
use serde::Deserialize;
use serde_json::{Map, Value};

/// One case file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case shows (becomes the snapshot's description).
    description: String,
    mailbox: String,
    resource: String,
    /// Keys replacing those of `Policy::default_for(resource)`.
    #[serde(default)]
    policy: Map<String, Value>,
    #[serde(default)]
    graph: Vec<GraphChange>,
    #[serde(default)]
    crm: Vec<CrmChange>,
    #[serde(default)]
    links: Vec<Link>,
    #[serde(default)]
    candidates: Candidates,
}

fn policy(case: &Case, dir: &Path) -> Policy {
    let mut value = serde_json::to_value(Policy::default_for(&case.resource))
        .unwrap_or_else(|e| panic!("{}: default policy: {e}", dir.display()));
    if let Value::Object(map) = &mut value {
        for (k, v) in &case.policy {
            map.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(value).unwrap_or_else(|e| panic!("{}: policy: {e}", dir.display()))
}

fn run(case: &Case, policy: &Policy, reversed: bool) -> Plan {
    let mut changes = Changes {
        mailbox: case.mailbox.clone(),
        resource: case.resource.clone(),
        graph: case.graph.clone(),
        crm: case.crm.clone(),
    };
    let mut links = case.links.clone();
    if reversed {
        // Reversing keeps the relative order of duplicates' "last wins" only when there are none; cases
        // with duplicate ids are marked by `dup` in their name and skip this check.
        changes.graph.reverse();
        changes.crm.reverse();
        links.reverse();
    }
    plan(policy, &changes, &links, &case.candidates)
}

#[test]
fn plan_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/plan");
    let mut dirs: Vec<_> = fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 20,
        "expected at least 20 plan cases, found {}",
        dirs.len()
    );
    for dir in dirs {
        let file = dir.join("case.yaml");
        let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let case: Case =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let policy = policy(&case, &dir);
        let planned = run(&case, &policy, false);
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !name.contains("dup") {
            pretty_assertions::assert_eq!(
                planned,
                run(&case, &policy, true),
                "{}: the plan depends on input order",
                file.display()
            );
        }
        insta::with_settings!({
            snapshot_path => &dir,
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => case.description.trim(),
        }, {
            insta::assert_snapshot!("plan", planned.to_string());
        });
    }
}
