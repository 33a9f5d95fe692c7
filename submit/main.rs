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

mod jobscript;
mod prepare;
mod progress;
mod retry;
mod sbatch;
mod sweepconfig;

use anyhow::{Context, Result};
use clap::Parser;
use prepare::{Plan, Sourced};
use retry::{Done, Submitter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use sweep::record::SubmitStatus;
use sweep::Record;

/// Submits one Slurm job per record and writes the records back with their job IDs.
// mut_arg: the seed README's metavars (`--network-interface IFACE`) for the job-script
// options, short enough that --help keeps every description beside its option.
#[derive(Parser)]
#[command(
    name = "sweep-submit",
    version,
    mut_arg("job_name", |a| a.value_name("NAME")),
    mut_arg("time_limit", |a| a.value_name("TIME")),
    mut_arg("model_dir", |a| a.value_name("PATH")),
    mut_arg("config_dir", |a| a.value_name("PATH")),
    mut_arg("container_image", |a| a.value_name("IMAGE")),
    mut_arg("gpu_type", |a| a.value_name("TYPE")),
    mut_arg("script_variant", |a| a.value_name("VARIANT")),
    mut_arg("gpus_per_node", |a| a.value_name("N")),
    mut_arg("network_interface", |a| a.value_name("IFACE")),
    mut_arg("log_dir", |a| a.value_name("PATH")),
    mut_arg("scripts_dir", |a| a.value_name("PATH")),
    mut_arg("num_additional_frontends", |a| a.value_name("N")),
    mut_arg("profiler", |a| a.value_name("CONFIG")),
    mut_arg("template", |a| a.value_name("PATH")),
    after_help = "Reads every record first (one bad line: nothing is submitted), saves each job \
        script as <sweep dir>/job_<index>.sh, then runs sbatch --parsable once per record. Each \
        record reaches stdout with its job_id (or submit_error) as soon as sbatch returns; every \
        job is tagged (sbatch --comment) so that it can be found in Slurm even if this process \
        dies.\n\n\
        Example:\n  set -o pipefail\n  \
        slurm=(--account acct --partition batch --model-dir /models/m --config-dir /cfg)\n  \
        sweep-expand sweep.yaml | sweep-render --out-dir sweeps/tpt \\\n    \
        | sweep-submit \"${slurm[@]}\" --gpu-type gb200-fp8 --script-variant max-tpt \\\n    \
        | sweep-collect --output sweeps/tpt/sweep_manifest.json\n\n\
        Re-submit the failed ones of a manifest:\n  \
        jq -c '.jobs[] | select(.submit_status == \"failed\")' sweep_manifest.json | sweep-submit ...\n\n\
        Exit status: 0 every record submitted (or --dry-run), 1 any record not submitted or \
        bad input, 2 usage error."
)]
struct Args {
    /// Record files (JSON Lines); none or `-` reads stdin
    #[arg(value_name = "RECORDS")]
    inputs: Vec<PathBuf>,
    /// Sweep file: runs sweep-expand and sweep-render (found next to this program) into the
    /// sweep directory and submits their records, like the seed's sweep_jobs.py
    #[arg(long, value_name = "PATH", conflicts_with = "inputs")]
    sweep_config: Option<PathBuf>,
    #[command(flatten)]
    script: jobscript::ScriptArgs,
    /// Sweep directory for records that have no sweep_dir (default: a new
    /// ./sweep_YYYYMMDD_HHMMSS)
    #[arg(long, value_name = "PATH")]
    output_dir: Option<PathBuf>,
    /// Write the job scripts and the exact sbatch command lines (sbatch_command) into the
    /// records, submit nothing; needs no Slurm
    #[arg(long)]
    dry_run: bool,
    /// Queue up to N follow-up jobs per record, each run only if the previous runs failed
    /// (afternotok); Slurm cancels them once a run succeeds
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: u32,
    /// Stop at the first record that cannot be submitted; the rest are written with
    /// submit_status "not_submitted"
    #[arg(long)]
    fail_fast: bool,
    /// The sbatch program (default: sbatch on PATH)
    #[arg(long, value_name = "PATH")]
    sbatch: Option<PathBuf>,
    /// Extra raw sbatch option, placed before the script path; repeatable
    /// (--sbatch-arg=--qos=high)
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    sbatch_arg: Vec<String>,
    /// sbatch calls per job when Slurm is unreachable or busy (first call included)
    #[arg(long, value_name = "N", default_value_t = 4)]
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
}

fn main() -> ExitCode {
    sweep::cli::main("sweep-submit", run)
}

fn run(args: Args) -> Result<ExitCode> {
    check_options(&args)?;
    let sbatch = find_sbatch(&args)?;
    let builder = jobscript::Builder::new(&args.script)?;
    let mut output_dir = args.output_dir.as_deref().map(absolute).transpose()?;
    let inputs = inputs(&args, &mut output_dir)?;
    let mut records = prepare::read_all(&inputs, &builder, output_dir.as_deref())?;
    set_sweep_dirs(&mut records, output_dir)?;
    let plan = Plan {
        builder: &builder,
        job_name: &args.script.job_name,
        log_dir: args.script.log_dir.as_deref().map(absolute).transpose()?,
        sbatch: sbatch.display().to_string(),
        sbatch_args: &args.sbatch_arg,
    };
    let mut scripts = Vec::with_capacity(records.len());
    for s in &mut records {
        // Errors name their own position: the template's file and line, or the directory.
        scripts.push(plan.prepare(&mut s.record)?);
    }
    let saved = prepare::save_in_order(scripts);
    let mut out = sweep::jsonl::Writer::stdout();
    let result = if args.dry_run {
        write_dry_run(records, &saved, &mut out)
    } else {
        let submitter = Submitter::new(
            &sbatch,
            args.submit_attempts,
            Duration::from_secs_f64(args.retry_backoff),
            Duration::from_secs_f64(args.sbatch_timeout),
            args.max_submit_rate,
        );
        submit_all(&args, &plan, submitter, records, &saved, &mut out)
    };
    // Let the writer finish the scripts of records not submitted (fail-fast, a closed pipe):
    // every record's job_script exists, and no temporary file is left behind.
    saved.iter().for_each(drop);
    result
}

/// `--dry-run`: each record, once its job script is saved, marked `dry_run`.
fn write_dry_run(
    records: Vec<Sourced>,
    saved: &std::sync::mpsc::Receiver<Result<()>>,
    out: &mut sweep::jsonl::Writer<std::io::StdoutLock<'static>>,
) -> Result<ExitCode> {
    for mut s in records {
        saved.recv().context("the job-script writer stopped")??;
        s.record.submit_status = Some(SubmitStatus::DryRun);
        out.write(&s.record)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The record files to read: the arguments, or with `--sweep-config` the records that
/// sweep-expand and sweep-render made in the sweep directory (which `output_dir` then names).
fn inputs(args: &Args, output_dir: &mut Option<PathBuf>) -> Result<Vec<PathBuf>> {
    let Some(file) = &args.sweep_config else {
        return Ok(args.inputs.clone());
    };
    let dir = match output_dir.take() {
        Some(d) => d,
        None => new_sweep_dir()?,
    };
    *output_dir = Some(dir.clone());
    Ok(vec![sweepconfig::expand_and_render(file, &dir)?])
}

/// Usage errors that clap cannot see.
fn check_options(a: &Args) -> Result<()> {
    if a.submit_attempts == 0 {
        return sweep::cli::usage("--submit-attempts must be at least 1");
    }
    // Duration::try_from_secs_f64 refuses negative, non-finite and too large values alike.
    let secs = |v: f64| Duration::try_from_secs_f64(v).is_ok();
    if !secs(a.retry_backoff) {
        return sweep::cli::usage("--retry-backoff must be a number of seconds, 0 or more");
    }
    if !(a.sbatch_timeout > 0.0 && secs(a.sbatch_timeout)) {
        return sweep::cli::usage("--sbatch-timeout must be a positive number of seconds");
    }
    if let Some(r) = a.max_submit_rate {
        if !(r > 0.0 && r.is_finite() && secs(1.0 / r)) {
            return sweep::cli::usage("--max-submit-rate must be a positive number per second");
        }
    }
    Ok(())
}

fn absolute(p: &Path) -> Result<PathBuf> {
    sweep::fsutil::absolute(p)
}

/// `--sbatch`, else `sbatch` on PATH. A dry run needs none and records plain `sbatch`.
fn find_sbatch(a: &Args) -> Result<PathBuf> {
    if let Some(p) = &a.sbatch {
        if !a.dry_run && !p.is_file() {
            anyhow::bail!("sbatch not found: {} is not a file", p.display());
        }
        // Absolute like every other path in a record: sbatch_command must still run from
        // another directory weeks later.
        return absolute(p);
    }
    match which::which("sbatch") {
        Ok(p) => Ok(p),
        Err(_) if a.dry_run => Ok(PathBuf::from("sbatch")),
        Err(_) => anyhow::bail!(
            "sbatch not found on PATH: not on a Slurm login node? use --sbatch PATH or --dry-run"
        ),
    }
}

/// Gives every record without a sweep_dir `--output-dir`, or one new directory for the run.
fn set_sweep_dirs(records: &mut [Sourced], output_dir: Option<PathBuf>) -> Result<()> {
    if records.iter().all(|s| s.record.sweep_dir.is_some()) {
        return Ok(());
    }
    let dir = match output_dir {
        Some(d) => d,
        None => new_sweep_dir()?,
    };
    let dir = dir.display().to_string();
    for s in records.iter_mut().filter(|s| s.record.sweep_dir.is_none()) {
        s.record.sweep_dir = Some(dir.clone());
    }
    Ok(())
}

/// A new `./sweep_YYYYMMDD_HHMMSS`, never shared with another run.
fn new_sweep_dir() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("failed to read the current directory")?;
    sweep::fsutil::create_sweep_dir(&cwd)
}

/// Submits each record in order and writes it out, flushed, before the next `sbatch`.
fn submit_all(
    args: &Args,
    plan: &Plan,
    mut submitter: Submitter,
    records: Vec<Sourced>,
    saved: &std::sync::mpsc::Receiver<Result<()>>,
    out: &mut sweep::jsonl::Writer<std::io::StdoutLock<'static>>,
) -> Result<ExitCode> {
    let total = records.len();
    let mut progress = progress::Progress::new(total);
    let mut first_failure: Option<String> = None;
    let mut failed = 0;
    let mut stop: Option<String> = None;
    for Sourced { origin, mut record } in records {
        if let Some(why) = &stop {
            record.submit_status = Some(SubmitStatus::NotSubmitted);
            record.submit_error = Some(why.clone());
            failed += 1;
            out.write_flush(&record)?;
            continue;
        }
        // The job script must be on disk before its sbatch.
        let unreachable = match saved.recv().context("the job-script writer stopped")? {
            Ok(()) => submit_record(args, plan, &mut submitter, &mut record),
            Err(e) => {
                record.submit_status = Some(SubmitStatus::Failed);
                record.submit_error = Some(format!("{e:#}"));
                false
            }
        };
        progress.report(&record);
        out.write_flush(&record)
            .with_context(|| unwritten(&origin, &record))?;
        if let Some(err) = &record.submit_error {
            failed += 1;
            first_failure.get_or_insert_with(|| format!("{origin}: {err}"));
            if unreachable {
                stop = Some(format!(
                    "not attempted: Slurm did not answer for an earlier record ({origin})"
                ));
            } else if args.fail_fast {
                stop = Some(format!(
                    "not attempted: an earlier record failed ({origin})"
                ));
            }
        }
    }
    out.flush()?;
    match first_failure {
        None => Ok(ExitCode::SUCCESS),
        Some(first) => anyhow::bail!("{failed} of {total} records not submitted; first: {first}"),
    }
}

/// The error of a record that could not be written (a full disk): the jobs it submitted, and
/// their tag, must still reach the user.
fn unwritten(origin: &str, r: &Record) -> String {
    let Some(job_id) = &r.job_id else {
        return format!("{origin}: failed to write the record");
    };
    let jobs: Vec<&str> = std::iter::once(job_id)
        .chain(&r.retry_job_ids)
        .map(String::as_str)
        .collect();
    format!(
        "{origin}: job {} submitted (tag {}) but its record could not be written",
        jobs.join(", "),
        r.tag.as_deref().unwrap_or_default()
    )
}

/// Submits one record and its `--retries` follow-ups, filling in the outcome. Returns true when
/// it failed because Slurm stayed unreachable through every attempt (so the rest is not tried).
fn submit_record(args: &Args, plan: &Plan, submitter: &mut Submitter, r: &mut Record) -> bool {
    let argv = r.sbatch_command.clone().expect("prepared");
    let tag = r.tag.clone().expect("prepared");
    let script = r.job_script.clone().expect("prepared");
    // Jobs of earlier submissions carry the same tag: a look-up must never take them.
    let mut known: Vec<String> = r
        .history
        .iter()
        .flat_map(|h| std::iter::once(&h.job_id).chain(&h.retry_job_ids))
        .cloned()
        .collect();
    let (job_id, cluster) = match submitter.submit(&argv, &tag, &known) {
        Done::Submitted { job_id, cluster } => (job_id, cluster),
        Done::Failed { message, transient } => {
            r.submit_status = Some(SubmitStatus::Failed);
            r.submit_error = Some(message);
            return transient;
        }
    };
    r.submit_status = Some(SubmitStatus::Submitted);
    r.submitted_at = Some(now());
    r.job_id = Some(job_id.clone());
    r.cluster = cluster;
    let mut chain = vec![job_id.clone()];
    known.push(job_id);
    for n in 1..=args.retries {
        let argv = plan.argv(&tag, &chain, &script);
        match submitter.submit(&argv, &tag, &known) {
            Done::Submitted { job_id, .. } => {
                r.retry_job_ids.push(job_id.clone());
                chain.push(job_id.clone());
                known.push(job_id);
            }
            Done::Failed { message, transient } => {
                r.submit_error = Some(format!("follow-up job {n} of {}: {message}", args.retries));
                return transient;
            }
        }
    }
    false
}

/// The current local time, RFC 3339 with seconds.
fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
