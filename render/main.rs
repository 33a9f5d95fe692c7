//! sweep-render: reads records (JSON Lines), writes one SGLang config file per record that has
//! SGLang values (`sglang_config_{index}.yaml`, the file `dynamo.sglang --config` reads), and
//! writes each record on with `sweep_dir` and `config_path` added.
//!
//! ```text
//! sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt | sweep-submit ...
//! ```

#![forbid(unsafe_code)]

mod config;
mod rendering;
mod yaml_writer;

use anyhow::Result;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = r#"For each record with SGLang values, writes
sglang_config_{index}.yaml into the output directory: prefill: and decode: sections for
disaggregated records (common values plus that role's own), a flat mapping for
aggregated ones; this is the file that `python -m dynamo.sglang --config FILE
[--config-key prefill|decode]` reads. The record is then written to stdout with
sweep_dir and config_path (absolute) added. Records without SGLang values get no file
and pass through unchanged. Re-rendering a record into the same directory is a no-op
when the file is identical; a different existing file is an error unless --force.

Example:
  set -o pipefail
  sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt | sweep-submit ...

Guide: docs/sweep-render.md in the sweep repository."#;

/// Write one SGLang config file per record and pass the records on with its path
#[derive(Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Args {
    /// Record files (JSON Lines) to read in order; `-` or none means stdin
    #[arg(value_name = "RECORDS")]
    inputs: Vec<PathBuf>,

    /// Directory for the config files, created if missing [default: a new
    /// sweep_YYYYMMDD_HHMMSS in the current directory, made when the first file is written]
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,

    /// Replace an existing config file whose content differs (by default that is an error)
    #[arg(long)]
    force: bool,
}

fn main() -> ExitCode {
    sweep::cli::main(env!("CARGO_BIN_NAME"), run)
}

fn run(args: Args) -> Result<ExitCode> {
    rendering::run(rendering::Options {
        inputs: args.inputs,
        out_dir: args.out_dir,
        force: args.force,
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
