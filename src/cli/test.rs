//! `graph-connector test`: runs the `*.test.yaml` cases beside the mapping specs, with a diff on failure.
//!
//! Each case maps its input (a Graph item, or with `reverse: true` a CRM record) through the mappings of
//! its template and compares only what the case lists: fields, absent fields, Graph body properties,
//! warnings and the selection / filter verdict. `cargo test` runs the shipped cases through [`run_dir`].

use std::{path::PathBuf, process::ExitCode};

use graph_connector::{load, mapping_tests::run_dir};

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Mapping directory (default: `mappings`).
    #[arg(default_value = "mappings")]
    pub dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let files = load::test_files(&args.dir)
        .map_err(|e| anyhow::anyhow!("cannot list test files in {}: {e}", args.dir.display()))?;
    if files.is_empty() {
        anyhow::bail!(
            "no mapping tests in {} (expected files named RESOURCE.test.yaml)",
            args.dir.display()
        );
    }
    let report = run_dir(&args.dir);
    for d in &report.errors {
        eprintln!("{d}");
    }
    for c in &report.cases {
        let tpl = c
            .template
            .as_deref()
            .map(|t| format!(" [template {t}]"))
            .unwrap_or_default();
        match &c.failure {
            None => println!("ok      {}: {}{tpl}", c.file, c.name),
            Some(diff) => print!("FAILED  {}: {}{tpl}\n{diff}", c.file, c.name),
        }
    }
    let failed = report.cases.iter().filter(|c| c.failure.is_some()).count();
    println!(
        "\n{} cases: {} passed, {failed} failed{}",
        report.cases.len(),
        report.cases.len() - failed,
        if report.errors.is_empty() {
            String::new()
        } else {
            format!(", {} file problem(s)", report.errors.len())
        }
    );
    Ok(if report.failures() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
