//! Tidy checks for the conventions the compiler cannot enforce: every file's `//!` line, the crate
//! boundaries (the core's and the emulator's manifests), and a core that neither does I/O through `std` nor
//! panics on item data.

use std::{
    fs,
    path::{Path, PathBuf},
};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The dependency names listed in a manifest's `[dependencies]` table.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = fs::read_to_string(manifest).expect("manifest readable");
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && !line.is_empty() && !line.starts_with('#') {
            let name = line.split('=').next().unwrap_or_default().trim();
            names.push(name.to_owned());
        }
    }
    names
}

/// The text of a source file up to its `#[cfg(test)]` module: the code that ships.
fn shipped_code(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let mut files = Vec::new();
    for dir in [
        "src",
        "tests",
        "benches",
        "crates/core/src",
        "crates/core/tests",
        "crates/emulator/src",
        "crates/emulator/tests",
    ] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 80, "found only {} files", files.len());
    let missing: Vec<_> = files
        .iter()
        .filter(|p| !fs::read_to_string(p).unwrap_or_default().starts_with("//!"))
        .collect();
    assert!(
        missing.is_empty(),
        "files without a leading `//!` doc line: {missing:?}"
    );
}

#[test]
fn core_crate_manifest_names_no_io_dependency() {
    let deps = dependencies(&root().join("crates/core/Cargo.toml"));
    assert!(deps.contains(&"serde".to_owned()), "parsed {deps:?}");
    let banned = [
        "tokio",
        "reqwest",
        "sqlx",
        "axum",
        "hyper",
        "tower",
        "mio",
        "rusqlite",
        "futures",
        "graph-connector",
        "graph-connector-emulator",
    ];
    let found: Vec<_> = deps
        .iter()
        .filter(|d| banned.contains(&d.as_str()))
        .collect();
    assert!(found.is_empty(), "the core crate must stay pure: {found:?}");
}

#[test]
fn emulator_crate_depends_on_no_product_crate() {
    let deps = dependencies(&root().join("crates/emulator/Cargo.toml"));
    assert!(deps.contains(&"axum".to_owned()), "parsed {deps:?}");
    let found: Vec<_> = deps
        .iter()
        .filter(|d| d.starts_with("graph-connector"))
        .collect();
    assert!(
        found.is_empty(),
        "the emulators are independent references of the services: {found:?}"
    );
}

#[test]
fn pure_core_does_no_io_through_std_and_reads_no_clock() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/core/src"), &mut files);
    assert!(files.len() > 20, "found only {} files", files.len());
    let banned = [
        "std::fs",
        "fs::",
        "std::net",
        "std::env",
        "std::process",
        "std::io::stdin",
        "File::",
        "SystemTime",
        "Instant::now",
        "Timestamp::now",
        "Zoned::now",
        "localzone::get_local_zone",
    ];
    let mut hits = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("source readable");
        for (n, line) in shipped_code(&text).lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for word in banned {
                if code.contains(word) {
                    hits.push(format!("{}:{}: `{word}`", file.display(), n + 1));
                }
            }
            // `use std::{fs, …}` names the module without the `std::fs` spelling.
            let words = code.split(|c: char| !(c.is_alphanumeric() || c == '_'));
            if code.starts_with("use std::") && words.clone().any(|w| w == "fs" || w == "net") {
                hits.push(format!("{}:{}: `use std::{{fs…}}`", file.display(), n + 1));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "the pure core must not do I/O or read the clock:\n{}",
        hits.join("\n")
    );
}

#[test]
fn mapping_and_planning_never_unwrap_item_data() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/core/src/mapping"), &mut files);
    rust_files(&root().join("crates/core/src/plan"), &mut files);
    assert!(files.len() > 10, "found only {} files", files.len());
    let mut hits = Vec::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("source readable");
        for (n, line) in shipped_code(&text).lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for word in [".unwrap()", ".expect(", "panic!(", "unreachable!("] {
                if code.contains(word) {
                    hits.push(format!("{}:{}: `{word}`", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "the mapping evaluation and the planner must turn bad item data into warnings or reasons, never panic:\n{}",
        hits.join("\n")
    );
}
