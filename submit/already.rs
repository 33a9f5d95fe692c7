//! What the sweep already has: for each combination, the jobs its sweep directory's journal
//! (`.sweep/submissions.jsonl`), the record itself and Slurm (by tag) know of, and their
//! states; from that, whether the combination is submitted again.
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

use crate::options::JobOptions;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use sweep::record::{JobStatus, Submission, SubmitStatus};
use sweep::slurm::{is_final, JobRef, Slurm, TaggedJob};
use sweep::state::{self, Journal, Lock, LockKind, Submissions, Submitted};
use sweep::Record;

/// The sweep directories of a run, each locked for submission for the whole run.
pub struct Sweeps {
    dirs: BTreeMap<String, Dir>,
}

struct Dir {
    path: PathBuf,
    /// The sweep key of its tags.
    key: String,
    _lock: Lock,
    /// A sweep-submit ran here before (its lock file was there): Slurm may hold jobs of it
    /// that its journal does not name (a run killed between `sbatch` and the journal line).
    submitted_before: bool,
    /// The journal had submissions when the run began. Then it names every job sweep-submit
    /// released here; without one (a sweep made by an earlier version, or a directory made
    /// anew at the same path) tagged jobs that ran are taken for the sweep's.
    had_journal: bool,
    subs: Submissions,
    journal: Option<Journal>,
    /// Saved options read so far, by hash.
    options: BTreeMap<String, JobOptions>,
}

/// What happens to one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// Submit it (again).
    Submit,
    /// It already has a job: passed through with it (`state` as Slurm or the record knew it);
    /// `pos` is that submission among the combination's (see [`Sweeps::fill`]).
    Keep { pos: usize, state: String },
}

/// What judging the records found besides their fates.
#[derive(Default)]
pub struct Decisions {
    /// Held jobs of kept combinations, to release (a run killed before it released them).
    pub release: Vec<String>,
    /// Combinations kept because Slurm no longer knows their job's state.
    pub unknown: usize,
    /// Every job the records and journals know (to tell held duplicates apart).
    known: BTreeSet<String>,
}

/// Jobs of the user that carry a tag of this run's sweeps, and the states of every job the
/// sweeps know.
#[derive(Default)]
pub struct Snapshot {
    tagged: Vec<TaggedJob>,
    /// State and "held" of every job asked about.
    states: BTreeMap<String, (String, bool)>,
}

impl Sweeps {
    /// Locks every sweep directory (in name order, so two runs cannot deadlock) and reads its
    /// journal. A second sweep-submit into the same directory waits here.
    pub fn open(names: &[String]) -> Result<Sweeps> {
        let names: BTreeSet<&String> = names.iter().collect();
        let mut dirs = BTreeMap::new();
        for name in names {
            let path = PathBuf::from(name);
            let submitted_before = state::state_dir(&path).join("submit.lock").exists();
            let lock = state::lock(&path, LockKind::Submit)?;
            let subs = Submissions::load(&path)?;
            let had_journal = !subs.by_id.is_empty();
            dirs.insert(
                name.to_string(),
                Dir {
                    key: sweep::tag::sweep_key(name),
                    path,
                    _lock: lock,
                    submitted_before,
                    had_journal,
                    subs,
                    journal: None,
                    options: BTreeMap::new(),
                },
            );
        }
        Ok(Sweeps { dirs })
    }

    /// True when Slurm may hold jobs of these records: some directory had a submission
    /// before, or some record names a job. A fresh sweep's first run needs no Slurm call.
    pub fn needs_slurm(&self, named_jobs: &BTreeSet<String>) -> bool {
        self.dirs
            .values()
            .any(|d| d.submitted_before || !d.subs.by_id.is_empty())
            || !named_jobs.is_empty()
    }

    /// One tag query (the user's jobs with their tags, states and reasons), then the states of
    /// every other job the journals and records know, in batched calls.
    pub fn snapshot(&self, slurm: &Slurm, named_jobs: &BTreeSet<String>) -> Result<Snapshot> {
        let keys: BTreeSet<&str> = self.dirs.values().map(|d| d.key.as_str()).collect();
        let tagged: Vec<TaggedJob> = slurm
            .tagged_jobs()
            .context("failed to list this sweep's jobs in Slurm (nothing submitted)")?
            .into_iter()
            .filter(|j| keys.contains(j.tag.sweep_key.as_str()))
            .collect();
        let mut states: BTreeMap<String, (String, bool)> = tagged
            .iter()
            .map(|j| (j.job_id.clone(), (j.state.clone(), j.held())))
            .collect();
        let journaled = self
            .dirs
            .values()
            .flat_map(|d| d.subs.by_id.values().flatten())
            .flat_map(|s| std::iter::once(&s.job_id).chain(&s.retry_job_ids));
        let ask: BTreeSet<&String> = named_jobs
            .iter()
            .chain(journaled)
            .filter(|j| !states.contains_key(*j))
            .collect();
        if !ask.is_empty() {
            let refs: Vec<JobRef> = ask
                .into_iter()
                .map(|job_id| JobRef {
                    cluster: None,
                    job_id: job_id.clone(),
                })
                .collect();
            let answers = slurm
                .lookup(&refs)
                .context("failed to read the states of this sweep's jobs (nothing submitted)")?;
            for (job, info) in answers.jobs {
                let held = info.state == "PENDING"
                    && info
                        .reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with("JobHeld"));
                states.insert(job.job_id, (info.state, held));
            }
        }
        Ok(Snapshot { tagged, states })
    }

    /// Decides one record's fate: kept when its combination already has a job (see the module
    /// docs), else submitted. Tagged jobs of a sweep without a journal are adopted here, once.
    pub fn judge(
        &mut self,
        r: &Record,
        snapshot: Option<&Snapshot>,
        resubmit_completed: bool,
        decisions: &mut Decisions,
    ) -> Result<Fate> {
        let dir = self.dir_mut(r);
        decisions.known.extend(known_jobs(r, &dir.subs));
        let Some(snap) = snapshot else {
            return Ok(Fate::Submit);
        };
        adopt_orphans(dir, r, snap)?;
        let subs = submissions(r, &dir.subs);
        decisions
            .known
            .extend(subs.iter().flat_map(|c| c.jobs.iter().cloned()));
        let Some((pos, state)) = judge(&subs, snap, resubmit_completed) else {
            return Ok(Fate::Submit);
        };
        for job in &subs[pos].jobs {
            if snap.states.get(job).is_some_and(|(_, held)| *held) {
                decisions.release.push(job.clone());
            }
        }
        if state == "UNKNOWN" {
            decisions.unknown += 1;
        }
        Ok(Fate::Keep { pos, state })
    }

    /// Fills in what a record carries for its fate: a kept record gets its job
    /// (`submit_status: "already_submitted"`); a record to submit gets every earlier job of
    /// its combination in `history`. The same for every pass over the records.
    pub fn fill(&self, r: &mut Record, fate: &Fate) {
        let dir = &self.dirs[r.sweep_dir.as_deref().expect("placed")];
        let subs = submissions(r, &dir.subs);
        match fate {
            Fate::Keep { pos, .. } => keep(r, &subs, *pos, &dir.path),
            Fate::Submit => earlier_into_history(r, &subs, &dir.path),
        }
    }

    /// After every record was judged: held jobs of these sweeps that no journal line or
    /// record names (a stalled controller's duplicates, a killed run's last job): to cancel.
    pub fn ghosts(&self, snapshot: Option<&Snapshot>, decisions: &Decisions) -> Vec<String> {
        snapshot
            .map(|snap| {
                snap.tagged
                    .iter()
                    .filter(|j| j.held() && !decisions.known.contains(&j.job_id))
                    .map(|j| j.job_id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn dir_mut(&mut self, r: &Record) -> &mut Dir {
        self.dirs
            .get_mut(r.sweep_dir.as_deref().expect("placed"))
            .expect("opened")
    }

    /// The options of the combination's last submission in its sweep directory, else of the
    /// directory's last submission; `None` for a sweep never submitted.
    pub fn saved_options(&mut self, sweep_dir: &str, id: &str) -> Result<Option<JobOptions>> {
        let dir = self.dirs.get_mut(sweep_dir).expect("opened");
        let hash = match dir.subs.latest(id) {
            Some(s) => Some(s.options.clone()),
            None => dir.subs.latest_options().map(str::to_string),
        };
        let Some(hash) = hash.filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        if !dir.options.contains_key(&hash) {
            let value = state::load_options(&dir.path, &hash)?;
            let source = state::state_dir(&dir.path).join(format!("options/{hash}.json"));
            dir.options
                .insert(hash.clone(), JobOptions::from_value(value, &source)?);
        }
        Ok(dir.options.get(&hash).cloned())
    }

    /// True when the combination's own last submission (not the directory's) has options.
    pub fn was_submitted(&self, sweep_dir: &str, id: &str) -> bool {
        self.dirs[sweep_dir].subs.latest(id).is_some()
    }

    /// Saves job options (`JobOptions::to_value`) in the sweep directory.
    pub fn save_options(&mut self, sweep_dir: &str, options: &serde_json::Value) -> Result<()> {
        state::save_options(&self.dirs[sweep_dir].path, options).map(drop)
    }

    /// Writes one submission into its sweep directory's journal.
    pub fn journal(&mut self, sweep_dir: &str, s: &Submitted) -> Result<()> {
        let dir = self.dirs.get_mut(sweep_dir).expect("opened");
        if dir.journal.is_none() {
            dir.journal = Some(Journal::open(&dir.path)?);
        }
        dir.journal.as_mut().expect("opened").append(s)?;
        let list = dir.subs.by_id.entry(s.id.clone()).or_default();
        match list.iter_mut().find(|e| e.job_id == s.job_id) {
            Some(e) => *e = s.clone(),
            None => list.push(s.clone()),
        }
        Ok(())
    }

    /// The sweep keys of this run's directories.
    pub fn keys(&self) -> BTreeSet<String> {
        self.dirs.values().map(|d| d.key.clone()).collect()
    }

    /// Every job ID the journals know now (this run's included).
    pub fn journal_jobs(&self) -> BTreeSet<String> {
        self.dirs
            .values()
            .flat_map(|d| d.subs.by_id.values().flatten())
            .flat_map(|s| std::iter::once(s.job_id.clone()).chain(s.retry_job_ids.clone()))
            .collect()
    }
}

/// One submission of a combination, from wherever it is known.
#[derive(Debug, Clone)]
struct Candidate {
    /// The job and its follow-ups, in chain order.
    jobs: Vec<String>,
    submitted_at: Option<String>,
    cluster: Option<String>,
    job_name: Option<String>,
    job_script: Option<String>,
    log_dir: Option<String>,
    tag: Option<String>,
    /// The state the record itself carries for it (from an earlier collect), if any.
    recorded_state: Option<String>,
    /// Where its job script was kept when a re-submission replaced it.
    kept_script: Option<String>,
}

/// Every job ID the record and the journal know for the record's combination.
fn known_jobs(r: &Record, subs: &Submissions) -> Vec<String> {
    let mut jobs = subs.job_ids(&r.id);
    jobs.extend(r.job_id.iter().cloned());
    jobs.extend(r.retry_job_ids.iter().cloned());
    for h in &r.history {
        jobs.push(h.job_id.clone());
        jobs.extend(h.retry_job_ids.iter().cloned());
    }
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
    let known: BTreeSet<String> = known_jobs(r, &dir.subs).into_iter().collect();
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
        let s = Submitted {
            at: j
                .submitted
                .and_then(sweep::slurm::local_rfc3339)
                .unwrap_or_default(),
            id: r.id.clone(),
            index: r.index,
            job_id: j.job_id.clone(),
            cluster: None,
            retry_job_ids: Vec::new(),
            tag: sweep::tag::format(&j.tag.sweep_key, &j.tag.id, j.tag.index),
            job_name: j.name.clone(),
            job_script: String::new(),
            log_dir: String::new(),
            options: String::new(),
        };
        if dir.journal.is_none() {
            dir.journal = Some(Journal::open(&dir.path)?);
        }
        dir.journal.as_mut().expect("opened").append(&s)?;
        dir.subs.by_id.entry(r.id.clone()).or_default().push(s);
    }
    Ok(())
}

/// The combination's submissions, oldest first: its history, the journal's, then the
/// record's current one (each job once; the record's view of a job wins for its state).
fn submissions(r: &Record, subs: &Submissions) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    let add = |c: Candidate, out: &mut Vec<Candidate>| match out
        .iter_mut()
        .find(|o| o.jobs.first() == c.jobs.first())
    {
        Some(o) => {
            for j in &c.jobs {
                if !o.jobs.contains(j) {
                    o.jobs.push(j.clone());
                }
            }
            o.recorded_state = o.recorded_state.take().or(c.recorded_state);
            o.job_name = o.job_name.take().or(c.job_name);
            o.job_script = o.job_script.take().or(c.job_script);
            o.log_dir = o.log_dir.take().or(c.log_dir);
            o.tag = o.tag.take().or(c.tag);
            o.submitted_at = o.submitted_at.take().or(c.submitted_at);
            o.kept_script = o.kept_script.take().or(c.kept_script);
        }
        None => out.push(c),
    };
    for h in &r.history {
        add(
            Candidate {
                jobs: std::iter::once(h.job_id.clone())
                    .chain(h.retry_job_ids.clone())
                    .collect(),
                submitted_at: h.submitted_at.clone(),
                cluster: None,
                job_name: None,
                job_script: None,
                log_dir: None,
                tag: None,
                recorded_state: h.state.clone(),
                kept_script: h.job_script.clone(),
            },
            &mut out,
        );
    }
    for s in subs.by_id.get(&r.id).into_iter().flatten() {
        let some = |v: &String| Some(v.clone()).filter(|v| !v.is_empty());
        add(
            Candidate {
                jobs: std::iter::once(s.job_id.clone())
                    .chain(s.retry_job_ids.clone())
                    .collect(),
                submitted_at: some(&s.at),
                cluster: s.cluster.clone(),
                job_name: some(&s.job_name),
                job_script: some(&s.job_script),
                log_dir: some(&s.log_dir),
                tag: some(&s.tag),
                recorded_state: None,
                kept_script: None,
            },
            &mut out,
        );
    }
    if let Some(job_id) = &r.job_id {
        // The record's own view first, so its fields win when the journal has the same job.
        let own = Candidate {
            jobs: std::iter::once(job_id.clone())
                .chain(r.retry_job_ids.clone())
                .collect(),
            submitted_at: r.submitted_at.clone(),
            cluster: r.cluster.clone(),
            job_name: r.job_name.clone(),
            job_script: r.job_script.clone(),
            log_dir: r.log_dir.clone(),
            tag: r.tag.clone(),
            recorded_state: r.status.state.clone(),
            kept_script: None,
        };
        match out.iter().position(|o| o.jobs.first() == own.jobs.first()) {
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
fn judge(subs: &[Candidate], snap: &Snapshot, resubmit_completed: bool) -> Option<(usize, String)> {
    // The state of each job: Slurm's, else what the record recorded for the submission.
    let state_of = |c: &Candidate, job: &str| -> Option<(String, bool)> {
        snap.states.get(job).cloned().or_else(|| {
            (c.jobs.first().map(String::as_str) == Some(job))
                .then(|| c.recorded_state.clone().map(|s| (s, false)))
                .flatten()
        })
    };
    // Alive: any job of any submission not in a final state (held included).
    for (pos, c) in subs.iter().enumerate().rev() {
        for job in &c.jobs {
            if let Some((state, _)) = state_of(c, job) {
                if !is_final(&state) {
                    return Some((pos, state));
                }
            }
        }
    }
    if !resubmit_completed {
        for (pos, c) in subs.iter().enumerate().rev() {
            if c.jobs
                .iter()
                .any(|j| state_of(c, j).is_some_and(|(s, _)| s == "COMPLETED"))
            {
                return Some((pos, "COMPLETED".to_string()));
            }
        }
        // The latest submission's state unknown to Slurm and to the record: it may have
        // completed; do not run it twice.
        if let Some((pos, c)) = subs.iter().enumerate().next_back() {
            let known = c
                .jobs
                .iter()
                .any(|j| state_of(c, j).is_some_and(|(s, _)| s != "UNKNOWN"));
            if !known {
                return Some((pos, "UNKNOWN".to_string()));
            }
        }
    }
    None
}

/// Fills `r` with the kept submission; every other one goes to `history`.
fn keep(r: &mut Record, subs: &[Candidate], pos: usize, dir: &Path) {
    let kept = &subs[pos];
    let was_current = r.job_id.as_ref() == kept.jobs.first();
    if !was_current {
        r.status = JobStatus::default();
        r.submit_error = None;
        r.sbatch_command = None;
        r.extra.shift_remove("reconciled");
    }
    r.job_id = kept.jobs.first().cloned();
    r.retry_job_ids = kept.jobs[1..].to_vec();
    r.submitted_at = kept.submitted_at.clone().or(r.submitted_at.take());
    r.cluster = kept.cluster.clone().or(r.cluster.take());
    if let Some(v) = &kept.job_name {
        r.job_name = Some(v.clone());
    }
    if let Some(v) = &kept.job_script {
        r.job_script = Some(v.clone());
    }
    if let Some(v) = &kept.log_dir {
        r.log_dir = Some(v.clone());
    }
    if let Some(v) = &kept.tag {
        r.tag = Some(v.clone());
    }
    r.submit_status = Some(SubmitStatus::AlreadySubmitted);
    r.history = subs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != pos)
        .map(|(_, c)| as_history(c, dir, r.index))
        .collect();
}

/// Every submission but the record's current one into its `history` (the current one is
/// moved there when the record is prepared for its new submission).
fn earlier_into_history(r: &mut Record, subs: &[Candidate], dir: &Path) {
    let current = r.job_id.clone();
    let index = r.index;
    r.history = subs
        .iter()
        .filter(|c| c.jobs.first() != current.as_ref())
        .map(|c| as_history(c, dir, index))
        .collect();
}

/// An earlier submission as a history entry, with the job script a re-submission kept for it.
fn as_history(c: &Candidate, dir: &Path, index: u64) -> Submission {
    let kept = crate::prepare::kept_script_path(dir, index, &c.jobs[0]);
    Submission {
        job_id: c.jobs[0].clone(),
        submitted_at: c.submitted_at.clone(),
        retry_job_ids: c.jobs[1..].to_vec(),
        state: c.recorded_state.clone(),
        job_script: c
            .kept_script
            .clone()
            .or_else(|| kept.is_file().then(|| kept.display().to_string())),
    }
}
