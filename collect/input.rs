//! Reading the inputs: any mix of JSON Lines records and whole manifests (pretty-printed or
//! not), in any number of files or concatenated into one stream.
//!
//! Each input is read as a sequence of JSON values, so `cat manifest.json records.jsonl |
//! sweep-collect` reads exactly what `sweep-collect manifest.json records.jsonl` reads. A value
//! is a manifest when it is an object with a `jobs` array and no `index`; every other value
//! must be a record.

use anyhow::{Context, Result};
use serde_json::Value;
use std::path::PathBuf;
use sweep::jsonl::{record_from_value, Input};
use sweep::Record;

/// Everything read from the inputs, in input order.
pub struct Collected {
    /// Records, in the order they were read (manifest jobs in the manifest's order).
    pub records: Vec<Record>,
    /// Where each record came from, as messages name it: `name:line: ` for a line of
    /// records, `name:line: jobs[i].` for a manifest's job (the field's name follows).
    pub origins: Vec<String>,
    /// `sweep_timestamp` of every manifest read, in input order.
    pub manifest_timestamps: Vec<String>,
}

/// Reads every input in order; no paths means stdin.
pub fn read_all(paths: &[PathBuf]) -> Result<Collected> {
    let mut collected = Collected {
        records: Vec::new(),
        origins: Vec::new(),
        manifest_timestamps: Vec::new(),
    };
    for mut input in Input::open_all(paths)? {
        let mut text = String::new();
        input
            .reader()
            .read_to_string(&mut text)
            .with_context(|| format!("failed to read {}", input.name))?;
        read_values(&input.name, &text, &mut collected)?;
    }
    Ok(collected)
}

/// Reads the JSON values of one input's text.
fn read_values(name: &str, text: &str, out: &mut Collected) -> Result<()> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut start = 0;
    // The line of each value is counted on from the previous one, never from the start of
    // the text: rescanning made 40,000 records take a minute.
    let mut lines = Lines { at: 0, line: 1 };
    loop {
        let value = match stream.next() {
            None => return Ok(()),
            Some(Ok(v)) => v,
            Some(Err(e)) => anyhow::bail!("{}", syntax_error(name, &e)),
        };
        let begin = start + leading_blank(&text[start..]);
        start = stream.byte_offset();
        let line = lines.line_of(text, begin);
        let at = format!("{name}:{line}: ");
        take_value(value, &at, out).map_err(|e| anyhow::anyhow!("{at}{e}"))?;
    }
}

/// `name:L:C: invalid JSON: msg`, from serde_json's `msg at line L column C`.
fn syntax_error(name: &str, e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = msg.strip_suffix(&suffix).unwrap_or(&msg);
    format!("{name}:{}:{}: invalid JSON: {msg}", e.line(), e.column())
}

/// Line numbers of increasing byte offsets, each found from the last.
struct Lines {
    /// Byte offset counted up to.
    at: usize,
    /// Line at `at` (1-based).
    line: usize,
}

impl Lines {
    /// The line of byte offset `to` (never less than the last one asked).
    fn line_of(&mut self, text: &str, to: usize) -> usize {
        self.line += text.as_bytes()[self.at..to]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.at = to;
        self.line
    }
}

fn leading_blank(s: &str) -> usize {
    s.len() - s.trim_start().len()
}

/// One value (at `at`): a manifest's jobs or one record.
fn take_value(value: Value, at: &str, out: &mut Collected) -> Result<(), String> {
    let is_manifest = value
        .as_object()
        .is_some_and(|o| o.get("jobs").is_some_and(Value::is_array) && !o.contains_key("index"));
    if !is_manifest {
        out.records
            .push(record_from_value(value).map_err(|e| format!("invalid record: {e}"))?);
        out.origins.push(at.to_string());
        return Ok(());
    }
    let Value::Object(mut manifest) = value else {
        unreachable!("checked above")
    };
    if let Some(stamp) = manifest.get("sweep_timestamp").and_then(Value::as_str) {
        out.manifest_timestamps.push(stamp.to_string());
    }
    let Some(Value::Array(jobs)) = manifest.remove("jobs") else {
        unreachable!("checked above")
    };
    for (i, job) in jobs.into_iter().enumerate() {
        let record =
            record_from_value(job).map_err(|e| format!("invalid manifest: jobs[{i}]: {e}"))?;
        out.records.push(record);
        out.origins.push(format!("{at}jobs[{i}]."));
    }
    Ok(())
}
