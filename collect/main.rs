//! sweep-collect: merges record streams and earlier manifests into the sweep manifest
//! (`sweep_manifest.json`), optionally with every job's state from Slurm.
//!
//! Reads JSON Lines records and/or whole manifests (stdin, `-`, any number of paths); writes
//! the manifest (pretty JSON) or, with `--jsonl`, the merged records, to stdout or atomically
//! to `--output` (or back into the one manifest read, when it asks Slurm); on a terminal,
//! stdout gets a table instead.
//!
//! ```text
//! set -o pipefail
//! sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt | sweep-submit ... \
//!   | sweep-collect --output sweeps/tpt/sweep_manifest.json
//! ```

mod cancel;
mod collection;
mod failure;
mod input;
mod job;
mod manifest;
mod merge;
mod onejob;
mod reconcile;
mod results;
mod status;
mod table;
mod validate;
mod wait;

use anyhow::Result;
use clap::Parser;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use sweep::cli::usage;
use sweep::slurm::Slurm;

const AFTER_HELP: &str = r#"Examples:
  set -o pipefail
  sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt | sweep-submit ... \
    | sweep-collect --output sweeps/tpt/sweep_manifest.json
  sweep-collect --status m.json           # a table on a terminal; m.json is updated
  sweep-collect --status m.json | jq .counts
  sweep-collect --wait m.json && echo all good
  sweep-collect --job 1139 m.json         # one job: files, logs, why it failed
  sweep-collect --cancel m.json           # every job of the sweep, and only those

  # benchmark results, the Pareto frontier, a table and a plot
  sweep-collect --status --results --table points.csv --plot frontier.svg \
    m.json --output m.json
  sweep-collect --results --frontier --slo 'ttft_p99_ms<=2000,itl_p99_ms<=50' m.json

  # re-submit what failed; the manifest keeps the old job IDs in history
  sweep-collect --status --jsonl m.json \
    | jq -c 'select(.state == "FAILED" or .state == "TIMEOUT")' \
    | sweep-submit ... | sweep-collect m.json - --output m.json

Exit status: 0 on success (with --wait: only when every job COMPLETED; with --cancel: when
every job cancelled has ended), 1 on failure (with --wait: some job did not complete, or
--timeout passed; with --job: no input names the job), 2 on a usage error.

Guides: docs/sweep-collect.md and docs/results.md in the sweep repository."#;

/// Merges record streams and manifests into the sweep manifest, with job states from Slurm.
#[derive(Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Args {
    /// Record streams (JSON Lines) or manifests to merge, in any mix; `-` is stdin. Default:
    /// stdin.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Write to FILE instead of stdout, atomically (complete or absent). FILE may also be an
    /// input: every input is read before anything is written.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// What stdout gets: a table (one line per combination, with the cause of each failure),
    /// the manifest (json) or the records (jsonl); auto: table on a terminal, else json.
    /// --output and a manifest updated in place always get JSON.
    #[arg(long, value_enum, default_value_t = Format::Auto, value_name = "FORMAT")]
    format: Format,
    /// Print the merged records as JSON Lines (sorted by index) instead of the manifest: the
    /// same as --format jsonl.
    #[arg(long, conflicts_with = "format")]
    jsonl: bool,
    /// Add each job's state from Slurm (batched squeue and sacct calls), and the cause of
    /// each failure from the job's logs. With one manifest as the only input and no --output,
    /// the manifest is updated in place (as with --wait, --reconcile, --results, --cancel).
    #[arg(long)]
    status: bool,
    /// Cancel every job the inputs name (current, --retries follow-ups, history), and only
    /// those, in batched scancel calls; then show their states. Exits 0 when every one has
    /// ended.
    #[arg(long)]
    cancel: bool,
    /// Show one job: its record, config, job script, log directory and failure cause
    /// (ID: a current, follow-up or earlier job of the inputs). Exits 1 when no input names
    /// it.
    #[arg(long, value_name = "ID")]
    job: Option<String>,
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
    /// Records without a sweep_dir belong to DIR (the sweep directory sweep-submit named for
    /// records straight from sweep-expand)
    #[arg(long, value_name = "DIR")]
    sweep_dir: Option<PathBuf>,
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
    /// The scancel program (--cancel).
    #[arg(long, value_name = "PROGRAM", default_value = "scancel")]
    scancel: String,
    /// Longest wait for one squeue or sacct call, in seconds (a hung one is killed and counts
    /// as Slurm unreachable)
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    slurm_timeout: f64,
    #[command(flatten)]
    results: results::ResultsArgs,
}

fn main() -> ExitCode {
    sweep::cli::main(env!("CARGO_BIN_NAME"), run)
}

/// `--format`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Auto,
    Table,
    Json,
    Jsonl,
}

fn run(args: Args) -> Result<ExitCode> {
    args.validate()?;
    let results = args.results.check()?.map(|opts| (args.results, opts));
    let format = match (args.format, args.jsonl) {
        (_, true) | (Format::Jsonl, _) => collection::Format::Jsonl,
        (Format::Json, _) => collection::Format::Json,
        (Format::Table, _) => collection::Format::Table,
        (Format::Auto, _) if std::io::stdout().is_terminal() => collection::Format::Table,
        (Format::Auto, _) => collection::Format::Json,
    };
    collection::run(collection::Options {
        inputs: args.inputs,
        output: args.output,
        format,
        status: args.status,
        cancel: args.cancel,
        job: args.job,
        wait: args.wait.then_some(wait::Options {
            first: args.poll_interval,
            max: args.max_interval,
            timeout: args.timeout,
        }),
        reconcile_since: args.reconcile.then_some(args.since),
        sweep_dir: args
            .sweep_dir
            .as_deref()
            .map(sweep::fsutil::absolute)
            .transpose()?
            .map(|d| sweep::fsutil::utf8(&d))
            .transpose()?,
        allow_missing_status: args.allow_missing_status,
        slurm: Slurm {
            squeue: args.squeue,
            sacct: args.sacct,
            scontrol: "scontrol".to_string(),
            scancel: args.scancel,
            batch: args.batch_size,
            timeout: Duration::from_secs_f64(args.slurm_timeout),
            timeout_option: "--slurm-timeout",
        },
        results,
    })
}

impl Args {
    /// Usage errors that clap cannot see.
    fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return usage("--batch-size must be at least 1");
        }
        // Each pause becomes a Duration: a value too large for one would panic in the wait.
        let positive = |v: f64| v > 0.0 && Duration::try_from_secs_f64(v).is_ok();
        if !positive(self.poll_interval) || !positive(self.max_interval) {
            return usage("--poll-interval and --max-interval must be positive numbers");
        }
        if !positive(self.slurm_timeout) {
            return usage("--slurm-timeout must be a positive number");
        }
        if self.timeout.is_some_and(|t| !t.is_finite() || t < 0.0) {
            return usage("--timeout must be a non-negative number");
        }
        if let Some(id) = &self.job {
            if !validate::is_job_id(id) {
                return usage(format!(
                    "--job {id:?}: not a Slurm job ID (a positive integer)"
                ));
            }
        }
        validate::since(&self.since)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn args_are_consistent() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
