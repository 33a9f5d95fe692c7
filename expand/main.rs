//! sweep-expand: not written yet (see its issue).

use clap::Parser;
use std::process::ExitCode;

/// Placeholder until this stage lands.
#[derive(Parser)]
#[command(name = "sweep-expand", version)]
struct Args {}

fn main() -> ExitCode {
    sweep::cli::main("sweep-expand", run)
}

fn run(_args: Args) -> anyhow::Result<ExitCode> {
    sweep::cli::usage("not implemented yet")
}
