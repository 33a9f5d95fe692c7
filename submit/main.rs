//! sweep-submit: not written yet (see its issue).

use clap::Parser;
use std::process::ExitCode;

/// Placeholder until this stage lands.
#[derive(Parser)]
#[command(name = "sweep-submit", version)]
struct Args {}

fn main() -> ExitCode {
    sweep::cli::main("sweep-submit", run)
}

fn run(_args: Args) -> anyhow::Result<ExitCode> {
    sweep::cli::usage("not implemented yet")
}
