//! `--reconcile`: jobs that Slurm holds for this sweep but no record mentions.
//!
//! `sweep-submit` tags every job with `sweep:<sweep key>:<id>:<index>` (`--comment`). If it
//! is killed between `sbatch` returning and the record reaching stdout, or `sbatch` timed out
//! after creating the job, the job exists without a record. One `squeue --me` call and one
//! `sacct` call over `--since` list the user's jobs with their comments; each job whose tag
//! names one of the input's sweeps and whose ID no record mentions becomes a submission of
//! its combination (marked `"reconciled": true`), merged like any other. A job queued
//! `--dependency=afternotok:<ID>` behind a job of the same combination is one of its
//! `--retries` follow-ups and joins that submission's `retry_job_ids` instead.

use crate::merge;
use anyhow::Result;
use chrono::NaiveDateTime;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use sweep::cli::warn;
use sweep::record::{JobStatus, SubmitStatus};
use sweep::slurm::{local_rfc3339, parse_time, Slurm};
use sweep::tag::{self, Tag};
use sweep::Record;

/// A tagged job found in Slurm.
struct Found {
    tag: Tag,
    /// Submit time, RFC 3339, when Slurm gave one.
    submitted_at: Option<String>,
    /// The job this one is a `--retries` follow-up of (`--dependency=afternotok:ID`).
    after: Option<String>,
}

/// Adds the tagged jobs no record mentions; reports them on stderr.
pub fn run(slurm: &Slurm, records: Vec<Record>, since: &str) -> Result<Vec<Record>> {
    let keys = sweep_keys(&records);
    if keys.is_empty() {
        warn("note: --reconcile: no record has a tag or sweep_dir; nothing to look for");
        return Ok(records);
    }
    let mentioned = mentioned(&records);
    let mut found: Vec<(String, Found)> = tagged_jobs(slurm, since)?
        .into_iter()
        .filter(|(id, f)| keys.contains(&f.tag.sweep_key) && !mentioned.contains(id))
        .collect();
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
    records.extend(added);
    Ok(merge::merge(records))
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
    let mut ids = BTreeSet::new();
    for r in records {
        ids.extend(r.job_id.iter().cloned());
        ids.extend(r.retry_job_ids.iter().cloned());
        ids.extend(r.history.iter().map(|h| h.job_id.clone()));
        ids.extend(
            r.history
                .iter()
                .flat_map(|h| h.retry_job_ids.iter().cloned()),
        );
    }
    ids
}

/// The user's jobs with one of our tags: squeue (live and recently ended), then sacct (older).
fn tagged_jobs(slurm: &Slurm, since: &str) -> Result<BTreeMap<String, Found>> {
    let mut found = BTreeMap::new();
    for job in slurm.tagged_jobs()? {
        let dependency = job.dependency.as_deref().unwrap_or_default();
        add_tagged(&mut found, &job.job_id, job.submitted, job.tag, dependency);
    }
    let fields = "JobID,Submit,Comment,SubmitLine";
    let args = ["-n", "-X", "-P", "-S", since, "-o", fields].map(String::from);
    match slurm.call(&slurm.sacct, &args) {
        Ok(text) => {
            for line in text.lines() {
                // sacct keeps comments only with AccountingStoreFlags=job_comment, so the tag
                // is also looked for in the sbatch command line, which sacct always keeps.
                if let [id, submit, comment, command] = line.splitn(4, '|').collect::<Vec<_>>()[..]
                {
                    if let Some(tag) = tag::parse(comment).or_else(|| tag_in_command(command)) {
                        add_tagged(&mut found, id, parse_time(submit), tag, command);
                    }
                }
            }
        }
        Err(e) if e.0.contains("accounting storage is disabled") => {
            warn("note: --reconcile: Slurm accounting is disabled; only jobs squeue still lists were searched");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(found)
}

/// Records a tagged job; a second sighting fills what the first left unknown.
fn add_tagged(
    found: &mut BTreeMap<String, Found>,
    id: &str,
    submitted: Option<NaiveDateTime>,
    tag: Tag,
    dependency: &str,
) {
    let after = after_not_ok(dependency);
    let f = found.entry(id.trim().to_string()).or_insert(Found {
        tag,
        submitted_at: submitted.and_then(local_rfc3339),
        after: None,
    });
    if f.after.is_none() {
        f.after = after;
    }
}

/// The job ID in `afternotok:ID` (squeue's `afternotok:123(unfulfilled)`, or sbatch's
/// `--dependency=afternotok:123`).
fn after_not_ok(text: &str) -> Option<String> {
    let rest = &text[text.find("afternotok:")? + "afternotok:".len()..];
    let id: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(id).filter(|id| !id.is_empty())
}

/// The tag in `sbatch ... --comment=TAG ...` or `--comment TAG`.
fn tag_in_command(line: &str) -> Option<Tag> {
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        let value = match w.strip_prefix("--comment") {
            Some("") => words.next()?,
            Some(rest) => rest.strip_prefix('=')?,
            None => continue,
        };
        return tag::parse(value.trim_matches(['\'', '"']));
    }
    None
}

/// The combination's record as a submission of the found job.
fn submission(r: &Record, job_id: &str, f: &Found) -> Record {
    let mut s = r.clone();
    s.job_id = Some(job_id.to_string());
    s.submitted_at = f.submitted_at.clone();
    s.submit_status = Some(SubmitStatus::Submitted);
    s.submit_error = None;
    s.retry_job_ids.clear();
    s.history.clear();
    s.status = JobStatus::default();
    s.extra.insert("reconciled".to_string(), Value::Bool(true));
    s
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
    fn tags_and_dependencies_are_read_from_slurm_text() {
        let line =
            "sbatch --parsable --comment=sweep:k-1a2b3c4d:abc:3 --dependency=afternotok:41 job.sh";
        let t = tag_in_command(line).unwrap();
        assert_eq!(
            (t.sweep_key.as_str(), t.id.as_str(), t.index),
            ("k-1a2b3c4d", "abc", 3)
        );
        assert_eq!(
            tag_in_command("sbatch --comment 'sweep:k:x:1' s.sh")
                .unwrap()
                .id,
            "x"
        );
        assert!(tag_in_command("sbatch --comment=hello s.sh").is_none());
        assert_eq!(after_not_ok(line).as_deref(), Some("41"));
        assert_eq!(
            after_not_ok("afternotok:123(unfulfilled)").as_deref(),
            Some("123")
        );
        assert_eq!(after_not_ok("(null)"), None);
    }
}
