//! sweep-collect: merges record streams and earlier manifests into the sweep manifest
//! (`sweep_manifest.json`), optionally with every job's state from Slurm.
//!
//! Reads JSON Lines records and/or whole manifests (stdin, `-`, any number of paths); writes
//! the manifest (pretty JSON) or, with `--jsonl`, the merged records, to stdout or atomically
//! to `--output`.
//!
//! ```text
//! set -o pipefail
//! sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt | sweep-submit ... \
//!   | sweep-collect --output sweeps/tpt/sweep_manifest.json
//! ```

mod input;
mod manifest;
mod merge;
mod reconcile;
mod slurm;
mod status;
mod wait;

use anyhow::{Context, Result};
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use sweep::Record;

const AFTER_HELP: &str = "\
Examples:
  set -o pipefail
  sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt | sweep-submit ... \\
    | sweep-collect --output sweeps/tpt/sweep_manifest.json
  sweep-collect --status sweeps/tpt/sweep_manifest.json | jq .counts
  sweep-collect --wait --output m.json m.json && echo all good

  # re-submit what failed; the manifest keeps the old job IDs in history
  sweep-collect --status --jsonl m.json \\
    | jq -c 'select(.state == \"FAILED\" or .state == \"TIMEOUT\")' \\
    | sweep-submit ... | sweep-collect m.json - --output m.json

Exit status: 0 on success (with --wait: only when every job COMPLETED), 1 on failure
(with --wait: some job did not complete, or --timeout passed), 2 on a usage error.";

/// Merges record streams and manifests into the sweep manifest, with job states from Slurm.
#[derive(Parser)]
#[command(name = "sweep-collect", version, after_help = AFTER_HELP)]
struct Args {
    /// Record streams (JSON Lines) or manifests to merge, in any mix; `-` is stdin. Default:
    /// stdin.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Write to FILE instead of stdout, atomically (complete or absent). FILE may also be an
    /// input: every input is read before anything is written.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print the merged records as JSON Lines (sorted by index) instead of the manifest.
    #[arg(long)]
    jsonl: bool,
    /// Add each job's state from Slurm (batched squeue and sacct calls).
    #[arg(long)]
    status: bool,
    /// Poll Slurm until every job is in a final state (implies --status); progress and a
    /// summary on stderr. Exits 0 only if every job COMPLETED.
    #[arg(long)]
    wait: bool,
    /// Seconds before the second poll of --wait; doubles each poll up to --max-interval.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    poll_interval: f64,
    /// Longest pause between polls of --wait, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    max_interval: f64,
    /// Stop waiting after SECS seconds (exit 1; the output is still written).
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Find jobs Slurm holds with this sweep's tag that no record mentions (e.g. after
    /// sweep-submit was killed) and add them.
    #[arg(long)]
    reconcile: bool,
    /// How far back --reconcile searches accounting (sacct --starttime).
    #[arg(long, value_name = "TIME", default_value = "now-7days")]
    since: String,
    /// When Slurm cannot be reached, still write the output, without states (a warning on
    /// stderr), instead of failing without writing.
    #[arg(long)]
    allow_missing_status: bool,
    /// Job IDs per squeue or sacct call.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    batch_size: usize,
    /// The squeue program.
    #[arg(long, value_name = "PROGRAM", default_value = "squeue")]
    squeue: String,
    /// The sacct program.
    #[arg(long, value_name = "PROGRAM", default_value = "sacct")]
    sacct: String,
    /// Longest wait for one squeue or sacct call, in seconds (a hung one is killed and counts
    /// as Slurm unreachable)
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    slurm_timeout: f64,
}

fn main() -> ExitCode {
    sweep::cli::main("sweep-collect", run)
}

fn run(args: Args) -> Result<ExitCode> {
    check_args(&args)?;
    let read = input::read_all(&args.inputs)?;
    let mut records = merge::merge(read.records);
    if records.is_empty() && !args.jsonl {
        anyhow::bail!("no records to collect: the input is empty");
    }
    let slurm = slurm::Slurm {
        squeue: args.squeue.clone(),
        sacct: args.sacct.clone(),
        batch: args.batch_size,
        timeout: std::time::Duration::from_secs_f64(args.slurm_timeout),
    };
    if args.reconcile {
        records = tolerate(
            &args,
            reconcile::run(&slurm, records.clone(), &args.since),
            records,
        )?;
    }
    let mut code = ExitCode::SUCCESS;
    if args.wait {
        let opts = wait::Options {
            first: args.poll_interval,
            max: args.max_interval,
            timeout: args.timeout,
        };
        // With --output the file follows the wait: rewritten (atomically) at each change.
        let update = |r: &[Record]| match &args.output {
            Some(_) => write_output(&args, r, &read.manifest_timestamps),
            None => Ok(()),
        };
        let waited = wait::run(&slurm, &mut records, &opts, update);
        code = tolerate(&args, waited, ExitCode::FAILURE)?;
    } else if args.status {
        let refreshed = status::refresh(&slurm, &mut records, status::Scope::All)
            .map(|r| note_unknowable(r.unknowable));
        tolerate(&args, refreshed, ())?;
    }
    write_output(&args, &records, &read.manifest_timestamps)?;
    Ok(code)
}

fn check_args(args: &Args) -> Result<()> {
    if args.batch_size == 0 {
        return sweep::cli::usage("--batch-size must be at least 1");
    }
    // Each pause becomes a Duration: a value too large for one would panic in the wait.
    let positive = |v: f64| v > 0.0 && std::time::Duration::try_from_secs_f64(v).is_ok();
    if !positive(args.poll_interval) || !positive(args.max_interval) {
        return sweep::cli::usage("--poll-interval and --max-interval must be positive numbers");
    }
    if !positive(args.slurm_timeout) {
        return sweep::cli::usage("--slurm-timeout must be a positive number");
    }
    if args.timeout.is_some_and(|t| !t.is_finite() || t < 0.0) {
        return sweep::cli::usage("--timeout must be a non-negative number");
    }
    Ok(())
}

/// A Slurm failure fails the run, unless --allow-missing-status: then a warning, and `fallback`.
fn tolerate<T>(args: &Args, result: Result<T>, fallback: T) -> Result<T> {
    match result {
        Ok(v) => Ok(v),
        Err(e) if args.allow_missing_status && e.downcast_ref::<slurm::Unreachable>().is_some() => {
            warn(&format!("warning: {e:#}; writing the output without job states"));
            Ok(fallback)
        }
        Err(e) if e.downcast_ref::<slurm::Unreachable>().is_some() => Err(e.context(
            "failed to read job states from Slurm (nothing written; --allow-missing-status writes the output without states)",
        )),
        Err(e) => Err(e),
    }
}

pub(crate) fn note_unknowable(n: usize) {
    if n > 0 {
        warn(&format!(
            "note: {n} job(s) are no longer in squeue and Slurm accounting is disabled: their state is UNKNOWN"
        ));
    }
}

/// One line on stderr, prefixed with the program name.
pub(crate) fn warn(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "sweep-collect: {msg}");
}

/// The manifest or the JSON Lines, to stdout or atomically to --output.
fn write_output(args: &Args, records: &[Record], stamps: &[String]) -> Result<()> {
    let text = if args.jsonl {
        let mut buf = Vec::new();
        let mut w = sweep::jsonl::Writer::new(&mut buf);
        for r in records {
            w.write(r)?;
        }
        w.flush()?;
        drop(w);
        String::from_utf8(buf).context("records are not UTF-8")?
    } else {
        manifest::render(records, stamps)?
    };
    match &args.output {
        Some(path) => sweep::fsutil::write_atomic(path, text.as_bytes()),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            Ok(out.flush()?)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
