//! The submission: every record read and checked, placed in its sweep directory, judged
//! against what the sweep already has (never twice), given its options (they travel with the
//! sweep), and its job script rendered; then one `sbatch` per record still to submit, in
//! order, each record written (and flushed) before the next `sbatch` starts.

use crate::already::{Decisions, Fate, Sweeps};
use crate::jobscript::Builder;
use crate::options::{Given, JobOptions};
use crate::prepare::{self, Plan, Saver, Sourced};
use crate::progress::Progress;
use crate::queue::{MaxQueued, Queue};
use crate::retry::{Done, Submitter};
use crate::sbatch;
use crate::spool::Spool;
use crate::sweepconfig::{self, SweepDir, Tee};
use anyhow::{anyhow, Context, Result};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use sweep::cli::{warn, UsageError};
use sweep::record::SubmitStatus;
use sweep::state::Submitted;
use sweep::Record;

/// Where submitted records go: stdout, and with `--sweep-config` the sweep's manifest.
type Out = sweep::jsonl::Writer<Tee>;

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
    pub given: Given,
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
}

/// One record to submit, ready: its options and where they are saved.
struct Ready {
    options: JobOptions,
    options_hash: String,
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
    crate::jobscript::check_given(&opts.given.script)?;
    let sbatch = sbatch::find(opts.sbatch.as_deref(), opts.dry_run)?;
    let absolute = sweep::fsutil::absolute;
    let mut output_dir = opts.output_dir.as_deref().map(absolute).transpose()?;
    // --sweep-config: the records sweep-expand and sweep-render make in the sweep directory,
    // which is removed again if this run made it and fails before submitting anything.
    let mut made: Option<SweepDir> = None;
    let inputs = match &opts.sweep_config {
        Some(file) => {
            let dir = SweepDir::open(output_dir.take())?;
            let saved = sweepconfig::expand_and_render(file, &dir.dir, &opts.passed)?;
            output_dir = Some(dir.dir.clone());
            made = Some(dir);
            vec![saved]
        }
        None => opts.inputs.clone(),
    };
    // Pass 1: read, check, place, spool.
    let mut spool = Spool::read(&inputs, output_dir)?;
    let mut sweeps = Sweeps::open(&spool.dirs)?;
    let mut submitter = Submitter::new(
        &sbatch,
        opts.attempts,
        opts.backoff,
        opts.timeout,
        opts.max_rate,
    );
    let snapshot = match !opts.dry_run && sweeps.needs_slurm(&spool.named_jobs) {
        true => Some(sweeps.snapshot(submitter.slurm(), &spool.named_jobs)?),
        false => None,
    };
    // Pass 2: judge each record against what its sweep already has (nothing to judge in a
    // fresh sweep, or in a dry run: every record is to submit).
    let mut decisions = Decisions::default();
    let mut fates = vec![Fate::Submit; spool.len()];
    if snapshot.is_some() {
        for item in spool.records()? {
            let (i, s) = item?;
            let snap = snapshot.as_ref();
            fates[i] = sweeps.judge(&s.record, snap, opts.resubmit_completed, &mut decisions)?;
        }
    }
    let ghosts = sweeps.ghosts(snapshot.as_ref(), &decisions);
    spool.named_jobs.clear();
    let plan = Plan {
        sbatch: sbatch.display().to_string(),
    };
    // Pass 3: options, checks and job scripts of every record, before the first sbatch.
    let mut prepared = Prepared::default();
    prepared.all(&opts, &plan, &mut sweeps, &spool, &fates)?;
    report_decisions(&decisions, &ghosts, &mut submitter);
    // Pass 4: submit.
    let tee = match &mut made {
        Some(dir) => {
            dir.keep();
            Tee::with_manifest(&dir.dir)?
        }
        None => Tee::stdout(),
    };
    let mut out = Out::new(tee);
    let saver = Saver::new();
    let result = if !opts.dry_run {
        submitter.releaser.add(decisions.release.iter().cloned());
        let mut run = Run {
            opts: &opts,
            plan: &plan,
            sweeps: &mut sweeps,
            submitter: &mut submitter,
            queue: Queue::new(opts.max_queued, &sbatch, opts.attempts),
            out: &mut out,
        };
        run.submit_all(&spool, &fates, &mut prepared, &saver)
    } else {
        write_dry_run(
            &spool,
            &fates,
            &mut prepared,
            &plan,
            &sweeps,
            &saver,
            &mut out,
        )
    };
    saver.finish();
    let held = match opts.dry_run {
        true => None,
        false => {
            let held = finish_releases(&opts, &mut submitter);
            cancel_ghosts(&mut submitter, &sweeps);
            held
        }
    };
    // --sweep-config: the manifest, once the jobs are released (its table shows their states).
    let _ = out.flush();
    out.get_mut().finish(opts.dry_run);
    match (held, result) {
        (Some(err), Ok(_)) => Err(err),
        (Some(err), Err(first)) => Err(first.context(format!("{err:#}"))),
        (None, result) => result,
    }
}

/// Each record's options (given, else its combination's last submission's, else the sweep's,
/// else the defaults) and the builders that make their job scripts: one builder per distinct
/// options, each record holding an index.
#[derive(Default)]
struct Prepared {
    /// Distinct options, with their saved hash and builder.
    options: Vec<(JobOptions, String, Builder)>,
    /// Index into `options` by the options' JSON text.
    by_text: BTreeMap<String, usize>,
    /// The sweep directories each entry of `options` is saved in (this run).
    saved_in: BTreeSet<(String, usize)>,
    /// One per record to submit, in order: its entry in `options`.
    of_record: Vec<u32>,
    /// Where the submission pass is in `of_record`.
    next: usize,
}

impl Prepared {
    /// Resolves every record's options, checks them and the record, and renders its job
    /// script: any error stops the run before the first `sbatch`.
    fn all(
        &mut self,
        opts: &Options,
        plan: &Plan,
        sweeps: &mut Sweeps,
        spool: &Spool,
        fates: &[Fate],
    ) -> Result<()> {
        let mut changes: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for item in spool.records()? {
            let (i, mut s) = item?;
            if fates[i] != Fate::Submit {
                continue;
            }
            sweeps.fill(&mut s.record, &fates[i]);
            let dir = s.record.sweep_dir.clone().expect("placed");
            let saved = sweeps
                .saved_options(&dir, &s.record.id)
                .with_context(|| s.origin.clone())?;
            let mut options = opts.given.resolve(saved.as_ref()).map_err(|missing| {
                UsageError(format!(
                    "{}: {} required: {} has no earlier submission to take {} from",
                    s.origin,
                    missing.join(", "),
                    dir,
                    if missing.len() == 1 { "it" } else { "them" }
                ))
            })?;
            // Never given (now or by an earlier submission): found next to the sweep file or
            // in the current directory, never guessed.
            if opts.given.script.scripts_dir.is_none() && saved.is_none() {
                options.scripts_dir =
                    crate::options::default_scripts_dir(s.record.sweep_file.as_deref())
                        .map_err(|e| UsageError(format!("{}: {e}", s.origin)))?;
            }
            if let Some(before) = saved.filter(|_| sweeps.was_submitted(&dir, &s.record.id)) {
                for change in options.changes_from(&before) {
                    changes.entry(change).or_insert((0, s.origin.clone())).0 += 1;
                }
            }
            let k = self.index_of(opts, sweeps, &dir, options)?;
            let builder = &self.options[k].2;
            for warning in builder.check(&s.record).with_context(|| s.origin.clone())? {
                warn(format_args!("{}: warning: {warning}", s.origin));
            }
            // Rendered to check it (errors name their own position: the template's file
            // and line, or the directory); rendered again, and saved, when its turn comes.
            let beside = beside_a_job(opts.dry_run, &s.record);
            plan.prepare(&mut s.record, &self.options[k].0, builder, beside, false)?;
            self.of_record
                .push(u32::try_from(k).context("too many distinct options")?);
        }
        for (change, (n, first)) in changes {
            warn(format_args!(
                "note: {n} re-submitted record(s) with {change} (first: {first})"
            ));
        }
        Ok(())
    }

    /// The entry of `options` (added, with its builder and saved hash, when new).
    fn index_of(
        &mut self,
        opts: &Options,
        sweeps: &mut Sweeps,
        dir: &str,
        options: JobOptions,
    ) -> Result<usize> {
        let value = options.to_value();
        let text = value.to_string();
        let k = match self.by_text.get(&text) {
            Some(&k) => k,
            None => {
                let builder = Builder::new(&options)?;
                let hash = sweep::state::options_hash(&value)?;
                self.options.push((options, hash, builder));
                self.by_text.insert(text, self.options.len() - 1);
                self.options.len() - 1
            }
        };
        // Saved once per sweep directory and options (the hash is the same in every one).
        if !opts.dry_run && self.saved_in.insert((dir.to_string(), k)) {
            sweeps.save_options(dir, &value)?;
        }
        Ok(k)
    }

    /// The next record to submit's options and builder, in order.
    fn next(&mut self) -> &(JobOptions, String, Builder) {
        let k = self.of_record[self.next] as usize;
        self.next += 1;
        &self.options[k]
    }
}

/// A dry run never replaces the script of a job that was submitted.
fn beside_a_job(dry_run: bool, r: &Record) -> bool {
    dry_run && (!r.history.is_empty() || r.job_id.is_some())
}

/// A record of the submission pass: filled for its fate and, when it is to be submitted,
/// prepared (its job script handed to the saver).
fn next_record(
    item: Result<(usize, Sourced)>,
    fates: &[Fate],
    prepared: &mut Prepared,
    dry_run: bool,
    plan: &Plan,
    sweeps: &Sweeps,
    saver: &Saver,
) -> Result<(usize, Sourced, Option<Ready>)> {
    let (i, mut s) = item?;
    sweeps.fill(&mut s.record, &fates[i]);
    if fates[i] != Fate::Submit {
        return Ok((i, s, None));
    }
    let (options, hash, builder) = prepared.next();
    let beside = beside_a_job(dry_run, &s.record);
    saver.save(plan.prepare(&mut s.record, options, builder, beside, true)?)?;
    Ok((
        i,
        s,
        Some(Ready {
            options: options.clone(),
            options_hash: hash.clone(),
        }),
    ))
}

/// Says on stderr what the judgement of the sweep's state did besides keeping records.
fn report_decisions(d: &Decisions, ghosts: &[String], submitter: &mut Submitter) {
    if !ghosts.is_empty() {
        let ids = ghosts.to_vec();
        match submitter.slurm().cancel(&ids) {
            Ok(()) => warn(format_args!(
                "note: cancelled {} held job(s) that no record or journal names (a stalled controller's duplicates, or a run killed before it wrote them down): {}",
                ids.len(),
                ids.join(", ")
            )),
            Err(e) => warn(format_args!(
                "warning: {} held duplicate job(s) could not be cancelled ({e}); they stay held and never run: scancel {}",
                ids.len(),
                ids.join(" ")
            )),
        }
    }
    if d.unknown > 0 {
        warn(format_args!(
            "note: {} combination(s) not submitted again: Slurm no longer knows the state of their job (accounting disabled, or purged); pipe in the manifest with its states, or use --resubmit-completed",
            d.unknown
        ));
    }
}

/// `--dry-run`: each record to submit, once its job script is saved, marked `dry_run`; kept
/// records as they are.
fn write_dry_run(
    spool: &Spool,
    fates: &[Fate],
    prepared: &mut Prepared,
    plan: &Plan,
    sweeps: &Sweeps,
    saver: &Saver,
    out: &mut Out,
) -> Result<ExitCode> {
    let mut window = VecDeque::new();
    let mut records = spool.records()?;
    loop {
        while window.len() < Saver::AHEAD {
            let Some(item) = records.next() else { break };
            window.push_back(next_record(
                item, fates, prepared, true, plan, sweeps, saver,
            )?);
        }
        let Some((_, mut s, ready)) = window.pop_front() else {
            break;
        };
        if ready.is_some() {
            saver.saved()?;
            s.record.submit_status = Some(SubmitStatus::DryRun);
        }
        out.write(&s.record)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Releases the jobs still waiting; an error naming them when Slurm would not.
fn finish_releases(opts: &Options, submitter: &mut Submitter) -> Option<anyhow::Error> {
    let (unknown, held) = submitter.releaser.finish(opts.attempts, opts.backoff);
    if !unknown.is_empty() {
        warn(format_args!(
            "note: job(s) {} were gone before they could be released (cancelled meanwhile?)",
            unknown.join(", ")
        ));
    }
    let (held, why) = held?;
    Some(anyhow!(
        "job(s) {} were submitted but are still held: releasing them failed ({why}); run the same command again, or: scontrol release {}",
        held.join(", "),
        held.join(",")
    ))
}

/// After a run in which an `sbatch` may have created a job it never heard of: one last look
/// for held jobs of this run's sweeps that no journal names, cancelled. (One that a
/// controller creates even later stays held, never runs, and the next run cancels it.)
fn cancel_ghosts(submitter: &mut Submitter, sweeps: &Sweeps) {
    if !submitter.ghosts_possible {
        return;
    }
    let keys = sweeps.keys();
    let known = sweeps.journal_jobs();
    let Ok(jobs) = submitter.slurm().tagged_jobs() else {
        return;
    };
    let ghosts: Vec<String> = jobs
        .into_iter()
        .filter(|j| j.held() && keys.contains(&j.tag.sweep_key) && !known.contains(&j.job_id))
        .map(|j| j.job_id)
        .collect();
    if ghosts.is_empty() {
        return;
    }
    match submitter.slurm().cancel(&ghosts) {
        Ok(()) => warn(format_args!(
            "note: cancelled {} held duplicate job(s) that a stalled controller created after sbatch gave up: {}",
            ghosts.len(),
            ghosts.join(", ")
        )),
        Err(e) => warn(format_args!(
            "warning: held duplicate job(s) {} could not be cancelled ({e}); they never run: scancel {}",
            ghosts.join(", "),
            ghosts.join(" ")
        )),
    }
}

/// The submission loop's state.
struct Run<'a> {
    opts: &'a Options,
    plan: &'a Plan,
    sweeps: &'a mut Sweeps,
    submitter: &'a mut Submitter,
    /// Room in the queue (`--max-queued`): every `sbatch` goes through it.
    queue: Queue,
    out: &'a mut Out,
}

impl Run<'_> {
    /// Submits each record still to submit, in order, and writes every record out, flushed,
    /// before the next `sbatch`. The records are read from the spool a window ahead, so that
    /// their job scripts are saved (synced) while earlier records' `sbatch` calls run.
    fn submit_all(
        &mut self,
        spool: &Spool,
        fates: &[Fate],
        prepared: &mut Prepared,
        saver: &Saver,
    ) -> Result<ExitCode> {
        let total = spool.len();
        let mut progress = Progress::new(total);
        let mut first_failure: Option<String> = None;
        let mut failed = 0;
        let mut stop: Option<String> = None;
        let mut window = VecDeque::new();
        let mut records = spool.records()?;
        loop {
            while window.len() < Saver::AHEAD {
                let Some(item) = records.next() else { break };
                let sweeps = &*self.sweeps;
                window.push_back(next_record(
                    item, fates, prepared, false, self.plan, sweeps, saver,
                )?);
            }
            let Some((i, Sourced { origin, mut record }, ready)) = window.pop_front() else {
                break;
            };
            let Some(ready) = ready else {
                let state = match &fates[i] {
                    Fate::Keep { state, .. } => state.clone(),
                    Fate::Submit => unreachable!("a record to submit is ready"),
                };
                progress.kept(&record, &state);
                self.write(&origin, &record)?;
                continue;
            };
            if let Some(why) = &stop {
                record.submit_status = Some(SubmitStatus::NotSubmitted);
                record.submit_error = Some(why.clone());
                failed += 1;
                self.write(&origin, &record)?;
                continue;
            }
            // The job script must be on disk before its sbatch.
            let unreachable = match saver.saved() {
                Ok(()) => self.submit_record(&ready, &mut record)?,
                Err(e) => {
                    record.submit_status = Some(SubmitStatus::Failed);
                    record.submit_error = Some(format!("{e:#}"));
                    false
                }
            };
            progress.report(&record);
            self.write(&origin, &record)?;
            if let Some(err) = &record.submit_error {
                failed += 1;
                first_failure.get_or_insert_with(|| format!("{origin}: {err}"));
                if unreachable {
                    stop = Some(format!(
                        "not attempted: Slurm did not answer for an earlier record ({origin})"
                    ));
                } else if self.opts.fail_fast {
                    stop = Some(format!(
                        "not attempted: an earlier record failed ({origin})"
                    ));
                }
            }
        }
        progress.finish();
        self.out
            .flush()
            .map_err(|e| anyhow!("failed to write the records: {e}"))?;
        match first_failure {
            None => Ok(ExitCode::SUCCESS),
            Some(first) => {
                anyhow::bail!("{failed} of {total} records not submitted; first: {first}")
            }
        }
    }

    /// Writes one record and flushes it. Once this run has submitted jobs, a record that
    /// cannot be written (stdout closed, disk full) is an error naming its jobs: never the
    /// quiet exit of a closed pipe, since Slurm now holds jobs nobody was told about.
    fn write(&mut self, origin: &str, r: &Record) -> Result<()> {
        self.out
            .write_flush(r)
            .map_err(|e| anyhow!("{}: {e}", unwritten(origin, r)))
    }

    /// Submits one record and its `--retries` follow-ups, filling in the outcome and writing
    /// each job into the journal as soon as `sbatch` returns it. Returns true when it failed
    /// because Slurm stayed unreachable through every attempt (so the rest is not tried).
    fn submit_record(&mut self, ready: &Ready, r: &mut Record) -> Result<bool> {
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
        let retries = ready.options.retries;
        // The job waits for room for itself and its follow-ups (--max-queued).
        let room = 1 + retries as usize;
        let (job_id, cluster) = match self
            .queue
            .submit(self.submitter, &ready.options, room, |s| {
                s.submit(&argv, &tag, &known)
            }) {
            Done::Submitted { job_id, cluster } => (job_id, cluster),
            Done::Failed { message, transient } => {
                r.submit_status = Some(SubmitStatus::Failed);
                r.submit_error = Some(message);
                return Ok(transient);
            }
        };
        r.submit_status = Some(SubmitStatus::Submitted);
        r.submitted_at = Some(now());
        r.job_id = Some(job_id.clone());
        r.cluster = cluster;
        self.journal(ready, r)?;
        let hold = prepare::user_holds(&ready.options);
        if !hold {
            self.submitter.releaser.add([job_id.clone()]);
        }
        let mut chain = vec![job_id.clone()];
        known.push(job_id);
        for n in 1..=retries {
            let argv = self.plan.argv(&ready.options, &tag, &chain, &script);
            match self.queue.submit(self.submitter, &ready.options, 1, |s| {
                s.submit(&argv, &tag, &known)
            }) {
                Done::Submitted { job_id, .. } => {
                    r.retry_job_ids.push(job_id.clone());
                    self.journal(ready, r)?;
                    if !hold {
                        self.submitter.releaser.add([job_id.clone()]);
                    }
                    chain.push(job_id.clone());
                    known.push(job_id);
                }
                Done::Failed { message, transient } => {
                    r.submit_error = Some(format!("follow-up job {n} of {retries}: {message}"));
                    return Ok(transient);
                }
            }
        }
        Ok(false)
    }

    /// Writes the record's current submission into its sweep directory's journal. A journal
    /// that cannot be written stops the run: the next run would not know this job.
    fn journal(&mut self, ready: &Ready, r: &Record) -> Result<()> {
        let s = Submitted {
            at: r.submitted_at.clone().unwrap_or_default(),
            id: r.id.clone(),
            index: r.index,
            job_id: r.job_id.clone().expect("submitted"),
            cluster: r.cluster.clone(),
            retry_job_ids: r.retry_job_ids.clone(),
            tag: r.tag.clone().unwrap_or_default(),
            job_name: r.job_name.clone().unwrap_or_default(),
            job_script: r.job_script.clone().unwrap_or_default(),
            log_dir: r.log_dir.clone().unwrap_or_default(),
            options: ready.options_hash.clone(),
        };
        let dir = r.sweep_dir.clone().expect("placed");
        self.sweeps.journal(&dir, &s).map_err(|e| {
            anyhow!(
                "{}, but the sweep's journal could not be written: {e:#}",
                jobs_of(r)
            )
        })
    }
}

/// What a record that could not be written had: the jobs it submitted, and their tag, must
/// still reach the user.
fn unwritten(origin: &str, r: &Record) -> String {
    match r.job_id {
        None => format!("{origin}: failed to write the record"),
        Some(_) => format!(
            "{origin}: {} but its record could not be written",
            jobs_of(r)
        ),
    }
}

/// `job 12, 13 submitted (tag sweep:...)`: a record's job and follow-ups.
fn jobs_of(r: &Record) -> String {
    let jobs: Vec<&str> = r
        .job_id
        .iter()
        .chain(&r.retry_job_ids)
        .map(String::as_str)
        .collect();
    format!(
        "job {} submitted (tag {})",
        jobs.join(", "),
        r.tag.as_deref().unwrap_or_default()
    )
}

/// The current local time, RFC 3339 with seconds.
fn now() -> String {
    chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}
