//! Merging: every version of one combination (same record `id`) becomes one record.
//!
//! The current version is the newest submission: a version with a job ID beats one whose
//! submission failed or never happened, which beats one without any submission fields; among
//! equals the latest `submitted_at` wins, and on a tie (or without times) the one read last.
//! Every other job ID seen for the combination goes into the current version's `history`,
//! oldest first, once each, with its state when one was known.

use chrono::{DateTime, FixedOffset};
use std::collections::BTreeMap;
use sweep::record::Submission;
use sweep::Record;

/// Merges records by `id`; the result is sorted by `index` (then `id`).
pub fn merge(records: Vec<Record>) -> Vec<Record> {
    let mut groups: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for record in records {
        groups.entry(record.id.clone()).or_default().push(record);
    }
    let mut merged: Vec<Record> = groups.into_values().map(merge_group).collect();
    merged.sort_by(|a, b| a.index.cmp(&b.index).then_with(|| a.id.cmp(&b.id)));
    merged
}

/// How strongly a version claims to be the current one (see the module docs).
fn rank(r: &Record) -> (u8, Option<DateTime<FixedOffset>>) {
    let level = if r.job_id.is_some() {
        2
    } else if r.submit_status.is_some() {
        1
    } else {
        0
    };
    (level, submitted_at(r.submitted_at.as_deref()))
}

fn submitted_at(s: Option<&str>) -> Option<DateTime<FixedOffset>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
}

/// One combination's versions (in input order) into one record.
fn merge_group(versions: Vec<Record>) -> Record {
    // max_by_key keeps the last of equal maxima: later input wins ties.
    let pos = (0..versions.len())
        .max_by_key(|&i| rank(&versions[i]))
        .expect("a group is never empty");
    let mut others = versions;
    let mut current = others.remove(pos);
    let mut history: Vec<Submission> = Vec::new();
    for other in &others {
        add_history(&mut history, &other.history);
        if let Some(job_id) = &other.job_id {
            if Some(job_id) == current.job_id.as_ref() {
                // The same job read twice (a manifest and the stream it came from): keep the
                // state one of them knows.
                if current.status.state.is_none() && other.status.state.is_some() {
                    current.status = other.status.clone();
                }
                continue;
            }
            add_history(&mut history, &[as_submission(other, job_id)]);
        }
    }
    add_history(&mut history, &std::mem::take(&mut current.history));
    history.retain(|h| Some(&h.job_id) != current.job_id.as_ref());
    // Stable sort: entries without a time keep the order they were first seen in, first.
    history.sort_by_key(|h| submitted_at(h.submitted_at.as_deref()));
    current.history = history;
    current
}

fn as_submission(r: &Record, job_id: &str) -> Submission {
    Submission {
        job_id: job_id.to_string(),
        submitted_at: r.submitted_at.clone(),
        retry_job_ids: r.retry_job_ids.clone(),
        state: r.status.state.clone(),
    }
}

/// Adds entries to `history`, once per job ID; a later mention fills what an earlier one
/// left unknown.
fn add_history(history: &mut Vec<Submission>, entries: &[Submission]) {
    for entry in entries {
        match history.iter_mut().find(|h| h.job_id == entry.job_id) {
            Some(h) => {
                if h.submitted_at.is_none() {
                    h.submitted_at = entry.submitted_at.clone();
                }
                if h.retry_job_ids.is_empty() {
                    h.retry_job_ids = entry.retry_job_ids.clone();
                }
                if entry.state.is_some() {
                    h.state = entry.state.clone();
                }
            }
            None => history.push(entry.clone()),
        }
    }
}
