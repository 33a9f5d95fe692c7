//! The submission: every record read and checked, placed in its sweep directory
//! ([`crate::read`]), judged against what the sweep already has, never twice
//! ([`crate::judge`]), given its options (they travel with the sweep) and its job script
//! ([`crate::prepare`]); then one `sbatch` per record still to submit, in order, each record
//! written (and flushed) before the next `sbatch` starts ([`crate::sbatch`]).

use crate::judge;
use crate::prepare::options::Layer;
use crate::prepare::plan::{Plan, Saver};
use crate::read::Spool;
use crate::sbatch::queue::{MaxQueued, Queue};
use crate::sbatch::retry::Submitter;
use crate::sbatch::{self as pass4, Out, Run};
use crate::sweepconfig::{self, SweepDir, Tee};
use crate::sweeps::Sweeps;
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// What to submit and how (sweep-submit's options, checked).
pub struct Options {
    /// Record files; none or `-` is stdin.
    pub inputs: Vec<PathBuf>,
    /// Expand and render this sweep file first, into the sweep directory.
    pub sweep_config: Option<PathBuf>,
    /// What `--sweep-config` passes on to sweep-expand and sweep-render.
    pub passed: sweepconfig::Passed,
    /// The options that shape a job, as given (the rest comes from the sweep's earlier
    /// submissions, then the defaults).
    pub given: Layer,
    /// Sweep directory of records that have none (default: a new one).
    pub output_dir: Option<PathBuf>,
    /// Save the job scripts, submit nothing.
    pub dry_run: bool,
    /// Submit a combination again even when it already has a COMPLETED job.
    pub resubmit_completed: bool,
    /// Stop at the first record that cannot be submitted.
    pub fail_fast: bool,
    /// `--sbatch`, else `sbatch` on PATH.
    pub sbatch: Option<PathBuf>,
    /// `sbatch` calls per job when Slurm is unreachable or busy (at least 1).
    pub attempts: u32,
    /// First pause after a transient failure; doubles each time.
    pub backoff: Duration,
    /// Deadline of one `sbatch` (or `squeue`) call.
    pub timeout: Duration,
    /// At most this many `sbatch` calls per second (positive).
    pub max_rate: Option<f64>,
    /// Keep at most this many jobs queued, submitting the rest as room frees.
    pub max_queued: Option<MaxQueued>,
    /// How far back Slurm's accounting is searched for a sweep's jobs when its journal may
    /// lack some (`sacct --starttime`).
    pub since: String,
}

/// Reads, places, judges, prepares and submits every record; exit 1 (with the first failure)
/// when any record was not submitted.
///
/// Memory does not grow with the number of records: they are read once into a temporary file
/// ([`Spool`]), checked, placed and judged there, then read again for each later pass. Every
/// record is still checked, and every job script rendered, before the first `sbatch` (pass
/// 3); the scripts are rendered again and saved in the submission pass, each before its own
/// `sbatch`, at most [`Saver::AHEAD`] ahead of it.
pub fn run(opts: Options) -> Result<ExitCode> {
    sweep::cli::stdout_must_be_open()?;
    crate::jobscript::check_given(&opts.given)?;
    let sbatch = pass4::answer::find(opts.sbatch.as_deref(), opts.dry_run)?;
    let absolute = sweep::fsutil::absolute;
    let mut output_dir = opts.output_dir.as_deref().map(absolute).transpose()?;
    // --sweep-config: the records sweep-expand and sweep-render make in the sweep directory,
    // which is removed again if this run made it and fails before submitting anything.
    let mut made: Option<SweepDir> = None;
    let inputs = match &opts.sweep_config {
        Some(file) => {
            let dir = SweepDir::open(output_dir.take(), file)?;
            let saved = sweepconfig::expand_and_render(file, &dir.dir, &opts.passed)?;
            output_dir = Some(dir.dir.clone());
            made = Some(dir);
            vec![saved]
        }
        None => opts.inputs.clone(),
    };
    // Pass 1: read, check, place, spool.
    let mut spool = Spool::read(&inputs, output_dir)?;
    let mut sweeps = Sweeps::open(&spool)?;
    let mut submitter = Submitter::new(
        &sbatch,
        opts.attempts,
        opts.backoff,
        opts.timeout,
        opts.max_rate,
    );
    // Pass 2: judge each record against what its sweep already has (nothing to judge in a
    // dry run: every record is to submit).
    let slurm = (!opts.dry_run).then(|| submitter.slurm());
    let judged = judge::all(&spool, &sweeps, slurm, opts.resubmit_completed, &opts.since)?;
    judge::adopt(&judged, &mut sweeps)?;
    spool.named_jobs.clear();
    let plan = Plan {
        sbatch: sbatch.display().to_string(),
        dry_run: opts.dry_run,
    };
    // Pass 3: options, checks and job scripts of every record, before the first sbatch.
    let mut prepared = crate::prepare::all(&opts.given, &plan, &mut sweeps, &spool, &judged.fates)?;
    pass4::report_judged(&judged, &mut submitter);
    // Pass 4: submit.
    let tee = match &mut made {
        Some(dir) => {
            dir.keep();
            Tee::with_manifest(&dir.dir)?
        }
        None => Tee::stdout(),
    };
    let mut out = Out::new(tee);
    if !opts.dry_run {
        // From the first sbatch on, a signal stops the run cleanly (crate::interrupt).
        crate::interrupt::install()
            .map_err(|e| anyhow::anyhow!("failed to install the signal handlers: {e}"))?;
    }
    let saver = Saver::new();
    let fates = &judged.fates;
    let result = if opts.dry_run {
        pass4::dry_run(
            &spool,
            fates,
            &mut prepared,
            &plan,
            &sweeps,
            &saver,
            &mut out,
        )
    } else {
        submitter.releaser.add(judged.release.iter().cloned());
        let mut run = Run {
            plan: &plan,
            sweeps: &mut sweeps,
            submitter: &mut submitter,
            queue: Queue::new(opts.max_queued, &sbatch, opts.attempts),
            out: &mut out,
            fail_fast: opts.fail_fast,
        };
        run.all(&spool, fates, &mut prepared, &saver)
    };
    saver.finish();
    let held = match opts.dry_run {
        true => None,
        false => {
            let held = pass4::finish_releases(&mut submitter, opts.attempts, opts.backoff);
            pass4::cancel_ghosts(&mut submitter, &sweeps);
            held
        }
    };
    // --sweep-config: the manifest, once the jobs are released (its table shows their states).
    let _ = out.flush();
    out.get_mut().finish(opts.dry_run);
    if let Some(sig) = crate::interrupt::requested() {
        let said = match &held {
            Some(err) => format!("{err:#}"),
            None => "every job it submitted is written down and released".to_string(),
        };
        sweep::cli::warn(format_args!(
            "interrupted by {}: stopped before the next sbatch; {said}; run the same command again to submit the rest (a job an interrupted sbatch may have made stays held and is cancelled then)",
            crate::interrupt::name(sig)
        ));
        return Ok(ExitCode::from(u8::try_from(128 + sig).unwrap_or(u8::MAX)));
    }
    match (held, result) {
        (Some(err), Ok(_)) => Err(err),
        (Some(err), Err(first)) => Err(first.context(format!("{err:#}"))),
        (None, result) => result,
    }
}
