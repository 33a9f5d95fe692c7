//! sweep-submit: reads records (JSON Lines, files or stdin), saves one job script per record
//! in the sweep's directory and submits it with `sbatch --parsable`; writes each record, with
//! its `job_id` or the reason it failed, to stdout as soon as `sbatch` returns.
//!
//! ```bash
//! set -o pipefail
//! sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt \
//!   | sweep-submit --account acct --partition batch --model-dir /models/m --config-dir /cfg \
//!       --gpu-type gb200-fp8 --script-variant max-tpt > sweeps/tpt/submitted.jsonl
//! ```

#![forbid(unsafe_code)]

mod args;
mod interrupt;
mod jobscript;
mod judge;
mod prepare;
mod preview;
mod read;
mod sbatch;
mod submission;
mod sweepconfig;
mod sweeps;

use anyhow::Result;
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use sweep::cli::{seconds, usage};

const AFTER_HELP: &str = r#"Reads every record first (one bad line: nothing is submitted), gives each
its number in its sweep directory, and leaves out the combinations that already have a
pending, running or completed job there; saves each job script as <sweep dir>/job_<index>.sh,
then runs sbatch --parsable --hold once per record and releases the job once its ID is in
the sweep's journal. Each record reaches stdout with its job_id (or submit_error) as soon as
sbatch returns; every job is tagged (sbatch --comment) so that it can be found in Slurm even
if this process dies, and a job ID is taken for the sweep's only when Slurm says its job
carries the tag (IDs are reused on shared clusters). Ctrl-C stops before the next sbatch and
releases every job written down. Options not given are taken from the combination's last
submission. --plan shows what a run would do, per combination, and does nothing; every run
ends with a line such as "4 new, 2 re-run, 4 kept".

The daily loop:
  set -o pipefail
  S=(--account acct --partition batch --model-dir /models/m --config-dir /cfg
     --gpu-type gb200-fp8 --script-variant max-tpt --network-interface ib0)
  M=sweeps/tpt/sweep_manifest.json
  # Plan: what the run below would do, per combination (new, re-run and why, kept,
  # options that change); nothing is submitted, sweep-submit writes nothing.
  sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt | sweep-submit --plan "${S[@]}"
  # Run the sweep. Run the same line again after a failure, a kill, or an edit that
  # adds values to sweep.yaml (extend): only combinations without a pending, running
  # or completed job are submitted. It ends with a line like "4 new, 2 re-run, 4 kept".
  sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt | sweep-submit "${S[@]}" \
    | sweep-collect "$M" - --output "$M"
  # Status: a table on a terminal, with why each failed job failed; M is updated.
  sweep-collect --status "$M"
  # Failures and why: only the failed and timed-out ones (--state takes Slurm's
  # names and squeue's short forms: F,TO,OOM,CA,PD,R,...).
  sweep-collect --status --state FAILED,TIMEOUT "$M"
  # Running ones only.
  sweep-collect --status --state R "$M"
  # Re-submit the failures. Each keeps the options of its last submission; give only
  # what should change (--time-limit 08:00:00); sweep-submit --plan shows it first.
  sweep-collect --status --jsonl --state FAILED,TIMEOUT "$M" \
    | sweep-submit | sweep-collect "$M" - --output "$M"
  # One job (current, follow-up or earlier): record, config, script, logs, cause.
  sweep-collect --job 1139 "$M"
  # Cancel every job of the sweep, follow-ups and history too, and only those.
  sweep-collect --cancel "$M"

Exit status: 0 every record submitted or already submitted (or --dry-run), 1 any record
not submitted or bad input, 2 usage error, 128+N stopped by signal N (130: Ctrl-C).

Guides: docs/sweep-submit.md and docs/jobscript.md (the job script) in the sweep repository."#;

/// Submits one Slurm job per record and writes the records back with their job IDs.
#[derive(Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Args {
    /// Record files (JSON Lines); none or `-` reads stdin
    #[arg(value_name = "RECORDS")]
    inputs: Vec<PathBuf>,
    /// Sweep file: runs sweep-expand and sweep-render (found next to this program) into the
    /// sweep directory and submits their records, like the seed's sweep_jobs.py
    #[arg(long, value_name = "PATH", conflicts_with = "inputs")]
    sweep_config: Option<PathBuf>,
    /// With --sweep-config: refuse more than N combinations (passed to sweep-expand; 0: no
    /// limit) [default: 10000]
    #[arg(long, value_name = "N", requires = "sweep_config")]
    max_jobs: Option<u64>,
    /// With --sweep-config: replace an existing config whose content differs (passed to
    /// sweep-render)
    #[arg(long, requires = "sweep_config")]
    force: bool,
    #[command(flatten)]
    script: args::ScriptArgs,
    /// Sweep directory for records that have no sweep_dir (default: a new
    /// ./sweep_YYYYMMDD_HHMMSS)
    #[arg(long, value_name = "PATH")]
    output_dir: Option<PathBuf>,
    /// Write the job scripts (into a new directory under $TMPDIR, never into a sweep
    /// directory) and the exact sbatch command lines (sbatch_command) into the records,
    /// submit nothing; needs no Slurm
    #[arg(long, conflicts_with = "plan")]
    dry_run: bool,
    /// Show what this run would do, per combination (new, re-run and why, kept and with which
    /// job, options that change), asking Slurm as a real run does; submit nothing and write
    /// nothing into the sweep directory
    #[arg(long)]
    plan: bool,
    /// Queue up to N follow-up jobs per record, each run only if the previous runs failed
    /// (afternotok); Slurm cancels them once a run succeeds [default: 0]
    #[arg(long, value_name = "N")]
    retries: Option<u32>,
    /// Submit a combination again even when it already has a COMPLETED job (by default a
    /// combination with a pending, running or completed job is passed through with it)
    #[arg(long)]
    resubmit_completed: bool,
    /// Stop at the first record that cannot be submitted; the rest are written with
    /// submit_status "not_submitted"
    #[arg(long)]
    fail_fast: bool,
    /// The sbatch program (default: sbatch on PATH)
    #[arg(long, value_name = "PATH")]
    sbatch: Option<PathBuf>,
    /// Extra raw sbatch option, placed before the script path; repeatable
    /// (--sbatch-arg=--qos=high); replaces the ones a re-submitted sweep had. Options that
    /// would break the job's tag or one job per combination are refused (--comment, --array,
    /// --hold, --parsable, --wrap, --wait, --test-only, --job-name, ...)
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    sbatch_arg: Vec<String>,
    /// sbatch calls per job when Slurm is unreachable or busy (first call included; the
    /// default rides out a controller stalled for about a minute)
    #[arg(long, value_name = "N", default_value_t = 6)]
    submit_attempts: u32,
    /// Wait before the 2nd call after a transient failure; doubles each time
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    retry_backoff: f64,
    /// Kill an sbatch (or squeue) call that has not answered after SECS
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    sbatch_timeout: f64,
    /// At most R sbatch calls per second (a float; default: no limit)
    #[arg(long, value_name = "R")]
    max_submit_rate: Option<f64>,
    /// Keep at most N of your jobs queued in the jobs' account and submit the rest as jobs
    /// leave the queue; `auto`: as many as Slurm's limits on your association and QOS allow
    /// (MaxSubmitJobs, MaxJobs, MaxSubmitJobsPerUser, MaxJobsPerUser). With it, a job Slurm
    /// refuses for such a limit waits for room instead of failing
    #[arg(long, value_name = "N|auto")]
    max_queued: Option<sbatch::queue::MaxQueued>,
    /// How far back Slurm's accounting is searched (sacct --starttime) for a sweep's jobs when
    /// its journal is missing or damaged: they are adopted, never submitted again
    #[arg(long, value_name = "TIME", default_value = "now-30days")]
    since: String,
}

fn main() -> ExitCode {
    sweep::cli::main(env!("CARGO_BIN_NAME"), run)
}

fn run(args: Args) -> Result<ExitCode> {
    submission::run(args.options()?)
}

impl Args {
    /// The options below clap, with the usage errors clap cannot see.
    fn options(self) -> Result<submission::Options> {
        if self.submit_attempts == 0 {
            return usage("--submit-attempts must be at least 1");
        }
        let Some(backoff) = seconds(self.retry_backoff, false) else {
            return usage("--retry-backoff must be a number of seconds, 0 or more");
        };
        let Some(timeout) = seconds(self.sbatch_timeout, true) else {
            return usage("--sbatch-timeout must be a positive number of seconds");
        };
        let rate_ok = |r: f64| r.is_finite() && seconds(1.0 / r, true).is_some();
        if self.max_submit_rate.is_some_and(|r| !rate_ok(r)) {
            return usage("--max-submit-rate must be a positive number per second");
        }
        Ok(submission::Options {
            inputs: self.inputs,
            sweep_config: self.sweep_config,
            passed: sweepconfig::Passed {
                max_jobs: self.max_jobs,
                force: self.force,
            },
            given: self.script.layer(self.retries, self.sbatch_arg),
            output_dir: self.output_dir,
            dry_run: self.dry_run,
            plan: self.plan,
            resubmit_completed: self.resubmit_completed,
            fail_fast: self.fail_fast,
            sbatch: self.sbatch,
            attempts: self.submit_attempts,
            backoff,
            timeout,
            max_rate: self.max_submit_rate,
            max_queued: self.max_queued,
            since: self.since,
        })
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
