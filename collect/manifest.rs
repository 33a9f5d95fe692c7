//! The manifest: the seed's `sweep_manifest.json` (`sweep_timestamp`, `total_jobs`, `jobs` with
//! `job_id` and `parameters` first) plus `counts` and every record field.

use crate::job::Job;
use anyhow::Result;
use chrono::{Local, NaiveDateTime};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use sweep::record::SubmitStatus;
use sweep::Record;

/// The seed's timestamp format (local time).
const STAMP: &str = "%Y-%m-%d %H:%M:%S";

/// Writes the manifest as pretty-printed JSON (2-space indent) with a trailing newline, one
/// job at a time, straight from the records: no JSON tree of the whole manifest (for 100,000
/// records that tree took twice the memory of the records themselves), and a sweep's results
/// are made JSON only as their job is written. `extra` gives record `i`'s `results`, if any.
pub fn write(
    w: &mut dyn Write,
    records: &[Record],
    earlier_stamps: &[String],
    extra: &dyn Fn(usize) -> Option<Value>,
) -> Result<()> {
    let head = json!({
        "sweep_timestamp": timestamp(records, earlier_stamps),
        "total_jobs": records.len(),
        "counts": counts(records),
        "jobs": [],
    });
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
    for (i, record) in records.iter().enumerate() {
        w.write_all(if i == 0 { b"\n    " } else { b",\n    " })?;
        let job = Job::of(record, extra(i));
        serde_json::to_writer_pretty(Indented(&mut *w), &job).map_err(std::io::Error::from)?;
    }
    w.write_all(b"\n  ]\n}\n")?;
    Ok(())
}

/// A writer that puts 4 spaces after each newline: a job nests two levels into the manifest
/// (JSON strings hold no raw newline, so every newline is the pretty printer's).
struct Indented<'a>(&'a mut dyn Write);

impl Write for Indented<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        while let Some(n) = rest.iter().position(|&b| b == b'\n') {
            self.0.write_all(&rest[..=n])?;
            self.0.write_all(b"    ")?;
            rest = &rest[n + 1..];
        }
        self.0.write_all(rest)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// When the sweep started, as the seed stamped it: kept from the earliest manifest read;
/// else the sweep directory's name (`sweep_YYYYMMDD_HHMMSS`); else the earliest submission;
/// else now. Re-collecting a sweep never moves its timestamp.
fn timestamp(records: &[Record], earlier_stamps: &[String]) -> String {
    if let Some(stamp) = earlier_stamps.iter().min() {
        return stamp.clone();
    }
    let from_dir = records
        .iter()
        .filter_map(|r| r.sweep_dir.as_deref().and_then(dir_stamp))
        .min();
    let from_submission = || {
        records
            .iter()
            .filter_map(|r| r.submitted_at.as_ref()?.instant())
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
fn counts(records: &[Record]) -> Value {
    let (mut submitted, mut failed, mut not_submitted, mut dry_run) = (0, 0, 0, 0);
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    for r in records {
        match (&r.job_id, r.submit_status) {
            (Some(_), _) => submitted += 1,
            (None, Some(SubmitStatus::Failed)) => failed += 1,
            (None, Some(SubmitStatus::DryRun)) => dry_run += 1,
            (None, _) => not_submitted += 1,
        }
        if let Some(state) = &r.status.state {
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
