//! The manifest: the seed's `sweep_manifest.json` (`sweep_timestamp`, `total_jobs`, `jobs` with
//! `job_id` and `parameters` first) plus `counts` and every record field.

use anyhow::Result;
use chrono::{DateTime, Local, NaiveDateTime};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use sweep::record::SubmitStatus;
use sweep::Record;

/// The seed's timestamp format (local time).
const STAMP: &str = "%Y-%m-%d %H:%M:%S";

/// The manifest as pretty-printed JSON (2-space indent) with a trailing newline.
pub fn render(records: &[Record], earlier_stamps: &[String]) -> Result<String> {
    let jobs = records.iter().map(job).collect::<Result<Vec<_>>>()?;
    let manifest = json!({
        "sweep_timestamp": timestamp(records, earlier_stamps),
        "total_jobs": records.len(),
        "counts": counts(records),
        "jobs": jobs,
    });
    let mut text = serde_json::to_string_pretty(&manifest)?;
    text.push('\n');
    Ok(text)
}

/// One job entry: `job_id` (when there is one) and `parameters` first, as the seed wrote them,
/// then every other field of the record in record order.
fn job(record: &Record) -> Result<Value> {
    let Value::Object(mut fields) = serde_json::to_value(record)? else {
        anyhow::bail!("a record did not serialize to an object")
    };
    let mut entry = Map::new();
    for key in ["job_id", "parameters"] {
        if let Some(v) = fields.shift_remove(key) {
            entry.insert(key.to_string(), v);
        }
    }
    entry.extend(fields);
    Ok(Value::Object(entry))
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
            .filter_map(|r| DateTime::parse_from_rfc3339(r.submitted_at.as_deref()?).ok())
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
            *by_state.entry(state).or_default() += 1;
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
