//! Reading the inputs: any mix of JSON Lines records and whole manifests (pretty-printed or
//! not), in any number of files or concatenated into one stream.
//!
//! Each input is read as a sequence of JSON values, so `cat manifest.json records.jsonl |
//! sweep-collect` reads exactly what `sweep-collect manifest.json records.jsonl` reads. A value
//! is a manifest when it is an object with a `jobs` array and no `index`; every other value
//! must be a record. Each record is checked as it is read, then kept as the caller keeps
//! records: as they are, or as their compact text ([`crate::compact::Compact`]).

use anyhow::{Context, Result};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::path::PathBuf;
use sweep::jsonl::{parse_record, Input};
use sweep::Record;

/// How the records are read.
#[derive(Default)]
pub struct Reading {
    /// The sweep directory of records that have none.
    pub sweep_dir: Option<String>,
    /// Check what would reach Slurm ([`crate::validate::for_slurm`]).
    pub for_slurm: bool,
}

/// What a record becomes as it is kept (a `Record`, or its compact text).
type Keep<'a, T> = &'a dyn Fn(Record) -> Result<T>;

/// Everything read from the inputs, in input order.
pub struct Collected<T> {
    /// Records, in the order they were read (manifest jobs in the manifest's order).
    pub records: Vec<T>,
    /// `sweep_timestamp` of every manifest read, in input order.
    pub manifest_timestamps: Vec<String>,
    /// True when the input was one file holding one manifest and nothing else (a manifest
    /// that a run may update in place).
    pub sole_manifest: bool,
    /// JSON values read, and how many of them were manifests.
    values: usize,
    manifests: usize,
    /// The first record Slurm could not be asked about (when checked): the error, given once
    /// every input was read (a damaged input is said first).
    bad_for_slurm: Option<String>,
}

/// Reads every input in order (no paths means stdin), keeping each record as `keep` makes it.
pub fn read_all<T>(paths: &[PathBuf], how: &Reading, keep: Keep<T>) -> Result<Collected<T>> {
    let mut collected = Collected {
        records: Vec::new(),
        manifest_timestamps: Vec::new(),
        sole_manifest: false,
        values: 0,
        manifests: 0,
        bad_for_slurm: None,
    };
    for mut input in Input::open_all(paths)? {
        // A file's size is known: read it into a string of that size, not one that doubles.
        let size = std::fs::metadata(&input.name).map_or(0, |m| m.len());
        let mut text = String::with_capacity(usize::try_from(size).unwrap_or(0));
        input
            .reader()
            .read_to_string(&mut text)
            .with_context(|| format!("failed to read {}", input.name))?;
        read_values(&input.name, &text, &(how, keep), &mut collected)?;
    }
    if let Some(bad) = collected.bad_for_slurm.take() {
        anyhow::bail!("{bad}");
    }
    collected.sole_manifest = paths.len() == 1 && collected.values == 1 && collected.manifests == 1;
    Ok(collected)
}

/// Reads the JSON values of one input's text. Each is first taken as raw text, and a record
/// is parsed from its own text: numbers keep their text (a big integer in a field of the
/// user's own passes through unchanged), and a value's position is where its text starts.
fn read_values<T>(
    name: &str,
    text: &str,
    how: &(&Reading, Keep<T>),
    out: &mut Collected<T>,
) -> Result<()> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<&RawValue>();
    // The line of each value is counted on from the previous one, never from the start of
    // the text: rescanning made 40,000 records take a minute.
    let mut lines = Lines { at: 0, line: 1 };
    loop {
        let raw = match stream.next() {
            None => return Ok(()),
            Some(Ok(v)) => v,
            Some(Err(e)) => anyhow::bail!("{}", syntax_error(name, &e)),
        };
        let begin = raw.get().as_ptr() as usize - text.as_ptr() as usize;
        let line = lines.line_of(text, begin);
        let at = format!("{name}:{line}: ");
        take_value(raw.get(), &at, how, out).map_err(|e| anyhow::anyhow!("{at}{e}"))?;
        out.values += 1;
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

/// The fields that tell a manifest from a record.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    jobs: Option<&'a RawValue>,
    index: Option<IgnoredAny>,
    sweep_timestamp: Option<Value>,
}

/// One value's text (at `at`): a manifest's jobs or one record. A value is a manifest when it
/// is an object with a `jobs` array and no `index`.
fn take_value<T>(
    text: &str,
    at: &str,
    how: &(&Reading, Keep<T>),
    out: &mut Collected<T>,
) -> Result<(), String> {
    // Only a value that mentions "jobs" is looked at as a manifest: the look is a second
    // parse, which 100,000 records need not pay.
    let head: Option<Head> = (text.starts_with('{') && text.contains("\"jobs\""))
        .then(|| serde_json::from_str(text).ok())
        .flatten();
    let jobs = head.as_ref().and_then(|h| match (h.jobs, &h.index) {
        (Some(jobs), None) if jobs.get().starts_with('[') => Some(jobs),
        _ => None,
    });
    let Some(jobs) = jobs else {
        let record = parse_record(text).map_err(|e| format!("invalid record: {e}"))?;
        return take_record(record, || at.to_string(), how, out);
    };
    out.manifests += 1;
    if let Some(stamp) = head
        .as_ref()
        .and_then(|h| h.sweep_timestamp.as_ref())
        .and_then(Value::as_str)
    {
        out.manifest_timestamps.push(stamp.to_string());
    }
    let jobs: Vec<&RawValue> =
        serde_json::from_str(jobs.get()).map_err(|e| format!("invalid manifest: {e}"))?;
    out.records.reserve(jobs.len());
    for (i, job) in jobs.into_iter().enumerate() {
        let record =
            parse_record(job.get()).map_err(|e| format!("invalid manifest: jobs[{i}]: {e}"))?;
        take_record(record, || format!("{at}jobs[{i}]."), how, out)?;
    }
    Ok(())
}

/// Keeps one record read at `origin` (as messages name it: `name:line: ` for a line of
/// records, `name:line: jobs[i].` for a manifest's job; the field's name follows).
fn take_record<T>(
    mut record: Record,
    origin: impl Fn() -> String,
    (how, keep): &(&Reading, Keep<T>),
    out: &mut Collected<T>,
) -> Result<(), String> {
    if let Some(dir) = how
        .sweep_dir
        .as_ref()
        .filter(|_| record.sweep_dir.is_none())
    {
        record.sweep_dir = Some(dir.clone());
    }
    if how.for_slurm && out.bad_for_slurm.is_none() {
        out.bad_for_slurm = crate::validate::for_slurm(&record)
            .err()
            .map(|e| format!("{}{e}", origin()));
    }
    out.records.push(keep(record).map_err(|e| e.to_string())?);
    Ok(())
}

/// The name of a sweep's manifest in its directory.
pub const MANIFEST: &str = "sweep_manifest.json";

/// What the command line names as inputs, as files: a sweep directory means its
/// `sweep_manifest.json`; no input at all, with stdin a terminal (nobody is piping records
/// in), means `./sweep_manifest.json` when there is one, else an error saying what to pass.
/// `-` and files are as given.
pub fn resolve(given: &[PathBuf], stdin_is_terminal: bool) -> Result<Vec<PathBuf>> {
    if given.is_empty() {
        if !stdin_is_terminal {
            return Ok(Vec::new());
        }
        let here = PathBuf::from(MANIFEST);
        if here.is_file() {
            return Ok(vec![here]);
        }
        return Err(sweep::cli::UsageError(format!(
            "no input: stdin is a terminal and there is no ./{MANIFEST} here; pass a manifest or a sweep directory (sweep-collect --status sweeps/tpt), or pipe records in"
        ))
        .into());
    }
    given
        .iter()
        .map(|p| {
            if !p.is_dir() {
                return Ok(p.clone());
            }
            let manifest = p.join(MANIFEST);
            match manifest.is_file() {
                true => Ok(manifest),
                false => anyhow::bail!(
                    "{}: a directory without a {MANIFEST}: pass a sweep directory that has one, a manifest, or a file of records",
                    p.display()
                ),
            }
        })
        .collect()
}
