//! Pass 4, sbatch: one `sbatch --parsable --hold` per record still to submit, in order, each
//! record written (and flushed) before the next `sbatch` starts. The job scripts are rendered
//! again and saved a window ahead ([`Saver`]); each job waits for room in the queue
//! ([`queue`]), is submitted for good ([`retry`]), written into its sweep's journal, and
//! released by [`release`]; [`report`] shows the progress.

pub mod answer;
mod caps;
mod pacing;
pub mod queue;
mod release;
mod report;
pub mod retry;

use crate::judge::{self, Fate};
use crate::prepare::plan::{Plan, PreparedJob, Saver};
use crate::prepare::{Distinct, Prepared};
use crate::preview::Tally;
use crate::read::{Placed, Spool};
use crate::sweepconfig::Tee;
use crate::sweeps::Sweeps;
use anyhow::{anyhow, Result};
use queue::Queue;
use report::Progress;
use retry::{Done, Submitter};
use std::collections::VecDeque;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;
use sweep::cli::warn;
use sweep::record::SubmitStatus;
use sweep::{Record, Submission, Timestamp};

/// Where submitted records go: stdout, and with `--sweep-config` the sweep's manifest.
pub type Out = sweep::jsonl::Writer<Tee>;

/// A record to submit, ready: its job (its script handed to the saver) and its options.
struct Ready {
    job: PreparedJob,
    options: Rc<Distinct>,
}

/// A record of the submission pass: filled for its fate and, when it is to be submitted,
/// prepared (its directories made, its job script handed to the saver).
fn next_record(
    item: Result<(usize, Placed)>,
    fates: &[Fate],
    prepared: &mut Prepared,
    plan: &Plan,
    sweeps: &Sweeps,
    saver: &Saver,
) -> Result<(usize, Placed, Option<Ready>)> {
    let (i, mut p) = item?;
    judge::fill(sweeps, &mut p, &fates[i]);
    if fates[i] != Fate::Submit {
        return Ok((i, p, None));
    }
    let options = prepared.next();
    let d = &options;
    let (job, script) = plan.prepare(&mut p.record, &sweeps[p.dir], &d.options, &d.builder)?;
    script.make_dirs()?;
    saver.save(script)?;
    Ok((i, p, Some(Ready { job, options })))
}

/// The records of a window ahead of the one being submitted (their scripts being saved).
struct Window<'a> {
    records: crate::read::Records<'a>,
    ahead: VecDeque<(usize, Placed, Option<Ready>)>,
}

impl<'a> Window<'a> {
    fn new(spool: &'a Spool) -> Result<Window<'a>> {
        Ok(Window {
            records: spool.records()?,
            ahead: VecDeque::new(),
        })
    }

    /// The next record, with up to [`Saver::AHEAD`] more prepared behind it.
    fn next(
        &mut self,
        fates: &[Fate],
        prepared: &mut Prepared,
        plan: &Plan,
        sweeps: &Sweeps,
        saver: &Saver,
    ) -> Result<Option<(usize, Placed, Option<Ready>)>> {
        while self.ahead.len() < Saver::AHEAD {
            let Some(item) = self.records.next() else {
                break;
            };
            let next = next_record(item, fates, prepared, plan, sweeps, saver)?;
            self.ahead.push_back(next);
        }
        Ok(self.ahead.pop_front())
    }
}

/// `--dry-run`: each record to submit, once its job script is saved (in the preview
/// directory), marked `dry_run`; kept records as they are.
#[allow(clippy::too_many_arguments)]
pub fn dry_run(
    spool: &Spool,
    fates: &[Fate],
    prepared: &mut Prepared,
    plan: &Plan,
    sweeps: &Sweeps,
    saver: &Saver,
    out: &mut Out,
    tally: &mut Tally,
) -> Result<ExitCode> {
    let mut window = Window::new(spool)?;
    while let Some((_, mut p, ready)) = window.next(fates, prepared, plan, sweeps, saver)? {
        match ready {
            Some(_) => {
                saver.saved()?;
                p.record.submit_status = Some(SubmitStatus::DryRun);
                tally.count_submitted(&p.record);
            }
            None => tally.kept += 1,
        }
        out.write(&p.record)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The submission loop's state.
pub struct Run<'a> {
    pub plan: &'a Plan,
    pub sweeps: &'a mut Sweeps,
    pub submitter: &'a mut Submitter,
    /// Room in the queue (`--max-queued`): every `sbatch` goes through it.
    pub queue: Queue,
    pub out: &'a mut Out,
    /// Stop at the first record that cannot be submitted.
    pub fail_fast: bool,
    /// What became of the records, for the line the run ends with.
    pub tally: &'a mut Tally,
}

impl Run<'_> {
    /// Submits each record still to submit, in order, and writes every record out, flushed,
    /// before the next `sbatch`. The records are read from the spool a window ahead, so that
    /// their job scripts are saved (synced) while earlier records' `sbatch` calls run.
    pub fn all(
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
        let mut window = Window::new(spool)?;
        while let Some((i, mut p, ready)) =
            window.next(fates, prepared, self.plan, self.sweeps, saver)?
        {
            // A signal stops the run before the next sbatch (see crate::interrupt).
            if crate::interrupt::requested().is_some() {
                break;
            }
            let Some(ready) = ready else {
                if let Fate::Keep { state, .. } = &fates[i] {
                    progress.kept(&p.record, state);
                }
                self.tally.kept += 1;
                self.write(&p.origin, &p.record)?;
                continue;
            };
            if let Some(why) = &stop {
                p.record.submit_status = Some(SubmitStatus::NotSubmitted);
                p.record.submit_error = Some(why.clone());
                failed += 1;
                self.tally.failed += 1;
                self.write(&p.origin, &p.record)?;
                continue;
            }
            // The job script must be on disk before its sbatch.
            let unreachable = match saver.saved() {
                Ok(()) => self.submit(&ready, &mut p)?,
                Err(e) => {
                    p.record.submit_status = Some(SubmitStatus::Failed);
                    p.record.submit_error = Some(format!("{e:#}"));
                    false
                }
            };
            // Interrupted before its job existed: the record is not written (the run stops
            // here); one whose job exists is, as always.
            if crate::interrupt::requested().is_some() && p.record.job_id.is_none() {
                break;
            }
            progress.report(&p.record);
            match p.record.job_id.is_some() {
                true => self.tally.count_submitted(&p.record),
                false => self.tally.failed += 1,
            }
            self.write(&p.origin, &p.record)?;
            if let Some(err) = &p.record.submit_error {
                failed += 1;
                first_failure.get_or_insert_with(|| format!("{}: {err}", p.origin));
                if unreachable {
                    stop = Some(format!(
                        "not attempted: Slurm did not answer for an earlier record ({})",
                        p.origin
                    ));
                } else if self.fail_fast {
                    stop = Some(format!(
                        "not attempted: an earlier record failed ({})",
                        p.origin
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
    fn submit(&mut self, ready: &Ready, p: &mut Placed) -> Result<bool> {
        let (job, options) = (&ready.job, &ready.options.options);
        // Jobs of earlier submissions carry the same tag: a look-up must never take them.
        let mut known: Vec<String> = p
            .record
            .history
            .iter()
            .flat_map(Submission::jobs)
            .cloned()
            .collect();
        let retries = options.retries;
        // Asked before the first sbatch (once per run), so that nothing comes between a job
        // and its journal line.
        let here = self.submitter.cluster_name();
        // The job waits for room for itself and its follow-ups (--max-queued).
        let room = 1 + retries as usize;
        let submitted = self.queue.submit(self.submitter, options, room, |s| {
            s.submit(&job.argv, &job.tag, &known)
        });
        let (job_id, cluster) = match submitted {
            Done::Submitted { job_id, cluster } => (job_id, cluster),
            Done::Failed { message, transient } => {
                p.record.submit_status = Some(SubmitStatus::Failed);
                p.record.submit_error = Some(message);
                return Ok(transient);
            }
        };
        let r = &mut p.record;
        let mut s = Submission {
            submitted_at: Some(Timestamp::now()),
            cluster_name: cluster.clone().or(here),
            cluster,
            tag: Some(job.tag.clone()),
            job_name: r.job_name.clone(),
            job_script: r.job_script.clone(),
            log_dir: r.log_dir.clone(),
            options: Some(ready.options.hash.clone()),
            gpus_per_node: r.gpus_per_node,
            sbatch_command: r.sbatch_command.clone(),
            concurrencies: r.concurrencies.clone(),
            ..Submission::of_job(job_id.clone())
        };
        r.set_current(s.clone());
        r.submit_status = Some(SubmitStatus::Submitted);
        self.journal(p, &s)?;
        self.submitter.releaser.add([job_id.clone()]);
        let mut chain = vec![job_id.clone()];
        known.push(job_id);
        for n in 1..=retries {
            let argv = self.plan.argv(options, &job.tag, &chain, &job.script);
            match self.queue.submit(self.submitter, options, 1, |sub| {
                sub.submit(&argv, &job.tag, &known)
            }) {
                Done::Submitted { job_id, .. } => {
                    s.retry_job_ids.push(job_id.clone());
                    p.record.retry_job_ids.push(job_id.clone());
                    self.journal(p, &s)?;
                    self.submitter.releaser.add([job_id.clone()]);
                    chain.push(job_id.clone());
                    known.push(job_id);
                }
                Done::Failed { message, transient } => {
                    p.record.submit_error =
                        Some(format!("follow-up job {n} of {retries}: {message}"));
                    return Ok(transient);
                }
            }
        }
        Ok(false)
    }

    /// Writes submission `s` of the record into its sweep directory's journal. A journal
    /// that cannot be written stops the run: the next run would not know this job.
    fn journal(&mut self, p: &Placed, s: &Submission) -> Result<()> {
        let r = &p.record;
        self.sweeps[p.dir].journal(&r.id, r.index, s).map_err(|e| {
            anyhow!(
                "{}, but the sweep's journal could not be written: {e:#}",
                jobs_of(r)
            )
        })
    }
}

/// Says on stderr what judging the sweep's state did besides keeping records: held
/// duplicates cancelled, combinations kept with a state nobody knows.
pub fn report_judged(judged: &judge::Judged, submitter: &mut Submitter) {
    let ghosts = &judged.ghosts;
    if !ghosts.is_empty() {
        match submitter.slurm().cancel(ghosts) {
            Ok(()) => warn(format_args!(
                "note: cancelled {} held job(s) that no record or journal names (a stalled controller's duplicates, or a run killed before it wrote them down): {}",
                ghosts.len(),
                ghosts.join(", ")
            )),
            Err(e) => warn(format_args!(
                "warning: {} held duplicate job(s) could not be cancelled ({e}); they stay held and never run: scancel {}",
                ghosts.len(),
                ghosts.join(" ")
            )),
        }
    }
    let foreign = &judged.foreign;
    if !foreign.is_empty() {
        let shown: Vec<&str> = foreign.iter().take(20).map(String::as_str).collect();
        let more = match foreign.len() > 20 {
            true => format!(", ... ({} more)", foreign.len() - 20),
            false => String::new(),
        };
        warn(format_args!(
            "note: {} job ID(s) this sweep's journal or records name belong to other jobs in Slurm now (IDs are reused after a controller's state is rebuilt, and wrap): their state is not used, and they are left alone: {}{more}",
            foreign.len(),
            shown.join(", ")
        ));
    }
    let elsewhere = &judged.elsewhere;
    if !elsewhere.is_empty() {
        let shown: Vec<&str> = elsewhere.iter().take(20).map(String::as_str).collect();
        warn(format_args!(
            "note: {} job(s) of this sweep were submitted on another cluster than this one: their IDs mean nothing here, and they were not asked about: {}",
            elsewhere.len(),
            shown.join(", ")
        ));
    }
    if judged.unknown > 0 {
        note_unknown(judged.unknown);
    }
}

/// The note on combinations kept because Slurm no longer knows their job's state.
pub fn note_unknown(n: usize) {
    warn(format_args!(
        "note: {n} combination(s) not submitted again: Slurm no longer knows the state of their job (accounting disabled, purged, its ID given to another job, or another cluster's); pipe in the manifest with its states, or use --resubmit-completed"
    ));
}

/// Releases the jobs still waiting; an error naming them when Slurm would not.
pub fn finish_releases(
    submitter: &mut Submitter,
    attempts: u32,
    backoff: Duration,
) -> Option<anyhow::Error> {
    let (unknown, held) = submitter.releaser.finish(attempts, backoff);
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
pub fn cancel_ghosts(submitter: &mut Submitter, sweeps: &Sweeps) {
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
