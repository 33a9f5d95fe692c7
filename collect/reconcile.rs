//! `--reconcile`: submissions that the sweep knows but no record mentions.
//!
//! Two places know every submission: the sweep directory's journal
//! (`.sweep/submissions.jsonl`, written by sweep-submit as soon as `sbatch` returns a job,
//! before the record reaches stdout) and Slurm, where sweep-submit tags every job with
//! `sweep:<sweep key>:<id>:<index>` (`--comment`). Reconciling reads the journals of the
//! input's sweep directories, then one `squeue --me` call and one `sacct` call over `--since`
//! (the user's jobs with their comments). Each submission whose job ID no record mentions
//! becomes a submission of its combination (marked `"reconciled": true`), merged like any
//! other: the newest is current, the rest go to history. A job queued
//! `--dependency=afternotok:<ID>` behind a job of the same combination is one of its
//! `--retries` follow-ups and joins that submission's `retry_job_ids` instead.
//!
//! In a sweep with a journal, a tagged job the journal does not name was never released by
//! sweep-submit (it writes a job down before it releases it): the duplicate a stalled
//! controller created after `sbatch` gave up, a job of a run killed in between, or a job of an
//! earlier sweep that had the same directory. It is reported, never added. Sweeps without a
//! journal (made by an earlier version) are reconciled from their tags alone.

use crate::merge;
use anyhow::Result;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use sweep::cli::warn;
use sweep::record::{JobStatus, SubmitStatus};
use sweep::slurm::Slurm;
use sweep::state::Submissions;
use sweep::tag::{self, Tag};
use sweep::{JobState, Record, Submission};

/// A tagged job found in Slurm, or a submission found in a journal.
struct Found {
    tag: Tag,
    /// The job this one is a `--retries` follow-up of (`--dependency=afternotok:ID`).
    after: Option<String>,
    /// Found in a sweep's journal: sweep-submit made and released it.
    journaled: bool,
    /// What is known of it: submit time, Slurm's state (when Slurm listed it), job name,
    /// script and log directory, the follow-ups the journal knows.
    submission: Submission,
}

/// Adds the submissions no record mentions; reports them on stderr.
pub fn run(slurm: &Slurm, records: Vec<Record>, since: &str) -> Result<Vec<Record>> {
    let keys = sweep_keys(&records);
    let lost = records
        .iter()
        .filter(|r| r.tag.is_none() && r.sweep_dir.is_none())
        .count();
    if lost > 0 {
        warn(format_args!(
            "warning: --reconcile: {lost} record(s) have no tag or sweep_dir (straight from sweep-expand?): their jobs cannot be told from other sweeps' (pass --sweep-dir DIR, the directory sweep-submit named)"
        ));
    }
    let mentioned = mentioned(&records);
    let (journaled, journal_keys) = journals(&records)?;
    let mut all = tagged_jobs(slurm, since)?;
    for (job_id, f) in journaled {
        // The journal knows the job best; Slurm adds its state.
        let listed = all.remove(&job_id);
        let mut f = f;
        if let Some(l) = listed {
            f.submission.state = l.submission.state;
            f.after = f.after.or(l.after);
        }
        all.insert(job_id, f);
    }
    let mut ghosts = Vec::new();
    let mut found: Vec<(String, Found)> = Vec::new();
    for (job_id, f) in all {
        if !keys.contains(&f.tag.sweep_key) || mentioned.contains(&job_id) {
            continue;
        }
        // In a sweep with a journal, the journal names every job sweep-submit made (it writes
        // a job down before releasing it): any other job with the sweep's tag is a duplicate
        // that never ran, or a job of an earlier sweep that had the same directory.
        if journal_keys.contains(&f.tag.sweep_key) && !f.journaled {
            ghosts.push(format!(
                "{job_id} ({}, index {})",
                f.submission.state.as_ref().map_or("?", JobState::as_str),
                f.tag.index
            ));
            continue;
        }
        found.push((job_id, f));
    }
    report_ghosts(&ghosts);
    // Oldest first (numeric job ID order), so a job comes before its follow-ups.
    found.sort_by(|(a, _), (b, _)| (a.len(), a).cmp(&(b.len(), b)));
    let mut records = records;
    let mut added: Vec<Record> = Vec::new();
    let (mut notes, mut orphans) = (Vec::new(), Vec::new());
    for (job_id, f) in &found {
        let parent = f.after.as_deref();
        if parent.is_some_and(|p| attach_retry(&mut records, &mut added, &f.tag.id, p, job_id)) {
            notes.push(format!(
                "{job_id} (retry of {})",
                parent.unwrap_or_default()
            ));
            continue;
        }
        match records.iter().find(|r| r.id == f.tag.id) {
            Some(r) => {
                notes.push(format!("{job_id} (index {})", r.index));
                added.push(submission(r, job_id, f));
            }
            None => orphans.push(format!("{job_id} (id {}, index {})", f.tag.id, f.tag.index)),
        }
    }
    report(&notes, &orphans);
    report_duplicates(&added);
    records.extend(added);
    Ok(merge::merge(records))
}

/// The submissions in the journals of the records' sweep directories, by job ID, and the
/// sweep keys of the directories that have a journal.
fn journals(records: &[Record]) -> Result<(BTreeMap<String, Found>, BTreeSet<String>)> {
    let dirs: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r.sweep_dir.as_deref())
        .collect();
    let mut found = BTreeMap::new();
    let mut keys = BTreeSet::new();
    for dir in dirs {
        let subs = Submissions::load(std::path::Path::new(dir))?;
        if subs.by_id.is_empty() {
            continue;
        }
        keys.insert(tag::sweep_key(dir));
        for s in subs.by_id.into_values().flatten() {
            let Some(tag) = s.tag.as_deref().and_then(tag::parse) else {
                continue;
            };
            let found_one = Found {
                tag,
                after: None,
                journaled: true,
                submission: s,
            };
            found.insert(found_one.submission.job_id.clone(), found_one);
        }
    }
    Ok((found, keys))
}

/// Adds `job_id` to the retries of the submission of combination `id` whose chain holds
/// `parent`; false when there is none.
fn attach_retry(
    records: &mut [Record],
    added: &mut [Record],
    id: &str,
    parent: &str,
    job_id: &str,
) -> bool {
    let chain_has = |r: &Record| {
        r.job_id.as_deref() == Some(parent) || r.retry_job_ids.iter().any(|j| j == parent)
    };
    match records
        .iter_mut()
        .chain(added.iter_mut())
        .find(|r| r.id == id && chain_has(r))
    {
        Some(r) => {
            r.retry_job_ids.push(job_id.to_string());
            r.extra.insert("reconciled".to_string(), Value::Bool(true));
            true
        }
        None => false,
    }
}

/// Sweep keys of the input: from tags, else from sweep directories.
fn sweep_keys(records: &[Record]) -> BTreeSet<String> {
    let from_record = |r: &Record| match r.tag.as_deref().and_then(tag::parse) {
        Some(t) => Some(t.sweep_key),
        None => r.sweep_dir.as_deref().map(tag::sweep_key),
    };
    records.iter().filter_map(from_record).collect()
}

/// Every job ID a record mentions: current, retries, history.
fn mentioned(records: &[Record]) -> BTreeSet<String> {
    records
        .iter()
        .flat_map(Record::every_job)
        .cloned()
        .collect()
}

/// The user's jobs with one of our tags: squeue (live and recently ended), then sacct (older).
fn tagged_jobs(slurm: &Slurm, since: &str) -> Result<BTreeMap<String, Found>> {
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let live = slurm.tagged_jobs()?;
    let older = match slurm.tagged_in_accounting(since)? {
        Some(jobs) => jobs,
        None => {
            warn("note: --reconcile: Slurm accounting is disabled; only jobs squeue still lists were searched");
            Vec::new()
        }
    };
    // squeue first: its state is the live one; accounting fills what it left unknown.
    for job in live.iter().chain(&older) {
        let dependency = job.dependency.as_deref().unwrap_or_default();
        let seen = Submission::from_tagged(job);
        match found.get_mut(&job.job_id) {
            Some(f) => {
                f.after = f.after.take().or_else(|| after_not_ok(dependency));
                f.submission.absorb(seen);
            }
            None => {
                let f = Found {
                    tag: job.tag.clone(),
                    after: after_not_ok(dependency),
                    journaled: false,
                    submission: seen,
                };
                found.insert(job.job_id.clone(), f);
            }
        }
    }
    Ok(found)
}

/// The job ID in `afternotok:ID` (squeue's `afternotok:123(unfulfilled)`, or sbatch's
/// `--dependency=afternotok:123`).
fn after_not_ok(text: &str) -> Option<String> {
    let rest = &text[text.find("afternotok:")? + "afternotok:".len()..];
    let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(id).filter(|id| !id.is_empty())
}

/// The combination's record as a submission of the found job.
fn submission(r: &Record, job_id: &str, f: &Found) -> Record {
    let found = &f.submission;
    let mut s = r.clone();
    s.job_id = Some(job_id.to_string());
    s.submitted_at = found.submitted_at.clone();
    s.submit_status = Some(SubmitStatus::Submitted);
    s.submit_error = None;
    s.retry_job_ids = found.retry_job_ids.clone();
    s.history.clear();
    s.status = JobStatus::default();
    s.tag = Some(f.tag.text());
    // What the found job measured: its own concurrencies (from the journal or its tag).
    s.concurrencies = found.concurrencies.clone();
    for (field, value) in [
        (&mut s.job_name, &found.job_name),
        (&mut s.job_script, &found.job_script),
        (&mut s.log_dir, &found.log_dir),
    ] {
        if value.is_some() {
            *field = value.clone();
        }
    }
    s.extra.insert("reconciled".to_string(), Value::Bool(true));
    s
}

/// Combinations that got more than one job from reconciling: the newest is current.
fn report_duplicates(added: &[Record]) {
    let mut by_id: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in added {
        by_id
            .entry(r.id.as_str())
            .or_default()
            .extend(r.job_id.as_deref());
    }
    let dups: Vec<String> = by_id
        .into_iter()
        .filter(|(_, jobs)| jobs.len() > 1)
        .map(|(id, jobs)| format!("{id}: {}", jobs.join(", ")))
        .collect();
    if !dups.is_empty() {
        warn(format_args!(
            "warning: several jobs found for one combination (the newest is current, the others go to history): {}",
            dups.join("; ")
        ));
    }
}

/// Tagged jobs that the sweep's journal does not name.
fn report_ghosts(ghosts: &[String]) {
    if !ghosts.is_empty() {
        warn(format_args!(
            "note: {} job(s) carry this sweep's tag but its journal does not name them (a stalled controller's duplicates, never released, which sweep-submit cancels; or jobs of an earlier sweep in the same directory): not added: {}",
            ghosts.len(),
            ghosts.join(", ")
        ));
    }
}

fn report(notes: &[String], orphans: &[String]) {
    if !notes.is_empty() {
        warn(format_args!(
            "reconciled {} job(s) no record mentioned: {}",
            notes.len(),
            notes.join(", ")
        ));
    }
    if !orphans.is_empty() {
        warn(format_args!(
            "warning: {} job(s) carry this sweep's tag but no input has their combination's record (add the records from sweep-render to place them): {}",
            orphans.len(),
            orphans.join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_are_read_from_slurm_text() {
        let line =
            "sbatch --parsable --comment=sweep:k-1a2b3c4d:abc:3 --dependency=afternotok:41 job.sh";
        assert_eq!(after_not_ok(line).as_deref(), Some("41"));
        assert_eq!(
            after_not_ok("afternotok:123(unfulfilled)").as_deref(),
            Some("123")
        );
        assert_eq!(after_not_ok("(null)"), None);
    }
}
