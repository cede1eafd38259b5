//! Corpus conformance: every documented Graph payload in `../shared/graph-examples` parses with the client's types.

use std::{collections::BTreeMap, fs, path::Path};

use graph_connector::transport::graph::{ItemKind, delta::parse_page, types::*};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

fn corpus_dir() -> Option<&'static Path> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/graph-examples"
    ));
    dir.is_dir().then_some(dir)
}

/// `file -> notes` from MANIFEST.tsv.
fn manifest(dir: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(dir.join("MANIFEST.tsv")).expect("MANIFEST.tsv is readable");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (
                cols[0].to_owned(),
                cols.get(4).copied().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Keys of `original` (recursively through objects) missing from `reparsed`: the types must be lossless.
fn missing_keys(original: &Value, reparsed: &Value, at: &str, out: &mut Vec<String>) {
    match (original, reparsed) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                match b.get(k) {
                    Some(w) => missing_keys(v, w, &format!("{at}/{k}"), out),
                    None => out.push(format!("{at}/{k}")),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (v, w)) in a.iter().zip(b).enumerate() {
                missing_keys(v, w, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Values the lenient types accept but that are docs bugs worth reporting (booleans written as strings).
fn string_booleans(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| string_booleans(v, &format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| string_booleans(v, &format!("{at}/{i}"), out)),
        Value::String(s) if s == "true" || s == "false" => out.push(format!("{at} = \"{s}\"")),
        _ => {}
    }
}

fn check<T: DeserializeOwned + Serialize>(json: &Value) -> Result<(), String> {
    let parsed: T = serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&parsed).map_err(|e| e.to_string())?;
    let mut missing = Vec::new();
    missing_keys(json, &back, "", &mut missing);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("keys lost by the types: {}", missing.join(", ")))
    }
}

/// Delta pages also go through the client's own page parser (removals, links, items by kind).
fn check_delta(kind: ItemKind, json: &Value) -> Result<(), String> {
    check::<Collection<Value>>(json)?;
    let page: Collection<Value> =
        serde_json::from_value(json.clone()).map_err(|e| e.to_string())?;
    let n = page.value.len();
    let (changes, _next) = parse_page(kind, page)?;
    if changes.len() != n {
        return Err(format!("{n} delta items became {} changes", changes.len()));
    }
    Ok(())
}

/// Which client type reads a corpus file, by its name.
fn check_file(name: &str, json: &Value) -> Result<(), String> {
    let stem = name.trim_end_matches(".json");
    let stem = stem.trim_end_matches("-request");
    match stem {
        "batch" if name.ends_with("-request.json") => check::<BatchRequestBody>(json),
        "batch-response" => {
            check::<BatchResponseBody>(json)?;
            // Error bodies inside batch items go through the same error type as top-level errors.
            for item in json["responses"].as_array().into_iter().flatten() {
                if item["status"].as_u64().unwrap_or(200) >= 400 {
                    check::<ErrorBody>(&item["body"])?;
                }
            }
            Ok(())
        }
        s if s.starts_with("error-") => check::<ErrorBody>(json),
        "calendarview-list" | "event-instances-list" => check::<Collection<Event>>(json),
        s if s.starts_with("event-delta-") => {
            check::<Collection<Event>>(json)?;
            check_delta(ItemKind::Event, json)
        }
        s if s.starts_with("event-") => check::<Event>(json),
        "contact-delta" => {
            check::<Collection<Contact>>(json)?;
            check_delta(ItemKind::Contact, json)
        }
        s if s.starts_with("contact-") => check::<Contact>(json),
        "mailboxsettings-get" => check::<MailboxSettings>(json),
        "mailboxsettings-get-2" => check::<AutomaticRepliesSetting>(json),
        "mailboxsettings-get-3" => check::<WorkingHours>(json),
        "mailboxsettings-get-4" => check::<UserPurpose>(json),
        s if s.starts_with("message-delta-") => {
            check::<Collection<Message>>(json)?;
            check_delta(ItemKind::Message, json)
        }
        s if s.starts_with("message-") => check::<Message>(json),
        s if s.starts_with("subscription-") => check::<Subscription>(json),
        "todolists-list" => check::<Collection<TodoTaskList>>(json),
        "todotask-delta" => {
            check::<Collection<TodoTask>>(json)?;
            check_delta(ItemKind::Task, json)
        }
        "todotasks-list" => check::<Collection<TodoTask>>(json),
        s if s.starts_with("todotask-") => check::<TodoTask>(json),
        s if s.starts_with("users-list") => check::<Collection<User>>(json),
        _ => Err("no client type is mapped to this file: add it to check_file".to_owned()),
    }
}

#[test]
fn every_corpus_payload_parses_with_the_client_types() {
    let Some(dir) = corpus_dir() else {
        println!("skipped: ../shared/graph-examples not found");
        return;
    };
    let manifest = manifest(dir);
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 40,
        "expected the documented corpus, found {} files",
        names.len()
    );

    let (mut failures, mut warnings, mut ok) = (Vec::new(), Vec::new(), 0);
    for name in &names {
        let text = fs::read_to_string(dir.join(name)).unwrap();
        let json: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{name}: not JSON: {e}"));
                continue;
            }
        };
        let notes = manifest.get(name.as_str());
        if notes.is_none() {
            warnings.push(format!(
                "{name}: not listed in MANIFEST.tsv (checked anyway)"
            ));
        }
        let placeholder = notes.is_some_and(|n| n.contains("PLACEHOLDER"));
        let mut quirks = Vec::new();
        string_booleans(&json, "", &mut quirks);
        for q in quirks {
            warnings.push(format!(
                "{name}: tolerated docs bug, boolean written as a string at {q}"
            ));
        }
        match check_file(name, &json) {
            Ok(()) => ok += 1,
            // PLACEHOLDER files are for key names only: a typed value such as "datetime-value" may fail.
            Err(e) if placeholder => {
                warnings.push(format!("{name}: PLACEHOLDER values do not parse: {e}"))
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    for file in manifest.keys() {
        if !names.contains(file) {
            failures.push(format!("{file}: listed in MANIFEST.tsv but missing"));
        }
    }
    for w in &warnings {
        println!("warning: {w}");
    }
    println!(
        "{ok} of {} corpus files parse with the client types",
        names.len()
    );
    assert!(
        failures.is_empty(),
        "corpus files the client cannot read:\n{}",
        failures.join("\n")
    );
}
