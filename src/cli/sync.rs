//! `sync`, `plan`, `resync`, `explain` and `retired`: load the setup, connect, run cycles through the
//! library's engine, print the report. Exit codes: 0 all synced, 1 some mailbox or item failed, 2 could not run.

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use anyhow::Context as _;
use jiff::Timestamp;

use graph_connector::{
    load,
    sync::{CycleOptions, CycleReport, Mode, Selector, setup::Connected},
};

/// Output of reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Report {
    Text,
    Json,
}

/// Which mailboxes and resources (shared by `sync`, `plan`).
#[derive(Debug, Clone, clap::Args)]
pub struct Scope {
    /// Connector configuration (default: connector.yaml).
    #[arg(long, default_value = "connector.yaml")]
    pub config: PathBuf,
    /// Only this mailbox (address or user object id); repeatable.
    #[arg(long = "mailbox", value_name = "ADDR")]
    pub mailboxes: Vec<String>,
    /// Only this resource (event, message, task, contact, absence); repeatable.
    #[arg(long = "resource", value_name = "R")]
    pub resources: Vec<String>,
    /// Never link existing CRM records or Graph items; always create.
    #[arg(long)]
    pub no_adopt: bool,
}

impl Scope {
    fn selector(&self) -> Selector {
        Selector {
            mailboxes: self.mailboxes.clone(),
            resources: self.resources.clone(),
        }
    }
}

/// Arguments of `sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub scope: Scope,
    /// Run one cycle and exit (without it: a cycle every `--every` until Ctrl-C).
    #[arg(long)]
    pub once: bool,
    /// Time between cycles without --once.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub every: std::time::Duration,
    /// Let deletes through the mass-delete guard for this run.
    #[arg(long)]
    pub allow_mass_delete: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Report::Text)]
    pub report: Report,
}

/// Arguments of `plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub scope: Scope,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Report::Text)]
    pub format: Report,
}

/// Arguments of `resync`.
#[derive(Debug, clap::Args)]
pub struct ResyncArgs {
    /// Connector configuration (default: connector.yaml).
    #[arg(long, default_value = "connector.yaml")]
    pub config: PathBuf,
    /// The mailbox to replay (address or user object id).
    #[arg(long, value_name = "ADDR")]
    pub mailbox: String,
    /// Only this resource.
    #[arg(long = "resource", value_name = "R")]
    pub resources: Vec<String>,
    /// Re-read CRM changes from this date (YYYY-MM-DD or RFC 3339) instead of the window.
    #[arg(long)]
    pub since: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Report::Text)]
    pub report: Report,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    text.parse::<graph_connector::config::Duration>()
        .map(|d| d.get())
        .map_err(|e| e.to_string())
}

/// Loads the config and mappings and connects; errors are printed as diagnostics.
pub async fn connect(config: &std::path::Path) -> anyhow::Result<Connected> {
    let setup = match load::load_setup(config) {
        Ok(setup) => setup,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            anyhow::bail!("the setup has errors (see above); `graph-connector validate` checks it");
        }
    };
    for w in &setup.warnings {
        eprintln!("{w}");
    }
    let base = config
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    Connected::open(&setup.config, Arc::new(setup.mappings.model), &base).await
}

pub fn print(report: &CycleReport, format: Report) -> anyhow::Result<()> {
    match format {
        Report::Text => print!("{report}"),
        Report::Json => println!("{}", serde_json::to_string_pretty(report)?),
    }
    Ok(())
}

pub fn run_sync(args: SyncArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let connected = match connect(&args.scope.config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
        };
        let selector = args.scope.selector();
        let mut code;
        loop {
            let options = CycleOptions {
                mode: Mode::Apply,
                adopt: !args.scope.no_adopt,
                allow_mass_delete: args.allow_mass_delete,
                now: Timestamp::now(),
            };
            let report = connected.cycle(&selector, options).await;
            print(&report, args.report)?;
            code = report.exit_code();
            if args.once || code == 2 {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(args.every) => {}
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        connected.close().await;
        Ok(ExitCode::from(code))
    })
}

pub fn run_plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let connected = match connect(&args.scope.config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
        };
        let options = CycleOptions {
            mode: Mode::DryRun,
            adopt: !args.scope.no_adopt,
            allow_mass_delete: false,
            now: Timestamp::now(),
        };
        let report = connected.cycle(&args.scope.selector(), options).await;
        connected.close().await;
        print_plan(&report, args.format)?;
        Ok(ExitCode::from(report.exit_code()))
    })
}

/// The planned actions: one line each, or a JSON list.
pub fn print_plan(report: &CycleReport, format: Report) -> anyhow::Result<()> {
    let actions: Vec<_> = report.planned().collect();
    match format {
        Report::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": report.ok,
                "actions": actions,
                "mailboxes": report.mailboxes,
                "fatal": report.fatal,
            }))?
        ),
        Report::Text => {
            for a in &actions {
                if a.action == "skip" && a.reason_code == "echo" {
                    continue;
                }
                println!(
                    "{:<18} {:<8} {:<12} {:<18} {}  ({})",
                    a.mailbox,
                    a.resource,
                    a.direction,
                    a.action,
                    a.subject.as_deref().unwrap_or("-"),
                    a.reason
                );
            }
            print!("{report}");
        }
    }
    Ok(())
}

pub fn run_resync(args: ResyncArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let connected = match connect(&args.config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
        };
        let since = match args.since.as_deref().map(parse_since).transpose() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: --since: {e}");
                return Ok(ExitCode::from(2));
            }
        };
        let forgotten = connected
            .engine
            .forget(&args.mailbox, &args.resources, since)
            .await
            .with_context(|| format!("cannot reset the cursors of {}", args.mailbox));
        match forgotten {
            Ok(n) => eprintln!("forgot {n} cursor(s) of {}; replaying", args.mailbox),
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
        }
        let selector = Selector {
            mailboxes: vec![args.mailbox.clone()],
            resources: args.resources.clone(),
        };
        let options = CycleOptions {
            mode: Mode::Apply,
            adopt: true,
            allow_mass_delete: false,
            now: Timestamp::now(),
        };
        let report = connected.cycle(&selector, options).await;
        connected.close().await;
        print(&report, args.report)?;
        Ok(ExitCode::from(report.exit_code()))
    })
}

fn parse_since(text: &str) -> Result<Timestamp, String> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    let date: jiff::civil::Date = text
        .parse()
        .map_err(|_| format!("expected YYYY-MM-DD or an RFC 3339 instant, found `{text}`"))?;
    date.to_datetime(jiff::civil::Time::midnight())
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|e| e.to_string())
}

/// Arguments of `explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// A Graph item id, or a CRM record as `TABLE:ID` (or a bare record id).
    pub id: String,
    /// Connector configuration (default: connector.yaml).
    #[arg(long, default_value = "connector.yaml")]
    pub config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Report::Text)]
    pub format: Report,
}

pub fn run_explain(args: ExplainArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let connected = match connect(&args.config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
        };
        let result = connected.engine.explain(&args.id, Timestamp::now()).await;
        connected.close().await;
        match result {
            Ok(explanation) => {
                match args.format {
                    Report::Text => print!("{explanation}"),
                    Report::Json => println!("{}", serde_json::to_string_pretty(&explanation)?),
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {e}\n  fix: {}", e.fix);
                Ok(ExitCode::from(2))
            }
        }
    })
}

/// Arguments of `retired`.
#[derive(Debug, clap::Args)]
pub struct RetiredArgs {
    /// Connector configuration (default: connector.yaml).
    #[arg(long, default_value = "connector.yaml")]
    pub config: PathBuf,
    /// Remove what the connector keeps for this retired mailbox (address or user object id): its
    /// External Key rows, links and cursors. CRM records stay. Repeatable.
    #[arg(long = "clean-up", value_name = "ADDR")]
    pub clean_up: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Report::Text)]
    pub format: Report,
}

pub fn run_retired(args: RetiredArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let connected = match connect(&args.config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e:#}");
                return Ok(ExitCode::from(2));
            }
        };
        let result = retired(&connected, &args).await;
        connected.close().await;
        match result {
            Ok(()) => Ok(ExitCode::SUCCESS),
            Err(e) => {
                eprintln!("error: {e:#}");
                Ok(ExitCode::from(2))
            }
        }
    })
}

async fn retired(connected: &Connected, args: &RetiredArgs) -> anyhow::Result<()> {
    if args.clean_up.is_empty() {
        let list = connected.engine.retired().await?;
        match args.format {
            Report::Json => println!("{}", serde_json::to_string_pretty(&list)?),
            Report::Text if list.is_empty() => println!("no retired mailboxes"),
            Report::Text => {
                for s in &list {
                    let since = s.retired_at.map(|t| t.to_string()).unwrap_or_default();
                    println!("{}  {}  retired since {since}", s.address, s.mailbox);
                }
            }
        }
        return Ok(());
    }
    let mut done = Vec::new();
    for mailbox in &args.clean_up {
        let c = connected
            .engine
            .clean_up_retired(mailbox)
            .await
            .with_context(|| format!("cannot clean up `{mailbox}`"))?;
        if args.format == Report::Text {
            println!(
                "{}: removed {} link(s), {} External Key row(s), {} cursor(s); its CRM records stay",
                c.address, c.links, c.ext_keys, c.cursors
            );
        }
        done.push(c);
    }
    if args.format == Report::Json {
        println!("{}", serde_json::to_string_pretty(&done)?);
    }
    Ok(())
}
