//! `--job ID`: one job of the sweep, whichever submission it was (current, a `--retries`
//! follow-up, or an earlier one in `history`): its state, failure cause, config, job script,
//! its own log directory and sbatch's `%j.out`/`%j.err`, and its record. Each field on its
//! own line on a terminal (`--format table`); otherwise one JSON object.

use crate::failure;
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::Path;
use sweep::record::{Failure, JobStatus};
use sweep::{JobState, Record};

/// Which submission of its combination a job was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// `job_id`.
    Current,
    /// `retry_job_ids[n]`.
    Retry(usize),
    /// `history[h].job_id`.
    History(usize),
    /// `history[h].retry_job_ids[n]`.
    HistoryRetry(usize, usize),
}

impl std::fmt::Display for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Which::Current => f.write_str("current"),
            Which::Retry(n) => write!(f, "--retries follow-up {}", n + 1),
            Which::History(h) => write!(f, "earlier submission (history[{h}])"),
            Which::HistoryRetry(h, n) => {
                write!(f, "--retries follow-up {} of history[{h}]", n + 1)
            }
        }
    }
}

/// The record that names job `id`, and which of its jobs it is; an error when none does.
/// When several do (job IDs are reused after a controller's state is rebuilt, and wrap), the
/// newest submission: see [`named_by`].
pub fn find<'a>(records: &'a [Record], id: &str) -> Result<(&'a Record, Which)> {
    let all = named_by(records, id);
    let newest = all
        .iter()
        .enumerate()
        .max_by(|(i, a), (j, b)| submitted(a).cmp(&submitted(b)).then(j.cmp(i)));
    match newest {
        Some((_, found)) => Ok(*found),
        None => bail!(
            "no record names job {id} (looked at the job_id, retry_job_ids and history of {} record(s))",
            records.len()
        ),
    }
}

/// Every submission of the records that names job `id`, in record order.
pub fn named_by<'a>(records: &'a [Record], id: &str) -> Vec<(&'a Record, Which)> {
    let mut found = Vec::new();
    for r in records {
        if r.job_id.as_deref() == Some(id) {
            found.push((r, Which::Current));
        }
        if let Some(n) = r.retry_job_ids.iter().position(|j| j == id) {
            found.push((r, Which::Retry(n)));
        }
        for (h, s) in r.history.iter().enumerate() {
            if s.job_id == id {
                found.push((r, Which::History(h)));
            }
            if let Some(n) = s.retry_job_ids.iter().position(|j| j == id) {
                found.push((r, Which::HistoryRetry(h, n)));
            }
        }
    }
    found
}

/// When the submission that names a job was made.
fn submitted(found: &(&Record, Which)) -> Option<sweep::Timestamp> {
    let (r, which) = found;
    match which {
        Which::Current | Which::Retry(_) => r.submitted_at.clone(),
        Which::History(h) | Which::HistoryRetry(h, _) => r.history[*h].submitted_at.clone(),
    }
}

/// Says on stderr, once, when several submissions name job `id`: which one is shown.
pub fn note_reused(records: &[Record], id: &str) {
    let all = named_by(records, id);
    if all.len() < 2 {
        return;
    }
    let Ok((shown, which)) = find(records, id) else {
        return;
    };
    let others: Vec<String> = all
        .iter()
        .filter(|(r, w)| !(std::ptr::eq(*r, shown) && *w == which))
        .map(|(r, w)| format!("index {} ({w})", r.index))
        .collect();
    sweep::cli::warn(format_args!(
        "note: job {id} is named by {} submissions (job IDs are reused after a controller's state is rebuilt, and wrap): showing the newest, index {} ({which}); the others: {}",
        all.len(),
        shown.index,
        others.join(", ")
    ));
}

/// What is known of one job.
struct Details<'a> {
    record: &'a Record,
    which: Which,
    state: Option<JobState>,
    failure: Option<Failure>,
    job_script: Option<String>,
    job_dir: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
}

fn details<'a>(record: &'a Record, which: Which, id: &str) -> Details<'a> {
    let s = &record.status;
    let current = s.state_job_id.as_deref().or(record.job_id.as_deref());
    let state = match which {
        _ if current == Some(id) => s.state.clone(),
        // A follow-up took over: this one ended without completing, in a state not kept.
        Which::Current => None,
        Which::Retry(n) => s.retry_states.get(n).cloned(),
        Which::History(h) => record.history[h].state.clone(),
        Which::HistoryRetry(..) => None,
    };
    let log_dir = record.log_dir.as_deref();
    // Of a job that is not the current attempt only its end state is known.
    let ended = |state: JobState| JobStatus {
        state: Some(state),
        ..JobStatus::default()
    };
    let failure = match which {
        _ if current == Some(id) => s.failure.clone().or_else(|| failure::of_record(record)),
        Which::Current => failure::of_job(log_dir, id, &ended(JobState::Failed)),
        _ => state
            .clone()
            .and_then(|st| failure::of_job(log_dir, id, &ended(st))),
    };
    let job_script = match which {
        Which::History(h) | Which::HistoryRetry(h, _) => record.history[h].job_script.clone(),
        _ => record.job_script.clone(),
    };
    let log = record.log_dir.as_deref().map(Path::new);
    let path = |name: String| log.map(|l| l.join(name).display().to_string());
    Details {
        record,
        which,
        state,
        failure,
        job_script,
        job_dir: path(format!("{id}/")),
        stdout: path(format!("{id}.out")),
        stderr: path(format!("{id}.err")),
    }
}

/// Shows job `id` on stdout: fields on their own lines when `human`, else JSON.
pub fn show(records: &[Record], id: &str, human: bool) -> Result<()> {
    let (record, which) = find(records, id)?;
    let d = details(record, which, id);
    let text = if human {
        human_text(id, &d)
    } else {
        let mut v = serde_json::to_string_pretty(&json_of(id, &d)?)?;
        v.push('\n');
        v
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    Ok(out.flush()?)
}

fn json_of(id: &str, d: &Details) -> Result<Value> {
    let mut v = Map::new();
    let mut put = |k: &str, value: Value| {
        if !value.is_null() {
            v.insert(k.to_string(), value);
        }
    };
    put("job_id", json!(id));
    put("submission", json!(d.which.to_string()));
    put("index", json!(d.record.index));
    put("id", json!(d.record.id));
    put("state", json!(d.state));
    put("failure", serde_json::to_value(&d.failure)?);
    put("config_path", json!(d.record.config_path));
    put("job_script", json!(d.job_script));
    put("job_dir", json!(d.job_dir));
    put("stdout", json!(d.stdout));
    put("stderr", json!(d.stderr));
    put("record", serde_json::to_value(d.record)?);
    Ok(Value::Object(v))
}

fn human_text(id: &str, d: &Details) -> String {
    let r = d.record;
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        lines.push((k.to_string(), v.unwrap_or_else(|| "-".to_string())));
    };
    put("state", d.state.as_ref().map(JobState::to_string));
    if let Some(f) = &d.failure {
        let step = match (&f.step, f.exit_status) {
            (Some(s), Some(rc)) => format!("{s} exited with status {rc}: "),
            (Some(s), None) => format!("{s}: "),
            _ => String::new(),
        };
        put("failure", Some(format!("{step}{}", f.message)));
        if let Some(file) = &f.file {
            put("  read from", Some(file.clone()));
        }
    }
    put("config", r.config_path.clone());
    put("job script", d.job_script.clone());
    put("job dir", d.job_dir.clone());
    put("sbatch out", d.stdout.clone());
    put("sbatch err", d.stderr.clone());
    let which = match d.which {
        Which::Current => "the current submission".to_string(),
        other => other.to_string(),
    };
    let mut text = format!(
        "job {id} of combination {} (index {}): {which}\n",
        r.id, r.index
    );
    field_lines(&mut text, &lines);
    text.push_str("record:\n");
    let mut fields = Vec::new();
    if let Ok(Value::Object(map)) = serde_json::to_value(r) {
        flatten("", &map, &mut fields);
    }
    field_lines(&mut text, &fields);
    text
}

/// `  key   value` lines, keys padded to one width.
fn field_lines(text: &mut String, lines: &[(String, String)]) {
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in lines {
        text.push_str(&format!("  {k:width$}  {v}\n"));
    }
}

/// Each field of a record on its own line: `parameters` and `role_parameters` one value
/// per line (`parameters.sglang.mem-fraction-static`), every other field as compact JSON
/// (strings bare).
fn flatten(prefix: &str, map: &Map<String, Value>, out: &mut Vec<(String, String)>) {
    for (k, v) in map {
        let key = format!("{prefix}{k}");
        let nested = matches!(
            k.as_str(),
            "parameters" | "role_parameters" | "slurm" | "sglang" | "prefill" | "decode"
        ) && prefix.len() < 40;
        match v {
            Value::Object(inner) if nested => flatten(&format!("{key}."), inner, out),
            Value::String(s) => out.push((key, s.clone())),
            other => out.push((key, other.to_string())),
        }
    }
}
