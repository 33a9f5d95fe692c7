//! The submission: every record read and checked, placed in its sweep directory
//! ([`crate::read`]), judged against what the sweep already has, never twice
//! ([`crate::judge`]), given its options (they travel with the sweep) and its job script
//! ([`crate::prepare`]); then one `sbatch` per record still to submit, in order, each record
//! written (and flushed) before the next `sbatch` starts ([`crate::sbatch`]).

use crate::judge;
use crate::prepare::options::Layer;
use crate::prepare::plan::{Plan, Saver};
use crate::preview::Tally;
use crate::read::{Placing, Spool};
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
    /// Save the job scripts (outside the sweep directories), submit nothing.
    pub dry_run: bool,
    /// Show what a run would do, per combination, and do nothing (`--plan`).
    pub plan: bool,
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
    // A plan asks Slurm as a real run does; a dry run asks nothing. Neither writes into a
    // sweep directory.
    let writes = !opts.dry_run && !opts.plan;
    let sbatch = pass4::answer::find(opts.sbatch.as_deref(), opts.dry_run)?;
    let absolute = sweep::fsutil::absolute;
    let mut output_dir = opts.output_dir.as_deref().map(absolute).transpose()?;
    // --sweep-config: the records sweep-expand and sweep-render make in the sweep directory,
    // which is removed again if this run made it and fails before submitting anything. A
    // plan or a dry run makes no sweep directory: sweep-expand's records are read from a
    // file of no name, and each record gets the config path sweep-render would give it.
    let mut made: Option<SweepDir> = None;
    let mut expanded: Option<sweepconfig::Expanded> = None;
    let inputs = match &opts.sweep_config {
        Some(file) if !writes => {
            let e = sweepconfig::expand_only(file, &opts.passed)?;
            let path = e.path.clone();
            expanded = Some(e);
            vec![path]
        }
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
    let placing = Placing {
        writes,
        configs_unrendered: opts.sweep_config.is_some() && !writes,
        made_from: opts.sweep_config.as_ref().map(|f| f.display().to_string()),
    };
    let mut spool = Spool::read(&inputs, output_dir, &placing)?;
    drop(expanded);
    let mut sweeps = Sweeps::open(&spool, writes)?;
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
    let preview = match opts.dry_run {
        true => Some(preview_dir()?),
        false => None,
    };
    let plan = Plan {
        sbatch: sbatch.display().to_string(),
        preview: preview.clone(),
        configs_unrendered: placing.configs_unrendered,
    };
    // Pass 3: options, checks and job scripts of every record, before the first sbatch.
    let mut prepared = crate::prepare::all(
        &opts.given,
        &plan,
        &mut sweeps,
        &spool,
        &judged.fates,
        writes,
    )?;
    if opts.plan {
        if judged.unknown > 0 {
            pass4::note_unknown(judged.unknown);
        }
        crate::preview::show(&spool, &judged, &prepared, &sweeps)?;
        return Ok(ExitCode::SUCCESS);
    }
    pass4::report_judged(&judged, &mut submitter);
    // Pass 4: submit.
    let tee = match &mut made {
        Some(dir) => {
            dir.keep();
            Tee::with_manifest(&dir.dir)?
        }
        None if opts.sweep_config.is_some() => Tee::table_on_terminal()?,
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
    let mut tally = Tally::default();
    let result = if opts.dry_run {
        pass4::dry_run(
            &spool,
            fates,
            &mut prepared,
            &plan,
            &sweeps,
            &saver,
            &mut out,
            &mut tally,
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
            tally: &mut tally,
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
    // The line every run ends with (but one whose reader went away: that ends quietly).
    let quiet = result.as_ref().is_err_and(sweep::cli::is_broken_pipe);
    match &preview {
        _ if quiet => {}
        Some(dir) => sweep::cli::warn(format_args!(
            "dry run: {} job script(s) in {}, nothing submitted",
            tally.new + tally.rerun,
            dir.display()
        )),
        None => sweep::cli::warn(format_args!("{tally}")),
    }
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

/// Where a dry run saves its job scripts: a new directory under the system's temporary
/// directory (`$TMPDIR`, else `/tmp`), never a sweep directory.
fn preview_dir() -> Result<PathBuf> {
    let tmp = std::env::temp_dir();
    let stamp = chrono::Local::now().format("%Y%m%d_%H%M%S");
    for n in 0..1000u32 {
        let dir = tmp.join(format!("sweep-dry-run-{stamp}-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(anyhow::Error::from(e)
                    .context(format!("failed to create directory {}", dir.display())))
            }
        }
    }
    anyhow::bail!(
        "failed to make a directory for the dry run's job scripts in {}",
        tmp.display()
    )
}
