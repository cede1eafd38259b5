//! Command-line surface: one thin module per subcommand; the work happens in the library.
//!
//! Exit codes: 0 success, 1 the command ran and found problems (validation errors, failed mapping tests),
//! 2 the command could not run (bad arguments, unreadable files, unreachable services).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod doctor;
#[cfg(feature = "sandbox")]
pub mod emulate;
pub mod map;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod schema;
pub mod sync;
pub mod test;
pub mod validate;

/// Keeps Microsoft 365 mailboxes (Exchange Online via Microsoft Graph) and Aurea CRM in sync.
#[derive(Debug, Parser)]
#[command(name = "graph-connector", version, about)]
pub struct Cli {
    /// More log output (-v debug, -vv trace); logs go to stderr.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a connector config, a mapping directory or mapping files; reports every problem as FILE:LINE:COL.
    Validate(validate::Args),
    /// Write (or with --check, compare) the JSON Schemas generated from the spec types.
    Schema(schema::Args),
    /// Preview one mapped item: Graph item JSON in, CRM record out (or the reverse).
    Map(map::Args),
    /// Run the mapping test cases (`*.test.yaml`) next to the mapping specs.
    Test(test::Args),
    /// Run an emulator of Microsoft Graph or Aurea CRM.interface on loopback.
    #[cfg(feature = "sandbox")]
    #[command(subcommand)]
    Emulate(emulate::Which),
    /// Check a setup end to end (config, secrets, Graph token, CRM login, mailboxes); each problem with its fix.
    Doctor(doctor::Args),
    /// Sync mailboxes and the CRM: one cycle with --once, else a cycle every --every until Ctrl-C.
    Sync(sync::SyncArgs),
    /// Dry run: the actions a cycle would take; writes nothing anywhere (not even cursors).
    Plan(sync::PlanArgs),
    /// The decision trace of one Graph item or CRM record: link, rules, verdicts, plan, request.
    Explain(sync::ExplainArgs),
    /// Forget one mailbox's cursors and replay it (links stay, so nothing is duplicated).
    Resync(sync::ResyncArgs),
    /// Mailboxes whose user left the tenant; with --clean-up, remove the connector's links to one.
    Retired(sync::RetiredArgs),
    /// The whole product on emulated services: a world around today, cycles and their reports.
    #[cfg(feature = "sandbox")]
    Sandbox(sandbox::Args),
}

/// Dispatches a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Map(args) => map::run(args),
        Command::Test(args) => test::run(args),
        #[cfg(feature = "sandbox")]
        Command::Emulate(which) => emulate::run(which),
        Command::Doctor(args) => doctor::run(args),
        Command::Sync(args) => sync::run_sync(args),
        Command::Plan(args) => sync::run_plan(args),
        Command::Resync(args) => sync::run_resync(args),
        Command::Retired(args) => sync::run_retired(args),
        Command::Explain(args) => sync::run_explain(args),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => sandbox::run(args),
    }
}

/// Logs go to stderr so that stdout stays machine-readable (JSON lines, `map` output).
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GRAPH_CONNECTOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
