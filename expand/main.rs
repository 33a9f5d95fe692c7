//! sweep-expand: reads a sweep YAML file (path or `-` for stdin), validates all of it, and
//! writes one JSON record per combination of its values to stdout, in the seed's order.
//!
//! ```text
//! set -o pipefail
//! sweep-expand sweep.yaml | jq -c 'select(.parameters.slurm.prefill_nodes == 6)' | sweep-render --out-dir sweeps/tpt
//! ```

// Safe Rust everywhere but libyaml's events (the one module allowed `unsafe`).
#![deny(unsafe_code)]

mod divisible;
mod expansion;
mod id;
#[allow(unsafe_code)]
mod libyaml;
mod linked;
mod model;
mod odometer;
mod sweepfile;
mod yaml_reader;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = r#"Reads the sweep YAML (sections slurm, sglang, and optionally
prefill, decode, linked), checks all of it, then writes one compact JSON object per
line: index, id, mode, total_nodes, parameters {slurm, sglang}, role_parameters,
sweep_file. Order: slurm keys outermost, then sglang, prefill, decode; the last key
varies fastest.

Example:
  set -o pipefail
  sweep-expand --count sweep.yaml
  sweep-expand sweep.yaml | jq -c 'select(.parameters.sglang["mem-fraction-static"] >= 0.82)' \
    | sweep-render --out-dir sweeps/tpt

The sweep file in full: docs/sweep-expand.md in the sweep repository."#;

/// Expand a sweep file into one JSON record per combination.
#[derive(Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Args {
    /// The sweep file; `-` reads it from stdin
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Print only the number of combinations (the file is checked; no limit applies)
    #[arg(long)]
    count: bool,
    /// Refuse sweeps of more combinations than N (0: no limit)
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    max_jobs: u64,
}

fn main() -> ExitCode {
    sweep::cli::main(env!("CARGO_BIN_NAME"), run)
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    expansion::run(expansion::Options {
        file: args.file,
        count: args.count,
        max_jobs: Some(args.max_jobs).filter(|&n| n != 0),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn args_are_consistent() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
