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

#![forbid(unsafe_code)]

mod args;
mod cancel;
mod collection;
mod compact;
mod failure;
mod input;
mod manifest;
mod merge;
mod onejob;
mod overview;
mod reconcile;
mod results;
mod select;
mod status;
mod update;
mod validate;
mod wait;

use anyhow::Result;
use clap::Parser;
use collection::Action;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use sweep::cli::usage;

const AFTER_HELP: &str = r#"Examples:
  set -o pipefail
  sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt | sweep-submit ... \
    | sweep-collect --output sweeps/tpt/sweep_manifest.json
  sweep-collect --status m.json           # a table on a terminal; m.json is updated
  sweep-collect --status sweeps/tpt       # a sweep directory: its sweep_manifest.json
  sweep-collect --status --state F,TO m.json   # only the failed and timed-out ones
  sweep-collect --status m.json | jq .counts
  sweep-collect --wait m.json && echo all good
  sweep-collect --job 1139 m.json         # one job: files, logs, why it failed
  sweep-collect --cancel m.json           # every job of the sweep, and only those

  # benchmark results: the best configuration under the SLO per workload, a table, a plot,
  # and one HTML report to mail
  sweep-collect --status --results --slo 'ttft_p99_ms<=2000,itl_p99_ms<=50' --best \
    --table points.csv --plot frontier.svg --report report.html m.json --output m.json
  sweep-collect --results --frontier --slo 'ttft_p99_ms<=2000,itl_p99_ms<=50' m.json
  # last week's sweep against this one (the first is the baseline), at 50 and 100 tok/s/user
  sweep-collect --results --slo 'itl_p99_ms<=50' --best --at 50,100 \
    --label last-week --label this-week old/sweep_manifest.json m.json

  # the adaptive search: rounds of follow-up jobs until each SLO boundary is known to 10%
  while sweep-collect --wait --slo 'itl_p99_ms<=50' --next-round next.jsonl m.json \
      && [ -s next.jsonl ]; do
    sweep-submit < next.jsonl | sweep-collect m.json - --output m.json || break
  done

  # re-submit what failed; the manifest keeps the old job IDs in history
  sweep-collect --status --jsonl --state FAILED,TIMEOUT m.json \
    | sweep-submit | sweep-collect m.json - --output m.json

With no input and stdin a terminal, ./sweep_manifest.json is read (and updated). Tables fit
the terminal's width, else COLUMNS, else 80 columns.

Exit status: 0 on success (with --wait: only when every job COMPLETED; with --cancel: when
every job cancelled has ended), 1 on failure (with --wait: some job did not complete, or
--timeout passed; with --job: no input names the job), 2 on a usage error.

Guides: docs/sweep-collect.md and docs/results.md in the sweep repository."#;

/// Merges record streams and manifests into the sweep manifest, with job states from Slurm.
#[derive(Parser)]
#[command(version, after_help = AFTER_HELP)]
struct Args {
    /// Record streams (JSON Lines), manifests or sweep directories (their
    /// sweep_manifest.json) to merge, in any mix; `-` is stdin. Default: stdin, or
    /// ./sweep_manifest.json when stdin is a terminal.
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
    /// Show or pass on only the combinations in these states (comma-separated, repeatable):
    /// Slurm's names or squeue's short forms (FAILED,TO, PD, R, CD, OOM, ...), or
    /// SUBMIT_FAILED, NOT_SUBMITTED, DRY_RUN. A manifest updated in place keeps every record
    #[arg(long, value_name = "STATES")]
    state: Vec<String>,
    /// Show or pass on only the combinations of these sweeps (comma-separated, repeatable):
    /// a sweep directory's name (as the table's SWEEP column shows it), path, or sweep key
    #[arg(long, value_name = "NAME")]
    sweep: Vec<String>,
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
    #[command(flatten)]
    wait_args: args::WaitArgs,
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
    /// Take the job IDs of records without a tag (the seed's manifest, a job_id set by hand)
    /// as theirs for --status, --wait and --cancel. Without it such jobs are not asked
    /// about: Slurm cannot say whose job an ID names, and IDs are reused. A job whose
    /// comment is not its record's tag is never taken.
    #[arg(long)]
    trust_job_ids: bool,
    #[command(flatten)]
    slurm_args: args::SlurmArgs,
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
    collection::run(args.options()?)
}

impl Args {
    /// The options below clap, with the usage errors clap cannot see.
    fn options(self) -> Result<collection::Options> {
        let slurm = self.slurm_args.slurm()?;
        let wait_opts = self.wait_args.options()?;
        if let Some(id) = self.job.as_ref().filter(|id| !validate::is_job_id(id)) {
            return usage(format!(
                "--job {id:?}: not a Slurm job ID (a positive integer)"
            ));
        }
        validate::since(&self.since)?;
        let results = self.results.check()?;
        let select = select::Select {
            states: select::parse_states(&self.state).or_else(usage)?,
            sweeps: select::parse_sweeps(&self.sweep),
        };
        if !select.is_empty() && self.cancel {
            return usage(
                "--cancel cancels every job its input names: choose the records first (sweep-collect --status --jsonl --state PD M | sweep-collect --cancel)",
            );
        }
        let inputs = input::resolve(&self.inputs, std::io::stdin().is_terminal())?;
        if let Some(out) = self.output.as_ref().filter(|_| !select.is_empty()) {
            let same =
                |p: &PathBuf| sweep::fsutil::absolute(p).ok() == sweep::fsutil::absolute(out).ok();
            if inputs.iter().any(same) {
                return usage(format!(
                    "--state and --sweep with --output {}, one of the inputs, would drop the records they leave out from it; write elsewhere",
                    out.display()
                ));
            }
        }
        let format = match (self.format, self.jsonl) {
            (_, true) | (Format::Jsonl, _) => collection::Format::Jsonl,
            (Format::Json, _) => collection::Format::Json,
            (Format::Table, _) => collection::Format::Table,
            (Format::Auto, _) if std::io::stdout().is_terminal() => collection::Format::Table,
            (Format::Auto, _) => collection::Format::Json,
        };
        // --cancel waits for the jobs it cancelled --timeout long, when asked to --wait.
        let action = match (self.cancel, self.wait, self.status) {
            (true, wait, _) => Action::Cancel {
                timeout: wait_opts.timeout.filter(|_| wait),
            },
            (false, true, _) => Action::Wait(wait_opts),
            (false, false, true) => Action::Status,
            (false, false, false) => Action::Merge,
        };
        let sweep_dir = self.sweep_dir.as_deref().map(sweep::fsutil::absolute);
        let sweep_dir = sweep_dir.transpose()?.map(|d| sweep::fsutil::utf8(&d));
        Ok(collection::Options {
            inputs,
            select,
            output: self.output,
            format,
            action,
            job: self.job,
            reconcile_since: self.reconcile.then_some(self.since),
            sweep_dir: sweep_dir.transpose()?,
            allow_missing_status: self.allow_missing_status,
            trust_job_ids: self.trust_job_ids,
            slurm,
            results,
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
