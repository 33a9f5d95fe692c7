//! Putting Slurm's answers into the records.
//!
//! A combination's `state` is that of its current attempt: `job_id`, or, when it failed, the
//! `--retries` follow-up that took over (then `state_job_id` names it). `retry_states` has
//! every follow-up's own state. A final state already recorded is kept when Slurm no longer
//! knows the job (purged from squeue, accounting disabled).

use anyhow::Result;
use sweep::record::JobStatus;
use sweep::slurm::{Answers, JobInfo, JobRef, Slurm};
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

/// The jobs of the combinations in `scope`.
fn jobs_of(records: &[Record], scope: Scope) -> Vec<JobRef> {
    let mut jobs = Vec::new();
    for r in records.iter().filter(|r| scope.wants(r)) {
        let mut push = |id: &str| {
            jobs.push(JobRef {
                cluster: r.cluster.clone(),
                job_id: id.to_string(),
            })
        };
        r.job_id.iter().for_each(|id| push(id));
        r.retry_job_ids.iter().for_each(|id| push(id));
        if scope == Scope::All {
            r.history.iter().for_each(|h| push(&h.job_id));
        }
    }
    jobs
}

/// True when nothing more will happen to this combination in Slurm.
pub fn settled(r: &Record) -> bool {
    r.job_id.is_none() || r.status.state.as_ref().is_some_and(JobState::is_final)
}

/// What one refresh learnt besides the states.
pub struct Refreshed {
    /// Jobs whose state is UNKNOWN because accounting is disabled.
    pub unknowable: usize,
    /// sacct said accounting is disabled.
    pub accounting_disabled: bool,
}

/// A note on stderr when some jobs' states cannot be known.
pub fn note_unknowable(n: usize) {
    if n > 0 {
        sweep::cli::warn(format_args!(
            "note: {n} job(s) are no longer in squeue and Slurm accounting is disabled: their state is UNKNOWN"
        ));
    }
}

/// Looks up the states of the jobs in `scope` and puts them into the records.
pub fn refresh(slurm: &Slurm, records: &mut [Record], scope: Scope) -> Result<Refreshed> {
    let answers = slurm.lookup(&jobs_of(records, scope))?;
    let mut unknowable = 0;
    for r in records.iter_mut().filter(|r| scope.wants(r)) {
        unknowable += apply(r, &answers);
    }
    Ok(Refreshed {
        unknowable,
        accounting_disabled: answers.accounting_disabled,
    })
}

/// Sets one record's status from the answers; returns 1 when its state could not be known
/// because accounting is disabled.
fn apply(r: &mut Record, answers: &Answers) -> usize {
    let job_id = r.job_id.clone().unwrap_or_default();
    let lookup = |id: &str| answer(r, id, answers);
    let chain: Vec<String> = std::iter::once(job_id.clone())
        .chain(r.retry_job_ids.iter().cloned())
        .collect();
    let infos: Vec<Option<JobInfo>> = chain.iter().map(|id| lookup(id)).collect();
    let current = current_attempt(&infos);
    let retry_states = infos[1..]
        .iter()
        .map(|i| i.as_ref().map_or(JobState::Unknown, |i| i.state.clone()))
        .collect();
    let mut unknowable = 0;
    let new = match &infos[current] {
        Some(info) => status_of(info),
        None if settled(r) && current == 0 => r.status.clone(),
        None => {
            unknowable = usize::from(answers.accounting_disabled);
            unknown(answers.accounting_disabled)
        }
    };
    let state_job_id = Some(chain[current].clone()).filter(|id| *id != job_id);
    // A failure read earlier stays while it describes the same end of the same job (the
    // job's files may since have been cleaned up); anything else is read afresh.
    let same_end = r.status.state == new.state && r.status.state_job_id == state_job_id;
    let failure = r.status.failure.take().filter(|_| same_end);
    r.status = JobStatus {
        retry_states,
        state_job_id,
        failure,
        ..new
    };
    for h in r.history.iter_mut() {
        if let Some(info) = answer_for(&r.cluster, &r.tag, &h.job_id, answers) {
            h.state = Some(info.state);
        }
    }
    unknowable
}

fn answer(r: &Record, id: &str, answers: &Answers) -> Option<JobInfo> {
    answer_for(&r.cluster, &r.tag, id, answers)
}

/// Slurm's answer for one job, unless its comment shows the ID now belongs to another job
/// (job IDs restart when a cluster is rebuilt).
fn answer_for(
    cluster: &Option<String>,
    tag: &Option<String>,
    id: &str,
    answers: &Answers,
) -> Option<JobInfo> {
    let key = JobRef {
        cluster: cluster.clone(),
        job_id: id.to_string(),
    };
    let info = answers.jobs.get(&key)?;
    match (&info.comment, tag) {
        (Some(comment), Some(tag)) if comment != tag => None,
        _ => Some(info.clone()),
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
