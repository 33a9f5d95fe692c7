//! Pass 2, judge: what the sweep already has. For each combination, the submissions its
//! sweep directory's journal (`.sweep/submissions.jsonl`), the record itself and Slurm (by
//! tag) know of, and their jobs' states; from that, whether the combination is submitted
//! again.
//!
//! A combination is **not** submitted again when any of its jobs is pending (held or not),
//! running, or completed (completed only without `--resubmit-completed`), or when Slurm no
//! longer knows the state of its latest job (purged from squeue, no accounting) and the record
//! does not say it failed: a second job of a sweep costs GPU-hours, a missing one a re-run.
//! Failed, cancelled, timed-out and never-submitted combinations are submitted.
//!
//! Jobs held on their tag that no journal line or record mentions are the ghosts of a stalled
//! controller (sbatch timed out, the controller created the job later) or of a run killed
//! between `sbatch` and its journal line: never released, they are cancelled.

use crate::read::{Placed, Spool};
use crate::sweeps::{Dir, Sweeps};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use sweep::record::{JobStatus, SubmitStatus};
use sweep::slurm::{JobRef, Slurm, TaggedJob};
use sweep::state::Submissions;
use sweep::{JobState, Record, Submission, Timestamp};

/// What happens to one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// Submit it (again).
    Submit,
    /// It already has a job: passed through with it (`state` as Slurm or the record knew it);
    /// `pos` is that submission among the combination's (see [`fill`]).
    Keep { pos: usize, state: JobState },
}

/// The judgement of every record of a run.
pub struct Judged {
    /// One per record, in order.
    pub fates: Vec<Fate>,
    /// Held jobs of kept combinations, to release (a run killed before it released them).
    pub release: Vec<String>,
    /// Combinations kept because Slurm no longer knows their job's state.
    pub unknown: usize,
    /// Held jobs of these sweeps that no journal line or record names (a stalled
    /// controller's duplicates, a killed run's last job): to cancel.
    pub ghosts: Vec<String>,
}

/// Judges every record of `spool`. Slurm is asked (one tag query and the states of the jobs
/// the journals and records know) only when some directory had a submission or some record
/// names a job: a fresh sweep's first run, and a dry run, need no Slurm call.
pub fn all(
    spool: &Spool,
    sweeps: &mut Sweeps,
    slurm: Option<&Slurm>,
    resubmit_completed: bool,
) -> Result<Judged> {
    let mut judged = Judged {
        fates: vec![Fate::Submit; spool.len()],
        release: Vec::new(),
        unknown: 0,
        ghosts: Vec::new(),
    };
    let Some(slurm) = slurm.filter(|_| needs_slurm(sweeps, &spool.named_jobs)) else {
        return Ok(judged);
    };
    let snap = Snapshot::take(sweeps, slurm, &spool.named_jobs)?;
    // Every job the records and journals know (to tell held duplicates apart).
    let mut known: BTreeSet<String> = BTreeSet::new();
    for item in spool.records()? {
        let (i, p) = item?;
        let dir = &mut sweeps[p.dir];
        known.extend(known_jobs(&p.record, dir.submissions()));
        adopt_orphans(dir, &p.record, &snap)?;
        let subs = submissions(&p.record, dir.submissions());
        known.extend(subs.iter().flat_map(Submission::jobs).cloned());
        let Some((pos, state)) = decide(&subs, &snap, resubmit_completed) else {
            continue;
        };
        for job in subs[pos].jobs() {
            if snap.states.get(job).is_some_and(|s| s.held) {
                judged.release.push(job.clone());
            }
        }
        if state == JobState::Unknown {
            judged.unknown += 1;
        }
        judged.fates[i] = Fate::Keep { pos, state };
    }
    judged.ghosts = snap
        .tagged
        .iter()
        .filter(|j| j.held() && !known.contains(&j.job_id))
        .map(|j| j.job_id.clone())
        .collect();
    Ok(judged)
}

/// True when Slurm may hold jobs of these records: some directory had a submission before,
/// or some record names a job.
fn needs_slurm(sweeps: &Sweeps, named_jobs: &BTreeSet<String>) -> bool {
    sweeps
        .iter()
        .any(|d| d.submitted_before || !d.submissions().is_empty())
        || !named_jobs.is_empty()
}

/// What Slurm said about one job.
struct Seen {
    state: JobState,
    /// Pending on a hold: it never ran.
    held: bool,
}

/// Jobs of the user that carry a tag of this run's sweeps, and the states of every job the
/// sweeps know.
struct Snapshot {
    tagged: Vec<TaggedJob>,
    /// Every job asked about.
    states: BTreeMap<String, Seen>,
}

impl Snapshot {
    /// One tag query (the user's jobs with their tags, states and reasons), then the states
    /// of every other job the journals and records know, in batched calls.
    fn take(sweeps: &Sweeps, slurm: &Slurm, named_jobs: &BTreeSet<String>) -> Result<Snapshot> {
        let keys = sweeps.keys();
        let tagged: Vec<TaggedJob> = slurm
            .tagged_jobs()
            .context("failed to list this sweep's jobs in Slurm (nothing submitted)")?
            .into_iter()
            .filter(|j| keys.contains(&j.tag.sweep_key))
            .collect();
        let mut states: BTreeMap<String, Seen> = tagged
            .iter()
            .map(|j| {
                let seen = Seen {
                    state: j.state.clone(),
                    held: j.held(),
                };
                (j.job_id.clone(), seen)
            })
            .collect();
        let journaled = sweeps.journal_jobs();
        let refs: Vec<JobRef> = named_jobs
            .iter()
            .chain(&journaled)
            .filter(|j| !states.contains_key(*j))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|job_id| JobRef {
                cluster: None,
                job_id: job_id.clone(),
            })
            .collect();
        if !refs.is_empty() {
            let answers = slurm
                .lookup(&refs)
                .context("failed to read the states of this sweep's jobs (nothing submitted)")?;
            for (job, info) in answers.jobs {
                let held = info.state == JobState::Pending
                    && info
                        .reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with("JobHeld"));
                let seen = Seen {
                    state: info.state,
                    held,
                };
                states.insert(job.job_id, seen);
            }
        }
        Ok(Snapshot { tagged, states })
    }
}

/// Fills in what a record carries for its fate: a kept record gets its job
/// (`submit_status: "already_submitted"`); a record to submit gets every earlier job of its
/// combination in `history`. The same for every pass over the records.
pub fn fill(sweeps: &Sweeps, p: &mut Placed, fate: &Fate) {
    let dir = &sweeps[p.dir];
    let subs = submissions(&p.record, dir.submissions());
    match fate {
        Fate::Keep { pos, .. } => keep(&mut p.record, &subs, *pos, &dir.path),
        Fate::Submit => earlier_into_history(&mut p.record, &subs, &dir.path),
    }
}

/// Every job ID the record and the journal know for the record's combination.
fn known_jobs(r: &Record, subs: &Submissions) -> Vec<String> {
    let mut jobs = subs.job_ids(&r.id);
    jobs.extend(r.every_job().cloned());
    jobs
}

/// In a sweep without a journal: tagged jobs of this combination that the record does not know
/// and that were released (a held one is a ghost, cancelled): submitted by an earlier version,
/// or before the directory was made anew. They are written into the journal, so the next run
/// knows them.
fn adopt_orphans(dir: &mut Dir, r: &Record, snap: &Snapshot) -> Result<()> {
    if dir.had_journal {
        return Ok(());
    }
    let known: BTreeSet<String> = known_jobs(r, dir.submissions()).into_iter().collect();
    for j in &snap.tagged {
        if j.tag.id != r.id || j.tag.sweep_key != dir.key || known.contains(&j.job_id) {
            continue;
        }
        // Held, or cancelled while held: a duplicate that never ran, not a submission.
        if j.never_released() {
            continue;
        }
        // A follow-up of a known job: not a submission of its own.
        if j.dependency
            .as_deref()
            .is_some_and(|d| d.contains("afternotok"))
        {
            continue;
        }
        let s = Submission {
            submitted_at: j.submitted.and_then(Timestamp::from_slurm),
            tag: Some(sweep::tag::format(&j.tag.sweep_key, &j.tag.id, j.tag.index)),
            job_name: Some(j.name.clone()).filter(|n| !n.is_empty()),
            ..Submission::of_job(j.job_id.clone())
        };
        dir.journal(&r.id, r.index, &s)?;
    }
    Ok(())
}

/// The combination's submissions, oldest first: its history, the journal's, then the
/// record's current one (each job once; the record's view of a job wins for what it knows).
fn submissions(r: &Record, subs: &Submissions) -> Vec<Submission> {
    let mut out: Vec<Submission> = Vec::new();
    let add = |s: Submission, out: &mut Vec<Submission>| match out
        .iter_mut()
        .find(|o| o.job_id == s.job_id)
    {
        Some(o) => o.absorb(s),
        None => out.push(s),
    };
    for h in &r.history {
        add(h.clone(), &mut out);
    }
    for s in subs.of(&r.id) {
        add(s.clone(), &mut out);
    }
    if let Some(own) = r.current() {
        // The record's own view first, so its fields win when the journal has the same job.
        match out.iter().position(|o| o.job_id == own.job_id) {
            Some(pos) => {
                let theirs = out.remove(pos);
                add(own, &mut out);
                add(theirs, &mut out);
            }
            None => add(own, &mut out),
        }
    }
    out.sort_by(|a, b| a.submitted_at.cmp(&b.submitted_at));
    out
}

/// The submission that keeps the combination from being submitted again, and its state;
/// `None`: submit it.
fn decide(
    subs: &[Submission],
    snap: &Snapshot,
    resubmit_completed: bool,
) -> Option<(usize, JobState)> {
    // The state of each job: Slurm's, else what the record recorded for the submission.
    let state_of = |s: &Submission, job: &str| -> Option<JobState> {
        match snap.states.get(job) {
            Some(seen) => Some(seen.state.clone()),
            None if s.job_id == job => s.state.clone(),
            None => None,
        }
    };
    // Alive: any job of any submission not in a final state (held included).
    for (pos, s) in subs.iter().enumerate().rev() {
        for job in s.jobs() {
            if let Some(state) = state_of(s, job).filter(|st| !st.is_final()) {
                return Some((pos, state));
            }
        }
    }
    if resubmit_completed {
        return None;
    }
    for (pos, s) in subs.iter().enumerate().rev() {
        if s.jobs()
            .any(|j| state_of(s, j) == Some(JobState::Completed))
        {
            return Some((pos, JobState::Completed));
        }
    }
    // The latest submission's state unknown to Slurm and to the record: it may have
    // completed; do not run it twice.
    let (pos, s) = subs.iter().enumerate().next_back()?;
    let known = s
        .jobs()
        .any(|j| state_of(s, j).is_some_and(|st| st != JobState::Unknown));
    (!known).then_some((pos, JobState::Unknown))
}

/// Fills `r` with the kept submission; every other one goes to `history`.
fn keep(r: &mut Record, subs: &[Submission], pos: usize, dir: &Path) {
    let kept = &subs[pos];
    if r.job_id.as_ref() != Some(&kept.job_id) {
        r.status = JobStatus::default();
        r.submit_error = None;
        r.sbatch_command = None;
        r.extra.shift_remove("reconciled");
    }
    r.set_current(kept.clone());
    r.submit_status = Some(SubmitStatus::AlreadySubmitted);
    r.history = subs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != pos)
        .map(|(_, s)| as_history(s, dir, r.index))
        .collect();
}

/// Every submission but the record's current one into its `history` (the current one is
/// moved there when the record is prepared for its new submission).
fn earlier_into_history(r: &mut Record, subs: &[Submission], dir: &Path) {
    let index = r.index;
    r.history = subs
        .iter()
        .filter(|s| r.job_id.as_ref() != Some(&s.job_id))
        .map(|s| as_history(s, dir, index))
        .collect();
}

/// An earlier submission as a history entry, with the job script a re-submission kept for it.
fn as_history(s: &Submission, dir: &Path, index: u64) -> Submission {
    let kept = crate::prepare::plan::kept_script_path(dir, index, &s.job_id);
    Submission {
        job_id: s.job_id.clone(),
        submitted_at: s.submitted_at.clone(),
        retry_job_ids: s.retry_job_ids.clone(),
        state: s.state.clone(),
        kept_script: s
            .kept_script
            .clone()
            .or_else(|| kept.is_file().then(|| kept.display().to_string())),
        ..Submission::default()
    }
}
