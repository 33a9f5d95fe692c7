//! Pass 2, judge: what the sweep already has. For each combination, the submissions its
//! sweep directory's journal (`.sweep/submissions.jsonl`), the record itself and Slurm (by
//! tag) know of, and their jobs' states; from that, whether the combination is submitted
//! again. Judging has no side effect: it returns what to do ([`Judged`]), which the run then
//! does ([`adopt`], releases, cancels), so that a plan can show it first.
//!
//! A combination is **not** submitted again when any of its jobs is pending (held or not),
//! running, or completed (completed only without `--resubmit-completed`), or when Slurm no
//! longer knows the state of its latest job (purged from squeue, no accounting, or its ID
//! given to another job) and the record does not say it failed: a second job of a sweep
//! costs GPU-hours, a missing one a re-run. Failed, cancelled, timed-out and never-submitted
//! combinations are submitted.
//!
//! **A job is ours only if Slurm says it carries our tag.** Every job ID the journal or a
//! record names is looked up with the tag its submission was made with (the combination's
//! tag in its sweep directory); an ID that Slurm shows on a job with another comment, or
//! none, is someone else's job (IDs restart when a controller's state is rebuilt, and wrap
//! at `MaxJobId`): its state is never used, it is never released, and it is said once.
//!
//! All of this is per measurement: a record that names its own `concurrencies` (a follow-up
//! round of the adaptive search) is judged on its combination's submissions that measured
//! those concurrencies, and a record without them on those that measured `--profiler`'s. What
//! a submission measured is what the journal says (else its history entry, or its tag in
//! Slurm); every submission of every measurement stays in the record's `history`.
//!
//! Jobs held on their tag that no journal line or record mentions are the ghosts of a stalled
//! controller (sbatch timed out, the controller created the job later) or of a run killed
//! between `sbatch` and its journal line: never released, they are cancelled.
//!
//! When a sweep's journal may lack jobs ([`crate::sweeps::Dir::rebuild`]: moved away,
//! deleted, damaged), the sweep's jobs are found in Slurm by their tag, in squeue and in
//! accounting over `--since`, and those that were released are adopted: written into the
//! journal and judged like any other, so a lost journal never makes a second job.

use crate::read::{DirId, Placed, Spool};
use crate::sweeps::{Dir, Sweeps};
use anyhow::{Context, Result};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use sweep::record::{JobStatus, SubmitStatus};
use sweep::slurm::{Answers, JobRef, Seen, Slurm, TaggedJob};
use sweep::state::Submissions;
use sweep::{JobState, Record, Submission};

/// What happens to one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// Submit it (again).
    Submit,
    /// It already has a job: passed through with it (`state` as Slurm or the record knew it);
    /// `pos` is that submission among the combination's (see [`fill`]).
    Keep { pos: usize, state: JobState },
}

/// A job of the sweep found in Slurm by its tag that its journal did not name: to be written
/// into the journal ([`adopt`]).
#[derive(Debug, Clone)]
pub struct Adopted {
    pub dir: DirId,
    /// The combination's id and number.
    pub id: String,
    pub index: u64,
    pub submission: Submission,
}

/// Why a record is submitted again: its latest earlier job, and that job's state as Slurm
/// (else the record) knows it (`None`: nobody knows). What `--plan` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Earlier {
    pub job_id: String,
    pub state: Option<JobState>,
}

/// The judgement of every record of a run: what to do, not done yet.
pub struct Judged {
    /// One per record, in order.
    pub fates: Vec<Fate>,
    /// One per record, in order: for a record to submit that had a job, the latest one.
    pub earlier: Vec<Option<Earlier>>,
    /// Held jobs of kept combinations, to release (a run killed before it released them).
    pub release: Vec<String>,
    /// Combinations kept because Slurm no longer knows their job's state.
    pub unknown: usize,
    /// Held jobs of these sweeps that no journal line or record names (a stalled
    /// controller's duplicates, a killed run's last job): to cancel.
    pub ghosts: Vec<String>,
    /// Jobs of sweeps whose journal may lack some, found in Slurm by their tag: to write
    /// into their journals before anything else.
    pub adopted: Vec<Adopted>,
    /// Job IDs the journals or records name that Slurm shows on someone else's job now
    /// (`12 (comment "x")`): not used, left alone, said once.
    pub foreign: BTreeSet<String>,
    /// Jobs the journals say were submitted on another cluster than this one
    /// (`12 (cluster a)`): their IDs mean nothing here; not asked about, said once.
    pub elsewhere: BTreeSet<String>,
}

/// Judges every record of `spool`. Slurm is asked (one tag query and the states of the jobs
/// the journals and records know; with a journal that may lack jobs, accounting's tagged jobs
/// since `since` too) only when some directory had a submission or some record names a job:
/// a fresh sweep's first run, and a dry run, need no Slurm call.
pub fn all(
    spool: &Spool,
    sweeps: &Sweeps,
    slurm: Option<&Slurm>,
    resubmit_completed: bool,
    since: &str,
) -> Result<Judged> {
    let mut judged = Judged {
        fates: vec![Fate::Submit; spool.len()],
        earlier: vec![None; spool.len()],
        release: Vec::new(),
        unknown: 0,
        ghosts: Vec::new(),
        adopted: Vec::new(),
        foreign: BTreeSet::new(),
        elsewhere: BTreeSet::new(),
    };
    let Some(slurm) = slurm.filter(|_| needs_slurm(sweeps, &spool.named_jobs)) else {
        return Ok(judged);
    };
    let snap = Snapshot::take(spool, sweeps, slurm, since)?;
    // Every job the records and journals know (to tell held duplicates apart).
    let mut known: BTreeSet<String> = BTreeSet::new();
    for item in spool.records()? {
        let (i, p) = item?;
        let dir = &sweeps[p.dir];
        known.extend(known_jobs(&p.record, dir.submissions()));
        let mut subs = submissions(&p.record, dir.submissions());
        for s in orphans(dir, &p.record, &snap, &subs) {
            known.extend(s.jobs().cloned());
            judged.adopted.push(Adopted {
                dir: p.dir,
                id: p.record.id.clone(),
                index: p.record.index,
                submission: s.clone(),
            });
            subs.push(s);
        }
        subs.sort_by(|a, b| a.submitted_at.cmp(&b.submitted_at));
        let tag = combination_tag(dir, &p.record);
        let seen = |s: &Submission, job: &str| snap.seen(s, job, &tag);
        for s in &subs {
            for job in s.jobs() {
                let seen = seen(s, job);
                judged.foreign.extend(seen.foreign);
                judged.elsewhere.extend(seen.elsewhere);
            }
        }
        let measured = p.record.concurrencies.as_deref();
        let Some((pos, state)) = decide(&subs, &seen, resubmit_completed, measured) else {
            judged.earlier[i] = latest(&subs, &seen, measured);
            continue;
        };
        for job in subs[pos].jobs() {
            if seen(&subs[pos], job).held {
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

/// Writes the jobs judging adopted into their sweeps' journals, so that this run and the
/// next know them (before anything is prepared: [`fill`] reads the journals).
pub fn adopt(judged: &Judged, sweeps: &mut Sweeps) -> Result<()> {
    for a in &judged.adopted {
        sweeps[a.dir].journal(&a.id, a.index, &a.submission)?;
    }
    if !judged.adopted.is_empty() {
        let jobs: Vec<&str> = judged
            .adopted
            .iter()
            .map(|a| a.submission.job_id.as_str())
            .collect();
        sweep::cli::warn(format_args!(
            "note: {} job(s) of this sweep found in Slurm by their tag, which its journal did not name, written into it: {}",
            jobs.len(),
            jobs.join(", ")
        ));
    }
    Ok(())
}

/// True when Slurm may hold jobs of these records: some directory had a submission before
/// (or may have, its journal gone), or some record names a job.
fn needs_slurm(sweeps: &Sweeps, named_jobs: &BTreeSet<String>) -> bool {
    sweeps
        .iter()
        .any(|d| d.submitted_before || d.rebuild || !d.submissions().is_empty())
        || !named_jobs.is_empty()
}

/// The tag of a combination's jobs in its sweep directory: the record's, else the one
/// sweep-submit gives it there.
fn combination_tag(dir: &Dir, r: &Record) -> String {
    r.tag.clone().unwrap_or_else(|| {
        sweep::tag::format_measured(&dir.key, &r.id, r.index, r.concurrencies.as_deref())
    })
}

/// The tag job `s` was submitted with: its own, else its combination's for what it measured.
fn tag_of<'a>(s: &'a Submission, combination: &'a str) -> std::borrow::Cow<'a, str> {
    match &s.tag {
        Some(tag) => tag.into(),
        None => sweep::tag::measuring(combination, s.concurrencies.as_deref()).into(),
    }
}

/// What Slurm says about one job of a submission.
#[derive(Default)]
struct JobSeen {
    /// Its state, when Slurm shows it on a job that carries the submission's tag.
    state: Option<JobState>,
    /// Pending on a hold: it never ran.
    held: bool,
    /// Slurm shows the ID on someone else's job: how to name it.
    foreign: Option<String>,
    /// The job was submitted on another cluster: how to name it.
    elsewhere: Option<String>,
}

/// Jobs of the user that carry a tag of this run's sweeps (squeue, and accounting when a
/// journal may lack jobs), and Slurm's answers for every job the sweeps know.
struct Snapshot {
    tagged: Vec<TaggedJob>,
    /// Accounting's tagged jobs (only when some journal may lack jobs).
    older: Vec<TaggedJob>,
    /// Each listed job by its ID and tag, squeue's first (its state is the live one).
    by_job: HashMap<(String, String), Listed>,
    /// The listed jobs of each combination id, squeue's first.
    by_combination: HashMap<String, Vec<Listed>>,
    answers: Answers,
    /// This cluster's name, when some journaled job names the cluster it went to.
    here: Option<String>,
}

/// A job of [`Snapshot::tagged`] (`false`) or [`Snapshot::older`] (`true`), by position.
#[derive(Clone, Copy)]
struct Listed(bool, usize);

impl Snapshot {
    /// One tag query (the user's jobs with their tags, states and reasons), accounting's
    /// tagged jobs since `since` when some journal may lack jobs, then the states of every
    /// other job the journals and records know, each with the tag it must carry, in batched
    /// calls.
    fn take(spool: &Spool, sweeps: &Sweeps, slurm: &Slurm, since: &str) -> Result<Snapshot> {
        let keys = sweeps.keys();
        let ours = |j: &TaggedJob| keys.contains(&j.tag.sweep_key);
        let tagged: Vec<TaggedJob> = slurm
            .tagged_jobs()
            .context("failed to list this sweep's jobs in Slurm (nothing submitted)")?
            .into_iter()
            .filter(ours)
            .collect();
        let older: Vec<TaggedJob> = match sweeps.rebuilding() {
            true => slurm
                .tagged_in_accounting(since)
                .context(
                    "failed to search Slurm's accounting for this sweep's jobs (nothing submitted)",
                )?
                .unwrap_or_default()
                .into_iter()
                .filter(ours)
                .collect(),
            false => Vec::new(),
        };
        // Which cluster this is, when the journals say where their jobs went (one call).
        let named = sweeps
            .iter()
            .any(|d| d.submissions().all().any(|s| s.cluster_name.is_some()));
        let here = named
            .then(|| slurm.accounting_config().ok().map(|c| c.cluster))
            .flatten();
        let mut by_job = HashMap::new();
        let mut by_combination: HashMap<String, Vec<Listed>> = HashMap::new();
        for (from_older, jobs) in [(false, &tagged), (true, &older)] {
            for (i, j) in jobs.iter().enumerate() {
                let at = Listed(from_older, i);
                by_job.entry((j.job_id.clone(), j.tag_text())).or_insert(at);
                by_combination.entry(j.tag.id.clone()).or_default().push(at);
            }
        }
        let mut snap = Snapshot {
            tagged,
            older,
            by_job,
            by_combination,
            answers: Answers::default(),
            here,
        };
        // Every job of every submission the journals and records know, with its tag; those
        // the tag query listed need no second look.
        let mut refs: BTreeSet<JobRef> = BTreeSet::new();
        for item in spool.records()? {
            let (_, p) = item?;
            let dir = &sweeps[p.dir];
            let tag = combination_tag(dir, &p.record);
            for s in submissions(&p.record, dir.submissions()) {
                for job in s.jobs() {
                    let t = tag_of(&s, &tag);
                    if snap.listed(job, &t).is_none() && snap.other_cluster(&s).is_none() {
                        refs.insert(JobRef::new(s.cluster.as_deref(), job, Some(&t)));
                    }
                }
            }
        }
        if !refs.is_empty() {
            let refs: Vec<JobRef> = refs.into_iter().collect();
            snap.answers = slurm
                .lookup(&refs)
                .context("failed to read the states of this sweep's jobs (nothing submitted)")?;
        }
        Ok(snap)
    }

    /// The cluster `s` was submitted on, when it is not this one (and not asked with `-M`).
    fn other_cluster<'a>(&self, s: &'a Submission) -> Option<&'a str> {
        let (there, here) = (s.cluster_name.as_deref()?, self.here.as_deref()?);
        (s.cluster.is_none() && there != here).then_some(there)
    }

    /// A listed job.
    fn get(&self, at: Listed) -> &TaggedJob {
        match at {
            Listed(false, i) => &self.tagged[i],
            Listed(true, i) => &self.older[i],
        }
    }

    /// The job `job` as the tag queries listed it, carrying `tag`.
    fn listed(&self, job: &str, tag: &str) -> Option<&TaggedJob> {
        let at = self.by_job.get(&(job.to_string(), tag.to_string()))?;
        Some(self.get(*at))
    }

    /// The jobs the tag queries listed with a tag of combination `id`, squeue's first.
    fn of_combination(&self, id: &str) -> impl Iterator<Item = &TaggedJob> {
        self.by_combination
            .get(id)
            .into_iter()
            .flatten()
            .map(|at| self.get(*at))
    }

    /// What Slurm says about job `job` of submission `s` (of a combination whose tag is
    /// `combination`).
    fn seen(&self, s: &Submission, job: &str, combination: &str) -> JobSeen {
        let tag = tag_of(s, combination);
        if let Some(there) = self.other_cluster(s) {
            return JobSeen {
                elsewhere: Some(format!("{job} (cluster {there})")),
                ..JobSeen::default()
            };
        }
        if let Some(j) = self.listed(job, &tag) {
            // Pending or running in accounting, unknown to squeue: lost with a controller's
            // state.
            let lost = j.source == "sacct" && !j.state.is_final();
            return JobSeen {
                state: Some(if lost {
                    JobState::Unknown
                } else {
                    j.state.clone()
                }),
                held: !lost && j.held(),
                ..JobSeen::default()
            };
        }
        match self
            .answers
            .of(&JobRef::new(s.cluster.as_deref(), job, Some(&tag)))
        {
            Seen::Ours(info) => JobSeen {
                held: info.state == JobState::Pending
                    && info
                        .reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with("JobHeld")),
                state: Some(info.state.clone()),
                ..JobSeen::default()
            },
            Seen::Foreign(info) => JobSeen {
                foreign: Some(info.as_foreign(job)),
                ..JobSeen::default()
            },
            Seen::Unchecked(_) | Seen::Unknown => JobSeen::default(),
        }
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

/// In a sweep whose journal may lack jobs ([`Dir::rebuild`]): the jobs of this combination
/// that the tag queries found and that neither the record nor the journal (`subs`) knows, and
/// that were released (a held one is a ghost, cancelled), as submissions, their `--retries`
/// follow-ups (queued `afternotok` behind one of them) attached.
fn orphans(dir: &Dir, r: &Record, snap: &Snapshot, subs: &[Submission]) -> Vec<Submission> {
    if !dir.rebuild {
        return Vec::new();
    }
    let known: BTreeSet<&String> = subs.iter().flat_map(Submission::jobs).collect();
    let mut found: Vec<Submission> = Vec::new();
    let mut follow_ups: Vec<(&TaggedJob, String)> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    // squeue's rows first: their state is the live one.
    for j in snap.of_combination(&r.id) {
        if !dir.keys.contains(&j.tag.sweep_key)
            || known.contains(&j.job_id)
            || !seen.insert(j.job_id.as_str())
        {
            continue;
        }
        // Held, or ended without ever running (cancelled while held): a duplicate, not a
        // submission.
        if j.never_released() {
            continue;
        }
        // A follow-up of a job: not a submission of its own.
        let after = j
            .dependency
            .as_deref()
            .and_then(|d| d.split("afternotok:").nth(1))
            .map(|d| {
                d.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
            });
        let mut s = Submission::from_tagged(j);
        // Pending or running in accounting but not in squeue: lost with a controller's state
        // (accounting is never told it ended).
        if j.source == "sacct" && !j.state.is_final() {
            s.state = Some(JobState::Unknown);
        }
        match after {
            Some(parent) => follow_ups.push((j, parent)),
            None => found.push(s),
        }
    }
    // A follow-up waits on the job and every earlier follow-up: it joins the submission
    // whose chain holds the first job it names.
    follow_ups
        .sort_by(|(a, _), (b, _)| (a.job_id.len(), &a.job_id).cmp(&(b.job_id.len(), &b.job_id)));
    for (j, parent) in follow_ups {
        if let Some(s) = found.iter_mut().find(|s| s.has_job(&parent)) {
            s.retry_job_ids.push(j.job_id.clone());
        }
    }
    found
}

/// The combination's submissions, oldest first: its history, the journal's, then the
/// record's current one (each job once; the record's view of a job wins for what it knows,
/// but what a journaled job measured is the journal's: a record's `concurrencies` may ask
/// for its next measurement).
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
    for s in &mut out {
        if let Some(journaled) = subs.of(&r.id).iter().find(|j| j.job_id == s.job_id) {
            s.concurrencies = journaled.concurrencies.clone();
        }
    }
    out.sort_by(|a, b| a.submitted_at.cmp(&b.submitted_at));
    out
}

/// The state of job `job` of submission `s`: Slurm's (of a job that carries the submission's
/// tag), else what the record recorded for the submission.
fn state_of(
    seen: &dyn Fn(&Submission, &str) -> JobSeen,
    s: &Submission,
    job: &str,
) -> Option<JobState> {
    match seen(s, job).state {
        Some(state) => Some(state),
        None if s.job_id == job => s.state.clone(),
        None => None,
    }
}

/// The latest submission of the measurement of `measured`: its last job with a known state
/// (the attempt that ended it), else its job with no state.
fn latest(
    subs: &[Submission],
    seen: &dyn Fn(&Submission, &str) -> JobSeen,
    measured: Option<&[u64]>,
) -> Option<Earlier> {
    let s = subs.iter().rev().find(|s| s.measures(measured))?;
    let known = s
        .jobs()
        .filter_map(|j| Some((j, state_of(seen, s, j)?)))
        .last();
    Some(match known {
        Some((job, state)) => Earlier {
            job_id: job.clone(),
            state: Some(state),
        },
        None => Earlier {
            job_id: s.job_id.clone(),
            state: None,
        },
    })
}

/// The submission that keeps the combination's measurement of `measured` (none:
/// `--profiler`'s) from being submitted again, and its state; `None`: submit it. Only the
/// submissions of that measurement count.
fn decide(
    subs: &[Submission],
    seen: &dyn Fn(&Submission, &str) -> JobSeen,
    resubmit_completed: bool,
    measured: Option<&[u64]>,
) -> Option<(usize, JobState)> {
    let state_of = |s: &Submission, job: &str| state_of(seen, s, job);
    let of_it = |pos: &usize| subs[*pos].measures(measured);
    // Alive: any job of any submission not in a final state (held included).
    for (pos, s) in subs.iter().enumerate().rev().filter(|(p, _)| of_it(p)) {
        for job in s.jobs() {
            if let Some(state) = state_of(s, job).filter(|st| !st.is_final()) {
                return Some((pos, state));
            }
        }
    }
    if resubmit_completed {
        return None;
    }
    for (pos, s) in subs.iter().enumerate().rev().filter(|(p, _)| of_it(p)) {
        if s.jobs()
            .any(|j| state_of(s, j) == Some(JobState::Completed))
        {
            return Some((pos, JobState::Completed));
        }
    }
    // The latest submission's state unknown to Slurm and to the record: it may have
    // completed; do not run it twice.
    let (pos, s) = subs.iter().enumerate().rfind(|(p, _)| of_it(p))?;
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

/// Every submission into the record's `history`, the record's current one included (what
/// it measured as the journal knows it: the record's `concurrencies` are those of its next
/// job); the record keeps no job of its own until it is submitted.
fn earlier_into_history(r: &mut Record, subs: &[Submission], dir: &Path) {
    let index = r.index;
    r.history = subs.iter().map(|s| as_history(s, dir, index)).collect();
    if r.job_id.is_some() {
        let requested = r.concurrencies.take();
        r.job_id = None;
        r.retire_current();
        r.concurrencies = requested;
    }
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
        concurrencies: s.concurrencies.clone(),
        ..Submission::default()
    }
}
