//! `graph-connector sandbox`: the whole product on an embedded default — both emulators in-process with a
//! world built around today, SQLite state in `--dir`, the repository's mappings — and one or more full
//! cycles with their reports. The emulators live in memory, so every run starts a fresh world (and a fresh
//! state: the old state file in `--dir` is replaced).

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::Context as _;
use jiff::Timestamp;

use super::sync::{Report, print};
use graph_connector::{
    config::StateLocation,
    load,
    sandbox::{Sandbox, World},
    sync::{CycleOptions, Mode, Selector, setup::Connected},
};

/// Arguments of `sandbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run one cycle and exit.
    #[arg(long, conflicts_with = "cycles")]
    pub once: bool,
    /// Run this many cycles and exit (default: until Ctrl-C, one every --every).
    #[arg(long)]
    pub cycles: Option<u32>,
    /// Time between cycles.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub every: std::time::Duration,
    /// Report format (json: one JSON document per cycle, one per line).
    #[arg(long, value_enum, default_value_t = Report::Text)]
    pub report: Report,
    /// Where the SQLite state goes.
    #[arg(long, default_value = ".graph-connector-sandbox")]
    pub dir: PathBuf,
    /// Mapping directory.
    #[arg(long, default_value = "mappings")]
    pub mappings: PathBuf,
    /// Template overlay (the sandbox CRM has the ISI template's fields); `base` for none.
    #[arg(long, default_value = "isi")]
    pub template: String,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    text.parse::<graph_connector::config::Duration>()
        .map(|d| d.get())
        .map_err(|e| e.to_string())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match sandbox(&args).await {
            Ok(code) => Ok(code),
            Err(e) => {
                eprintln!("error: {e:#}");
                Ok(ExitCode::from(2))
            }
        }
    })
}

async fn sandbox(args: &Args) -> anyhow::Result<ExitCode> {
    let template = Some(args.template.as_str()).filter(|t| *t != "base");
    let mappings = match load::load_mappings(&args.mappings, template) {
        Ok(loaded) => loaded.model,
        Err(failure) => {
            for d in &failure.diagnostics {
                eprintln!("{d}");
            }
            anyhow::bail!(
                "cannot load the mappings in {} (run the sandbox from the repository, or pass --mappings DIR)",
                args.mappings.display()
            );
        }
    };
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let db = args.dir.join("state.db");
    for stale in ["state.db", "state.db-wal", "state.db-shm"] {
        let path = args.dir.join(stale);
        if path.exists() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot replace {}", path.display()))?;
        }
    }
    let today = Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let world = World::around(today);
    let sandbox = Sandbox::start_world(&world).await?;
    let mut config = sandbox.config(&sandbox.credentials())?;
    config.state.location = StateLocation::Sqlite(db.clone());
    config.mappings.template = template.map(str::to_owned);
    // The world holds a fortnight of mail around today: file it (an installation's default is to start
    // at the first sync, docs/sync-rules.md "E-mail scope").
    config.schedules.messages.since = Some(graph_connector::config::Since::Before(
        graph_connector::config::Duration::from_secs(30 * 86_400),
    ));
    eprintln!(
        "sandbox: Graph emulator at {}, CRM emulator at {}, state in {}",
        sandbox.graph.graph_url(),
        sandbox.crm.url(),
        db.display()
    );
    let connected = Connected::open(&config, Arc::new(mappings), &args.dir).await?;
    let cycles = if args.once { Some(1) } else { args.cycles };
    let mut code = 0;
    let mut n = 0;
    loop {
        n += 1;
        let options = CycleOptions {
            mode: Mode::Apply,
            adopt: true,
            allow_mass_delete: false,
            now: Timestamp::now(),
        };
        let report = connected.cycle(&Selector::default(), options).await;
        if args.report == Report::Text {
            println!("== cycle {n}");
            print(&report, args.report)?;
        } else {
            println!("{}", serde_json::to_string(&report)?);
        }
        code = code.max(report.exit_code());
        if cycles.is_some_and(|c| n >= c) || report.exit_code() == 2 {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(args.every) => {}
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    connected.close().await;
    sandbox.shutdown().await;
    Ok(ExitCode::from(code))
}
