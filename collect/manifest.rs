//! The manifest: the seed's `sweep_manifest.json` (`sweep_timestamp`, `total_jobs`, `jobs` with
//! `job_id` and `parameters` first) plus `counts` and every record field.

use crate::compact::Writable;
use anyhow::Result;
use chrono::{DateTime, FixedOffset, Local, NaiveDateTime};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use sweep::record::SubmitStatus;
use sweep::{JobState, Record};

/// The seed's timestamp format (local time).
const STAMP: &str = "%Y-%m-%d %H:%M:%S";

/// What the manifest's head (`sweep_timestamp`, `counts`) needs of one record.
#[derive(Clone)]
pub struct Facts {
    /// What became of its submission.
    outcome: Outcome,
    /// Its job's state, when known.
    state: Option<JobState>,
    /// The start time in its sweep directory's name.
    dir_stamp: Option<NaiveDateTime>,
    /// When its job was submitted.
    submitted: Option<DateTime<FixedOffset>>,
}

/// The submission outcomes `counts` counts.
#[derive(Clone)]
enum Outcome {
    Submitted,
    Failed,
    DryRun,
    NotSubmitted,
}

impl Facts {
    pub fn of(r: &Record) -> Facts {
        Facts {
            outcome: match (&r.job_id, r.submit_status) {
                (Some(_), _) => Outcome::Submitted,
                (None, Some(SubmitStatus::Failed)) => Outcome::Failed,
                (None, Some(SubmitStatus::DryRun)) => Outcome::DryRun,
                (None, _) => Outcome::NotSubmitted,
            },
            state: r.status.state.clone(),
            dir_stamp: r.sweep_dir.as_deref().and_then(dir_stamp),
            submitted: r.submitted_at.as_ref().and_then(|t| t.instant()),
        }
    }
}

/// Writes the manifest as pretty-printed JSON (2-space indent) with a trailing newline, one
/// job at a time, straight from each record's compact text: no JSON tree of the whole
/// manifest, and a sweep's results are made JSON only as their job is written. `extra` gives
/// record `i`'s `results`, if any.
pub fn write<T: Writable>(
    w: &mut dyn Write,
    records: &[T],
    earlier_stamps: &[String],
    extra: &dyn Fn(usize) -> Option<Value>,
) -> Result<()> {
    let facts: Vec<Facts> = records.iter().map(T::facts).collect();
    let head = json!({
        "sweep_timestamp": timestamp(facts.iter(), earlier_stamps),
        "total_jobs": records.len(),
        "counts": counts(facts.iter()),
        "jobs": [],
    });
    drop(facts);
    let text = serde_json::to_string_pretty(&head)?;
    let Some(open) = text.strip_suffix("[]\n}") else {
        anyhow::bail!("the manifest does not end with its jobs")
    };
    if records.is_empty() {
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")?;
        return Ok(());
    }
    w.write_all(open.as_bytes())?;
    w.write_all(b"[")?;
    let mut buf = Vec::new();
    for (i, record) in records.iter().enumerate() {
        w.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
        // A job nests two levels into the manifest: 4 more spaces on each of its lines.
        record
            .compact()?
            .write_job(w, extra(i).as_ref(), 4, &mut buf)?;
    }
    w.write_all(b"\n  ]\n}\n")?;
    Ok(())
}

/// When the sweep started, as the seed stamped it: kept from the earliest manifest read;
/// else the sweep directory's name (`sweep_YYYYMMDD_HHMMSS`); else the earliest submission;
/// else now. Re-collecting a sweep never moves its timestamp.
fn timestamp<'a>(
    facts: impl Iterator<Item = &'a Facts> + Clone,
    earlier_stamps: &[String],
) -> String {
    if let Some(stamp) = earlier_stamps.iter().min() {
        return stamp.clone();
    }
    let from_dir = facts.clone().filter_map(|f| f.dir_stamp).min();
    let from_submission = || {
        facts
            .filter_map(|f| f.submitted)
            .min()
            .map(|t| t.with_timezone(&Local).naive_local())
    };
    from_dir
        .or_else(from_submission)
        .unwrap_or_else(|| Local::now().naive_local())
        .format(STAMP)
        .to_string()
}

/// The start time in a sweep directory's name: `.../sweep_20251113_123456[_2]`.
fn dir_stamp(dir: &str) -> Option<NaiveDateTime> {
    let name = std::path::Path::new(dir).file_name()?.to_str()?;
    let digits = name.strip_prefix("sweep_")?.get(..15)?;
    NaiveDateTime::parse_from_str(digits, "%Y%m%d_%H%M%S").ok()
}

/// `counts`: submissions by outcome, and jobs by Slurm state when any state is known.
fn counts<'a>(facts: impl Iterator<Item = &'a Facts>) -> Value {
    let (mut submitted, mut failed, mut not_submitted, mut dry_run) = (0, 0, 0, 0);
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for f in facts {
        match f.outcome {
            Outcome::Submitted => submitted += 1,
            Outcome::Failed => failed += 1,
            Outcome::DryRun => dry_run += 1,
            Outcome::NotSubmitted => not_submitted += 1,
        }
        if let Some(state) = &f.state {
            *by_state.entry(state.as_str()).or_default() += 1;
        }
    }
    let mut counts = json!({
        "submitted": submitted,
        "failed_to_submit": failed,
        "not_submitted": not_submitted,
        "dry_run": dry_run,
    });
    if !by_state.is_empty() {
        counts["by_state"] = json!(by_state);
    }
    counts
}
