//! Binary entry point: parses arguments, hands them to `cli`, turns errors into exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = graph_connector::cli::Cli::parse();
    graph_connector::cli::init_logging(args.verbose);
    match graph_connector::cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
