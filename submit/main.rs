//! sweep-submit: not written yet (see its issue).

#[allow(dead_code)] // used once submission lands
mod jobscript;

use clap::Parser;
use std::process::ExitCode;

/// Placeholder until this stage lands.
#[derive(Parser)]
#[command(name = "sweep-submit", version)]
struct Args {
    #[command(flatten)]
    script: jobscript::ScriptArgs,
}

fn main() -> ExitCode {
    sweep::cli::main("sweep-submit", run)
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let _ = jobscript::Builder::new(&args.script)?;
    sweep::cli::usage("not implemented yet")
}
