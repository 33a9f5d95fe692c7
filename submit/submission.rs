//! The submission loop: every record prepared and its job script saved, then one `sbatch` per
//! record, in order, each record written (and flushed) before the next `sbatch` starts.

use crate::jobscript::{Builder, ScriptArgs};
use crate::prepare::{self, Plan, Saved, Sourced};
use crate::progress::Progress;
use crate::retry::{Done, Submitter};
use crate::sbatch;
use anyhow::{Context, Result};
use std::io::StdoutLock;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use sweep::record::SubmitStatus;
use sweep::Record;

/// Where submitted records go.
type Out = sweep::jsonl::Writer<StdoutLock<'static>>;

/// What to submit and how (sweep-submit's options, checked).
pub struct Options {
    /// Record files; none or `-` is stdin.
    pub inputs: Vec<PathBuf>,
    /// Expand and render this sweep file first, into the sweep directory.
    pub sweep_config: Option<PathBuf>,
    /// How the job script is made.
    pub script: ScriptArgs,
    /// Sweep directory of records that have none (default: a new one).
    pub output_dir: Option<PathBuf>,
    /// Save the job scripts, submit nothing.
    pub dry_run: bool,
    /// `--retries` follow-up jobs per record.
    pub retries: u32,
    /// Stop at the first record that cannot be submitted.
    pub fail_fast: bool,
    /// `--sbatch`, else `sbatch` on PATH.
    pub sbatch: Option<PathBuf>,
    /// Extra raw sbatch options.
    pub sbatch_args: Vec<String>,
    /// `sbatch` calls per job when Slurm is unreachable or busy (at least 1).
    pub attempts: u32,
    /// First pause after a transient failure; doubles each time.
    pub backoff: Duration,
    /// Deadline of one `sbatch` (or `squeue`) call.
    pub timeout: Duration,
    /// At most this many `sbatch` calls per second (positive).
    pub max_rate: Option<f64>,
}

/// Reads, prepares and submits every record; exit 1 (with the first failure) when any record
/// was not submitted.
pub fn run(opts: Options) -> Result<ExitCode> {
    let sbatch = sbatch::find(opts.sbatch.as_deref(), opts.dry_run)?;
    let builder = Builder::new(&opts.script)?;
    let absolute = sweep::fsutil::absolute;
    let mut output_dir = opts.output_dir.as_deref().map(absolute).transpose()?;
    let inputs = prepare::inputs(&opts.inputs, opts.sweep_config.as_deref(), &mut output_dir)?;
    let mut records = prepare::read_all(&inputs, &builder, output_dir.as_deref())?;
    prepare::set_sweep_dirs(&mut records, output_dir)?;
    let plan = Plan {
        builder: &builder,
        job_name: &opts.script.job_name,
        log_dir: opts.script.log_dir.as_deref().map(absolute).transpose()?,
        sbatch: sbatch.display().to_string(),
        sbatch_args: &opts.sbatch_args,
    };
    let mut scripts = Vec::with_capacity(records.len());
    for s in &mut records {
        // Errors name their own position: the template's file and line, or the directory.
        scripts.push(plan.prepare(&mut s.record)?);
    }
    let saved = prepare::save_in_order(scripts);
    let mut out = Out::stdout();
    let result = if opts.dry_run {
        write_dry_run(records, &saved, &mut out)
    } else {
        let submitter = Submitter::new(
            &sbatch,
            opts.attempts,
            opts.backoff,
            opts.timeout,
            opts.max_rate,
        );
        submit_all(&opts, &plan, submitter, records, &saved, &mut out)
    };
    // Let the writer finish the scripts of records not submitted (fail-fast, a closed pipe):
    // every record's job_script exists, and no temporary file is left behind.
    saved.iter().for_each(drop);
    result
}

/// `--dry-run`: each record, once its job script is saved, marked `dry_run`.
fn write_dry_run(records: Vec<Sourced>, saved: &Saved, out: &mut Out) -> Result<ExitCode> {
    for mut s in records {
        saved.recv().context("the job-script writer stopped")??;
        s.record.submit_status = Some(SubmitStatus::DryRun);
        out.write(&s.record)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Submits each record in order and writes it out, flushed, before the next `sbatch`.
fn submit_all(
    opts: &Options,
    plan: &Plan,
    mut submitter: Submitter,
    records: Vec<Sourced>,
    saved: &Saved,
    out: &mut Out,
) -> Result<ExitCode> {
    let total = records.len();
    let mut progress = Progress::new(total);
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
            Ok(()) => submit_record(opts.retries, plan, &mut submitter, &mut record),
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
            } else if opts.fail_fast {
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

/// Submits one record and its `retries` follow-ups, filling in the outcome. Returns true when
/// it failed because Slurm stayed unreachable through every attempt (so the rest is not tried).
fn submit_record(retries: u32, plan: &Plan, submitter: &mut Submitter, r: &mut Record) -> bool {
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
    for n in 1..=retries {
        let argv = plan.argv(&tag, &chain, &script);
        match submitter.submit(&argv, &tag, &known) {
            Done::Submitted { job_id, .. } => {
                r.retry_job_ids.push(job_id.clone());
                chain.push(job_id.clone());
                known.push(job_id);
            }
            Done::Failed { message, transient } => {
                r.submit_error = Some(format!("follow-up job {n} of {retries}: {message}"));
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
