//! `--results`: every job's benchmark numbers in its record, the Pareto frontier of output
//! tokens/s per GPU against output tokens/s per user, a flat table and a plot.
//!
//! For each record with a `log_dir` and a `job_id`, the result files of its current
//! submission's jobs ([`gather`]) are read ([`read`]) into runs in one vocabulary
//! ([`formats`]); each run becomes a point with the figures that need the record (GPUs, per
//! GPU, per user) and a verdict (valid or not, and why). Valid points that meet the `--slo`
//! limits compete for the frontier across the whole sweep ([`frontier`]). Each record gains
//! `results`; `--table` ([`table`]) and `--plot` ([`plot`]) write files; the frontier is
//! summarised for people ([`summary`]). A file that cannot be read or parsed becomes an error
//! in its record's `results.errors`, naming file and line; nothing else stops.

mod cli;
mod formats;
mod frontier;
mod gather;
mod plot;
mod read;
mod summary;
mod table;

use anyhow::Result;
use formats::Run;
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Arc;
use sweep::Record;

pub use cli::{apply, ResultsArgs};
pub use frontier::Limit;
pub use table::TableFormat;

/// What `--results` and its companions asked for.
pub struct Options {
    /// `--slo` limits (empty: none).
    pub slo: Vec<Limit>,
    /// `--max-result-bytes`: larger files are an error, not read.
    pub max_bytes: u64,
    /// `--table`: where and in which format; `-` is stdout.
    pub table: Option<(PathBuf, TableFormat)>,
    /// `--plot FILE.svg`.
    pub plot: Option<PathBuf>,
    /// `--color-by KEY`: a swept parameter.
    pub color_by: Option<String>,
}

/// What a run produced: every record's results, and the rest.
pub struct Outcome {
    /// One per record, in record order.
    pub found: Vec<Found>,
    /// The frontier for people (several lines).
    pub summary: String,
    /// One line: how many points, valid, on the frontier, errors.
    pub note: String,
    /// The table, when it goes to stdout (`--table -`).
    pub table_stdout: Option<Vec<u8>>,
}

/// Parses `--slo`, naming what is wrong.
pub fn parse_slo(text: &str) -> Result<Vec<Limit>> {
    frontier::parse_slo(text, Point::is_metric)
}

/// One benchmark run of one job, with what needs the record.
pub struct Point {
    pub job_id: Arc<str>,
    pub file: Arc<str>,
    pub line: u64,
    pub run: Run,
    pub gpus: Option<u64>,
    pub output_tps_per_gpu: Option<f64>,
    pub total_tps_per_gpu: Option<f64>,
    pub output_tps_per_user: Option<f64>,
    pub invalid_reason: Option<String>,
    pub meets_slo: Option<bool>,
    pub pareto: bool,
}

/// A file of a record that could not be read, or a value in it that is not a result.
pub struct FileError {
    job_id: Arc<str>,
    file: Arc<str>,
    line: Option<u64>,
    error: String,
}

/// One record's results.
#[derive(Default)]
pub struct Found {
    pub points: Vec<Point>,
    errors: Vec<FileError>,
    searched: Vec<String>,
}

/// Gathers every record's results, judges them, flags the frontier and writes the table and
/// plot. The records' `results` are added when they are written ([`cli::Applied::results_of`]): held as
/// compact points until then, a large sweep's results stay small in memory.
pub fn run(records: &[Record], opts: &Options) -> Result<Outcome> {
    if let Some(key) = &opts.color_by {
        plot::color_key(records, key)?;
    }
    let mut found = gather_all(records, opts);
    let unknown_states = judge(records, &mut found, &opts.slo);
    flag_frontier(&mut found);
    let table_stdout = match &opts.table {
        Some((path, format)) if path.as_os_str() == "-" => {
            let mut bytes = Vec::new();
            table::write(&mut bytes, records, &found, *format)?;
            Some(bytes)
        }
        Some((path, format)) => {
            sweep::fsutil::write_atomic_with(path, |w| table::write(w, records, &found, *format))?;
            None
        }
        None => None,
    };
    if let Some(path) = &opts.plot {
        let svg = plot::render(records, &found, opts)?;
        sweep::fsutil::write_atomic(path, svg.as_bytes())?;
    }
    let summary = summary::frontier(records, &found, &opts.slo);
    let note = summary::note(&found, unknown_states);
    Ok(Outcome {
        found,
        summary,
        note,
        table_stdout,
    })
}

/// Threads for reading and formatting: the machine's cores (at most 8), or
/// `SWEEP_RESULTS_THREADS` (for measurements).
fn threads() -> usize {
    std::env::var("SWEEP_RESULTS_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)))
        .max(1)
}

/// Every record's points and errors, in record order. The work is split over the machine's
/// cores in contiguous chunks: reading many small files is mostly waiting on system calls.
fn gather_all(records: &[Record], opts: &Options) -> Vec<Found> {
    let chunk = records.len().div_ceil(threads()).max(64);
    if chunk >= records.len() {
        let mut buf = Vec::new();
        return records
            .iter()
            .map(|r| gather_record(r, opts, &mut buf))
            .collect();
    }
    let gather = |part: &[Record]| {
        let mut buf = Vec::new();
        part.iter()
            .map(|r| gather_record(r, opts, &mut buf))
            .collect::<Vec<Found>>()
    };
    let mut parts = records.chunks(chunk);
    let first = parts.next().unwrap_or_default();
    std::thread::scope(|scope| {
        let workers: Vec<_> = parts
            .map(|part| scope.spawn(move || gather(part)))
            .collect();
        // This thread takes the first part: its memory (and what reading the input freed) is
        // reused rather than a new allocator arena's.
        let mut found = gather(first);
        for w in workers {
            found.extend(w.join().expect("a results worker panicked"));
        }
        found
    })
}

/// The points and errors of one record's current jobs.
fn gather_record(r: &Record, opts: &Options, buf: &mut Vec<u8>) -> Found {
    let mut f = Found::default();
    for (job_id, dir) in gather::job_dirs(r) {
        f.searched.push(dir.display().to_string());
        let job_id: Arc<str> = job_id.into();
        for found in gather::result_files(&dir) {
            let path = found.path;
            let file: Arc<str> = path.display().to_string().into();
            let mut on_value = |line: u64, raw: read::Raw| {
                let parsed = match raw {
                    read::Raw::Object(fields) => formats::run(&fields),
                    read::Raw::Other(kind) => Err(format!("expected a JSON object, found {kind}")),
                };
                match parsed {
                    Ok(run) => f
                        .points
                        .push(Point::new(job_id.clone(), file.clone(), line, run)),
                    Err(error) => f.errors.push(FileError {
                        job_id: job_id.clone(),
                        file: file.clone(),
                        line: Some(line),
                        error,
                    }),
                }
            };
            let read = match found.content {
                Some(content) => read::text(&content, opts.max_bytes, &mut on_value),
                None => read::values(&path, opts.max_bytes, buf, &mut on_value),
            };
            if let Err(e) = read {
                f.errors.push(FileError {
                    job_id: job_id.clone(),
                    file: file.clone(),
                    line: e.line,
                    error: e.message,
                });
            }
        }
    }
    f
}

/// Derived figures and verdicts; returns how many jobs with points had no known state.
fn judge(records: &[Record], found: &mut [Found], slo: &[Limit]) -> usize {
    let mut unknown = 0;
    for (r, f) in records.iter().zip(found.iter_mut()) {
        let gpus = gpus_of(r);
        let mut unknown_here = std::collections::BTreeSet::new();
        for p in &mut f.points {
            p.derive(gpus);
            let mut reasons = p.reasons();
            match job_verdict(r, &p.job_id) {
                Verdict::Completed => {}
                Verdict::Not(why) => reasons.push(why),
                Verdict::Unknown => {
                    unknown_here.insert(p.job_id.clone());
                }
            }
            p.invalid_reason = (!reasons.is_empty()).then(|| reasons.join("; "));
            if !slo.is_empty() {
                p.meets_slo = Some(frontier::meets(slo, |n| p.get(n)));
            }
        }
        unknown += unknown_here.len();
    }
    unknown
}

/// Flags the frontier among the valid points that meet the limits and can be placed.
fn flag_frontier(found: &mut [Found]) {
    let mut at = Vec::new();
    let mut xy = Vec::new();
    for (i, f) in found.iter().enumerate() {
        for (j, p) in f.points.iter().enumerate() {
            if let Some(c) = p.coordinates() {
                at.push((i, j));
                xy.push(c);
            }
        }
    }
    for ((i, j), on) in at.into_iter().zip(frontier::pareto(&xy)) {
        found[i].points[j].pareto = on;
    }
}

/// GPUs of the record's job: nodes x GPUs per node, when the record says both.
fn gpus_of(r: &Record) -> Option<u64> {
    let nodes = r.total_nodes.or_else(|| {
        use sweep::record::SlurmKey;
        let n = |k: SlurmKey| r.slurm_count(k);
        n(SlurmKey::AggNodes)
            .or_else(|| Some(n(SlurmKey::PrefillNodes)? + n(SlurmKey::DecodeNodes)?))
    })?;
    Some(nodes * r.gpus_per_node?).filter(|&g| g > 0)
}

enum Verdict {
    Completed,
    Not(String),
    Unknown,
}

/// Whether the job that wrote a point ended COMPLETED, as far as the record knows.
fn job_verdict(r: &Record, job_id: &str) -> Verdict {
    let current = r.status.state_job_id.as_deref().or(r.job_id.as_deref());
    let state = if Some(job_id) == current {
        r.status.state.clone()
    } else if let Some(k) = r.retry_job_ids.iter().position(|j| j == job_id) {
        r.status.retry_states.get(k).cloned()
    } else if r.status.state.is_some() {
        // The first job, when a follow-up took over: it ended, and not COMPLETED.
        return Verdict::Not(format!(
            "job {job_id} did not complete (its --retries follow-up {} took over)",
            current.unwrap_or_default()
        ));
    } else {
        None
    };
    match state.as_deref() {
        None => Verdict::Unknown,
        Some("COMPLETED") => Verdict::Completed,
        Some(s) if sweep::slurm::is_final(s) => Verdict::Not(format!("job {job_id} ended {s}")),
        Some(s) => Verdict::Not(format!("job {job_id} has not ended ({s})")),
    }
}

impl Point {
    fn new(job_id: Arc<str>, file: Arc<str>, line: u64, run: Run) -> Point {
        Point {
            job_id,
            file,
            line,
            run,
            gpus: None,
            output_tps_per_gpu: None,
            total_tps_per_gpu: None,
            output_tps_per_user: None,
            invalid_reason: None,
            meets_slo: None,
            pareto: false,
        }
    }

    /// Per GPU and per user (1000 / median TPOT).
    fn derive(&mut self, gpus: Option<u64>) {
        self.gpus = gpus;
        let per_gpu = |v: f64| gpus.map(|g| v / g as f64);
        self.total_tps_per_gpu = self.run.total_throughput.and_then(per_gpu);
        self.output_tps_per_gpu = per_gpu(self.run.output_throughput);
        self.output_tps_per_user = self
            .latency("tpot_median_ms")
            .filter(|&t| t > 0.0)
            .map(|t| 1000.0 / t);
    }

    /// Why the numbers make this run invalid (empty: they don't).
    fn reasons(&self) -> Vec<String> {
        let r = &self.run;
        let mut why = Vec::new();
        if r.completed == 0 {
            why.push("no completed requests".to_string());
        }
        if let Some(n) = r.failed.filter(|&n| n > 0) {
            why.push(format!("{n} failed requests"));
        }
        if r.output_tokens == 0 {
            why.push("no output tokens".to_string());
        }
        if r.duration_s <= 0.0 {
            why.push("duration is not positive".to_string());
        }
        if self.output_tps_per_user.is_none() {
            why.push("no positive median TPOT (tokens/s per user is undefined)".to_string());
        }
        why
    }

    pub fn valid(&self) -> bool {
        self.invalid_reason.is_none()
    }

    /// (output tokens/s per GPU, output tokens/s per user) of a frontier candidate.
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        if !self.valid() || self.meets_slo == Some(false) {
            return None;
        }
        Some((self.output_tps_per_gpu?, self.output_tps_per_user?))
    }

    fn latency(&self, name: &str) -> Option<f64> {
        let l = formats::Latency::from_name(name)?;
        self.run
            .latency
            .iter()
            .find(|(n, _)| *n == l)
            .map(|(_, v)| *v)
    }

    /// A numeric metric by its documented name.
    pub fn get(&self, name: &str) -> Option<f64> {
        let r = &self.run;
        let n = |v: u64| Some(v as f64);
        match name {
            "concurrency" => r.concurrency.and_then(n),
            "request_rate" => r.request_rate,
            "duration_s" => Some(r.duration_s),
            "completed" => n(r.completed),
            "failed" => r.failed.and_then(n),
            "input_tokens" => r.input_tokens.and_then(n),
            "output_tokens" => n(r.output_tokens),
            "request_throughput" => r.request_throughput,
            "input_throughput" => r.input_throughput,
            "output_throughput" => Some(r.output_throughput),
            "total_throughput" => r.total_throughput,
            "measured_concurrency" => r.measured_concurrency,
            "gpus" => self.gpus.and_then(n),
            "output_tps_per_gpu" => self.output_tps_per_gpu,
            "total_tps_per_gpu" => self.total_tps_per_gpu,
            "output_tps_per_user" => self.output_tps_per_user,
            other => self.latency(other),
        }
    }

    /// True for a name [`Point::get`] may answer.
    pub fn is_metric(name: &str) -> bool {
        RUN_METRICS.contains(&name)
            || DERIVED_METRICS.contains(&name)
            || formats::is_latency_name(name)
    }

    /// The point's fields in output order, absent ones left out: as they appear in the
    /// record's `results.points` and, flattened, in the table.
    pub fn each_field(&self, mut f: impl FnMut(&str, Cell)) {
        let r = &self.run;
        let opt_u = |f: &mut dyn FnMut(&str, Cell), k: &str, v: Option<u64>| {
            if let Some(v) = v {
                f(k, Cell::U64(v));
            }
        };
        let opt_f = |f: &mut dyn FnMut(&str, Cell), k: &str, v: Option<f64>| {
            if let Some(v) = v {
                f(k, Cell::F64(v));
            }
        };
        f("job_id", Cell::Str(&self.job_id));
        f("file", Cell::Str(&self.file));
        f("line", Cell::U64(self.line));
        if let Some(format) = r.format {
            f("format", Cell::Str(format.as_str()));
        }
        opt_u(&mut f, "concurrency", r.concurrency);
        opt_f(&mut f, "request_rate", r.request_rate);
        f("duration_s", Cell::F64(r.duration_s));
        f("completed", Cell::U64(r.completed));
        opt_u(&mut f, "failed", r.failed);
        opt_u(&mut f, "input_tokens", r.input_tokens);
        f("output_tokens", Cell::U64(r.output_tokens));
        opt_f(&mut f, "request_throughput", r.request_throughput);
        opt_f(&mut f, "input_throughput", r.input_throughput);
        f("output_throughput", Cell::F64(r.output_throughput));
        opt_f(&mut f, "total_throughput", r.total_throughput);
        for (l, v) in &r.latency {
            f(&l.name(), Cell::F64(*v));
        }
        opt_f(&mut f, "measured_concurrency", r.measured_concurrency);
        opt_u(&mut f, "gpus", self.gpus);
        opt_f(&mut f, "output_tps_per_gpu", self.output_tps_per_gpu);
        opt_f(&mut f, "total_tps_per_gpu", self.total_tps_per_gpu);
        opt_f(&mut f, "output_tps_per_user", self.output_tps_per_user);
        f("valid", Cell::Bool(self.valid()));
        if let Some(why) = &self.invalid_reason {
            f("invalid_reason", Cell::Str(why));
        }
        if let Some(ok) = self.meets_slo {
            f("meets_slo", Cell::Bool(ok));
        }
        f("pareto", Cell::Bool(self.pareto));
    }

    /// The point as a JSON object (see [`Point::each_field`]).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        self.each_field(|k, v| {
            m.insert(k.to_string(), v.to_json());
        });
        m
    }
}

/// One field value of a point.
#[derive(Clone, Copy)]
pub enum Cell<'a> {
    Str(&'a str),
    U64(u64),
    F64(f64),
    Bool(bool),
}

impl Cell<'_> {
    pub fn to_json(self) -> Value {
        match self {
            Cell::Str(s) => json!(s),
            Cell::U64(v) => json!(v),
            Cell::F64(v) => json!(v),
            Cell::Bool(v) => json!(v),
        }
    }

    /// Writes the value as JSON (numbers as serde_json writes them).
    pub fn write_json(self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        match self {
            Cell::Str(s) => serde_json::to_writer(w, s).map_err(std::io::Error::from),
            Cell::U64(v) => serde_json::to_writer(w, &v).map_err(std::io::Error::from),
            Cell::F64(v) => serde_json::to_writer(w, &v).map_err(std::io::Error::from),
            Cell::Bool(v) => w.write_all(if v { b"true" } else { b"false" }),
        }
    }

    /// The CSV cell: the JSON text of a number or boolean, a string as is.
    pub fn write_text(self, out: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            Cell::Str(s) => {
                out.extend_from_slice(s.as_bytes());
                Ok(())
            }
            other => other.write_json(out),
        }
    }
}

/// The run's own figures, in output order (before the latencies).
const RUN_METRICS: &[&str] = &[
    "concurrency",
    "request_rate",
    "duration_s",
    "completed",
    "failed",
    "input_tokens",
    "output_tokens",
    "request_throughput",
    "input_throughput",
    "output_throughput",
    "total_throughput",
];

/// Figures derived with the record, in output order (after the latencies).
const DERIVED_METRICS: &[&str] = &[
    "measured_concurrency",
    "gpus",
    "output_tps_per_gpu",
    "total_tps_per_gpu",
    "output_tps_per_user",
];

/// Where a point column goes in the table: the order of [`Point::each_field`].
pub fn column_rank(name: &str) -> (u16, Option<formats::Latency>) {
    const SOURCE: &[&str] = &["job_id", "file", "line", "format"];
    const VERDICT: &[&str] = &["valid", "invalid_reason", "meets_slo", "pareto"];
    let before = SOURCE.iter().chain(RUN_METRICS);
    if let Some(i) = before.clone().position(|k| *k == name) {
        return (i as u16, None);
    }
    let latencies = before.count() as u16;
    if let Some(l) = formats::Latency::from_name(name) {
        return (latencies, Some(l));
    }
    let after = DERIVED_METRICS.iter().chain(VERDICT);
    let i = after
        .clone()
        .position(|k| *k == name)
        .unwrap_or(after.count());
    (latencies + 1 + i as u16, None)
}

impl Found {
    /// The record's `results` field.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        let valid = self.points.iter().filter(|p| p.valid()).count();
        m.insert("valid_points".to_string(), json!(valid));
        let points: Vec<Value> = self
            .points
            .iter()
            .map(|p| Value::Object(p.to_json()))
            .collect();
        m.insert("points".to_string(), Value::Array(points));
        if !self.errors.is_empty() {
            let errors: Vec<Value> = self
                .errors
                .iter()
                .map(|e| {
                    let mut o = Map::new();
                    o.insert("job_id".to_string(), json!(&*e.job_id));
                    o.insert("file".to_string(), json!(&*e.file));
                    if let Some(line) = e.line {
                        o.insert("line".to_string(), json!(line));
                    }
                    o.insert("error".to_string(), json!(e.error));
                    Value::Object(o)
                })
                .collect();
            m.insert("errors".to_string(), Value::Array(errors));
        }
        m.insert("searched".to_string(), json!(self.searched));
        Value::Object(m)
    }
}
