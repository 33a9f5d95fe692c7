//! Putting Slurm's answers into the records.
//!
//! A combination's `state` is that of its current attempt: `job_id`, or, when it failed, the
//! `--retries` follow-up that took over (then `state_job_id` names it). `retry_states` has
//! every follow-up's own state. A final state already recorded is kept when Slurm no longer
//! knows the job (purged from squeue, accounting disabled).
//!
//! A state is taken only from a job that carries the record's tag ([`Record::own_tag`];
//! [`sweep::slurm::Seen`]): an ID that Slurm now shows on another job (IDs restart when a
//! controller's state is rebuilt, and wrap) is someone else's job, said once on stderr, and
//! the record keeps what it knew. A record without a tag gets no state from Slurm unless the
//! user trusts its job IDs (`--trust-job-ids`).

use anyhow::Result;
use std::collections::BTreeSet;
use sweep::record::JobStatus;
use sweep::slurm::{Answers, JobInfo, JobRef, Seen, Slurm};
use sweep::{JobState, Record};

/// Which combinations a lookup asks about.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every job: current, retries, and earlier submissions in `history`.
    All,
    /// Combinations not yet in a final state (current job and retries).
    Unsettled,
    /// Ended combinations with loose ends: no exit code from accounting yet, or `--retries`
    /// follow-ups not ended yet (Slurm cancels unneeded ones a moment later).
    LooseEnds,
}

impl Scope {
    /// True when `r` is in this scope.
    pub fn wants(self, r: &Record) -> bool {
        r.job_id.is_some()
            && match self {
                Scope::All => true,
                Scope::Unsettled => !settled(r),
                Scope::LooseEnds => settled(r) && loose_ends(r),
            }
    }
}

/// True when an ended combination may still learn its exit code or its retries' end.
fn loose_ends(r: &Record) -> bool {
    let unknown = r.status.state == Some(JobState::Unknown);
    let no_exit_code = r.status.exit_code.is_none() && !unknown;
    no_exit_code || r.status.retry_states.iter().any(|s| !s.is_final())
}

/// The jobs of the combinations in `scope`, each with the tag it must carry.
fn jobs_of(records: &[Record], scope: Scope) -> Vec<JobRef> {
    let mut jobs = Vec::new();
    for r in records.iter().filter(|r| scope.wants(r)) {
        let tag = r.own_tag();
        let mut push =
            |id: &str, tag: Option<&str>| jobs.push(JobRef::new(r.cluster.as_deref(), id, tag));
        r.job_id.iter().for_each(|id| push(id, tag.as_deref()));
        r.retry_job_ids
            .iter()
            .for_each(|id| push(id, tag.as_deref()));
        if scope == Scope::All {
            for h in &r.history {
                // Each earlier job carries the tag of what it measured.
                push(&h.job_id, r.tag_for(h.concurrencies.as_deref()).as_deref());
            }
        }
    }
    jobs
}

/// True when nothing more will happen to this combination in Slurm.
pub fn settled(r: &Record) -> bool {
    r.job_id.is_none() || r.status.state.as_ref().is_some_and(JobState::is_final)
}

/// What one refresh learnt besides the states.
#[derive(Default)]
pub struct Refreshed {
    /// Jobs whose state is UNKNOWN because accounting is disabled.
    pub unknowable: usize,
    /// sacct said accounting is disabled.
    pub accounting_disabled: bool,
    /// Job IDs the records name that Slurm shows on another job: `ID (comment ...)`.
    pub foreign: BTreeSet<String>,
    /// Job IDs of records without a tag, not asked about (no `--trust-job-ids`).
    pub untagged: BTreeSet<String>,
}

impl Refreshed {
    /// Says on stderr, once, what could not be known and why: jobs Slurm no longer knows
    /// with accounting disabled, IDs that name someone else's job now, records without a tag.
    pub fn note(&self) {
        note_unknowable(self.unknowable);
        note_not_ours(&self.foreign, &self.untagged);
    }
}

/// A note on stderr when some jobs' states cannot be known.
pub fn note_unknowable(n: usize) {
    if n > 0 {
        sweep::cli::warn(format_args!(
            "note: {n} job(s) are no longer in squeue and Slurm accounting is disabled: their state is UNKNOWN"
        ));
    }
}

/// Notes on stderr for job IDs that were not used: IDs Slurm shows on someone else's job,
/// and IDs of records without a tag.
pub fn note_not_ours(foreign: &BTreeSet<String>, untagged: &BTreeSet<String>) {
    if !foreign.is_empty() {
        sweep::cli::warn(format_args!(
            "note: {} job ID(s) the records name belong to other jobs in Slurm now (IDs are reused after a controller's state is rebuilt, and wrap): not used, left alone: {}",
            foreign.len(),
            list(foreign)
        ));
    }
    if !untagged.is_empty() {
        sweep::cli::warn(format_args!(
            "note: {} job ID(s) come from records without a tag (straight from sweep-expand, set by hand, or the seed's manifest): Slurm cannot say they are this sweep's, so they were not used (--trust-job-ids takes them as they are): {}",
            untagged.len(),
            list(untagged)
        ));
    }
}

/// `a, b, c` (the first 20, then how many more).
fn list(items: &BTreeSet<String>) -> String {
    let mut shown: Vec<String> = items.iter().take(20).cloned().collect();
    if items.len() > 20 {
        shown.push(format!("... ({} more)", items.len() - 20));
    }
    shown.join(", ")
}

/// Looks up the states of the jobs in `scope` and puts them into the records; `trusted`
/// (`--trust-job-ids`): a record without a tag takes the state of whatever job its ID names.
pub fn refresh(
    slurm: &Slurm,
    records: &mut [Record],
    scope: Scope,
    trusted: bool,
) -> Result<Refreshed> {
    let answers = slurm.lookup(&jobs_of(records, scope))?;
    let mut done = Refreshed {
        accounting_disabled: answers.accounting_disabled,
        ..Refreshed::default()
    };
    for r in records.iter_mut().filter(|r| scope.wants(r)) {
        apply(r, &answers, trusted, &mut done);
    }
    Ok(done)
}

/// Sets one record's status from the answers, counting in `done` what could not be known.
fn apply(r: &mut Record, answers: &Answers, trusted: bool, done: &mut Refreshed) {
    let job_id = r.job_id.clone().unwrap_or_default();
    let tag = r.own_tag();
    let mut not_ours: Option<String> = None;
    let mut lookup = |id: &str| -> Option<JobInfo> {
        let seen = answers.of(&JobRef::new(r.cluster.as_deref(), id, tag.as_deref()));
        match seen {
            Seen::Foreign(info) => {
                done.foreign.insert(info.as_foreign(id));
                not_ours.get_or_insert(format!(
                    "job {id} now names another job in Slurm (its ID was reused: a rebuilt controller, or IDs that wrapped): this job's state cannot be known"
                ));
            }
            Seen::Unchecked(_) if !trusted => {
                done.untagged.insert(id.to_string());
                not_ours.get_or_insert(format!(
                    "the record has no tag: Slurm cannot say job {id} is this combination's (--trust-job-ids takes it as it is)"
                ));
            }
            _ => {}
        }
        seen.info(trusted).cloned()
    };
    let chain: Vec<String> = std::iter::once(job_id.clone())
        .chain(r.retry_job_ids.iter().cloned())
        .collect();
    let infos: Vec<Option<JobInfo>> = chain.iter().map(|id| lookup(id)).collect();
    let current = current_attempt(&infos);
    let retry_states = infos[1..]
        .iter()
        .map(|i| i.as_ref().map_or(JobState::Unknown, |i| i.state.clone()))
        .collect();
    let new = match &infos[current] {
        Some(info) => status_of(info),
        None if settled(r) && current == 0 => r.status.clone(),
        None => match not_ours.take() {
            Some(why) => JobStatus {
                state: Some(JobState::Unknown),
                state_reason: Some(why),
                state_source: Some("none".to_string()),
                ..JobStatus::default()
            },
            None => {
                done.unknowable += usize::from(answers.accounting_disabled);
                unknown(answers.accounting_disabled)
            }
        },
    };
    let state_job_id = Some(chain[current].clone()).filter(|id| *id != job_id);
    // A failure read earlier stays while it describes the same end of the same job, as
    // Slurm tells it (the job's files may since have been cleaned up); anything else, or an
    // end Slurm now says more about (who cancelled it, when, after how long: accounting may
    // learn a cancelled job's run time after the first read that saw it end), is read afresh.
    let old = &r.status;
    let same_end = old.state == new.state
        && old.state_job_id == state_job_id
        && old.cancelled_by == new.cancelled_by
        && old.ended_at == new.ended_at
        && old.elapsed == new.elapsed
        && old.time_limit == new.time_limit;
    let failure = r.status.failure.take().filter(|_| same_end);
    r.status = JobStatus {
        retry_states,
        state_job_id,
        failure,
        ..new
    };
    let tags: Vec<Option<String>> = r
        .history
        .iter()
        .map(|h| r.tag_for(h.concurrencies.as_deref()))
        .collect();
    for (h, tag) in r.history.iter_mut().zip(tags) {
        let job = JobRef::new(r.cluster.as_deref(), &h.job_id, tag.as_deref());
        let seen = answers.of(&job);
        if let Seen::Foreign(info) = &seen {
            done.foreign.insert(info.as_foreign(&h.job_id));
        }
        if let Some(info) = seen.info(trusted) {
            h.state = Some(info.state.clone());
        }
    }
}

/// The attempt that decides the combination's state: the first that completed, is still
/// to run, or is unknown; else (all failed) the last.
fn current_attempt(infos: &[Option<JobInfo>]) -> usize {
    infos
        .iter()
        .position(|i| match i {
            None => true,
            Some(i) => i.state == JobState::Completed || !i.state.is_final(),
        })
        .unwrap_or(infos.len() - 1)
}

fn status_of(info: &JobInfo) -> JobStatus {
    JobStatus {
        state: Some(info.state.clone()),
        state_reason: info.reason.clone(),
        exit_code: info.exit_code.clone(),
        elapsed: info.elapsed.clone(),
        node_list: info.node_list.clone(),
        time_limit: info.time_limit.clone(),
        ended_at: info.ended_at.clone(),
        cancelled_by: info.cancelled_by.clone(),
        state_source: Some(info.source.to_string()),
        ..JobStatus::default()
    }
}

fn unknown(accounting_disabled: bool) -> JobStatus {
    let reason = if accounting_disabled {
        "no longer in squeue and Slurm accounting is disabled: the state cannot be known"
    } else {
        "neither squeue nor sacct knows this job"
    };
    JobStatus {
        state: Some(JobState::Unknown),
        state_reason: Some(reason.to_string()),
        state_source: Some("none".to_string()),
        ..JobStatus::default()
    }
}
