//! `--results`: every job's benchmark numbers in its record, the Pareto frontier of output
//! tokens/s per GPU against output tokens/s per user, a flat table and a plot.
//!
//! For each record with a `log_dir` and a `job_id`, every file below its current
//! submission's jobs' directories ([`gather`]) is accounted for: JSON files are read
//! ([`read`]) and each value in them is a run in one vocabulary when its keys say it is one
//! ([`formats`], [`aiperf`]), or else the file is listed as not a result with the reason; so
//! is every other file. Each run becomes a point with the figures that need the record (GPUs,
//! per GPU, per user) and a verdict (valid or not, and why). Valid points that meet the
//! `--slo` limits compete for the frontier across the whole sweep ([`frontier`]). Each record
//! gains `results`; `--table` ([`table`]) and `--plot` ([`plot`]) write files; the frontier
//! is summarised for people ([`summary`]), with one set of counts everywhere. A file that
//! cannot be read or parsed becomes an error in its record's `results.errors`, naming file
//! and line; nothing else stops.

mod aiperf;
pub mod analysis;
mod answer;
mod benchmark;
pub mod best;
mod cli;
pub mod compare;
mod formats;
mod frontier;
mod gather;
mod next_round;
mod plot;
mod read;
mod report;
pub mod search;
pub mod stats;
mod summary;
mod table;

use anyhow::Result;
use formats::{Class, Format, Run};
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use sweep::Record;

pub use cli::{apply, Applied, ResultsArgs};
pub use frontier::Limit;
pub use plot::PointLabels;
pub use table::TableFormat;

/// What `--results` and its companions asked for.
pub struct Options {
    /// `--slo` limits (empty: none).
    pub slo: Vec<Limit>,
    /// `--max-result-bytes`: larger files are an error, not read.
    pub max_bytes: u64,
    /// `--max-failed-fraction`: the share of failed requests a valid point may have.
    pub max_failed_fraction: f64,
    /// `--table`: where and in which format; `-` is stdout.
    pub table: Option<(PathBuf, TableFormat)>,
    /// `--plot FILE.svg`.
    pub plot: Option<PathBuf>,
    /// `--color-by KEY`: a swept parameter, or `sweep`.
    pub color_by: Option<String>,
    /// `--point-labels`: what is written beside the plot's points.
    pub point_labels: PointLabels,
    /// `--best-table`: where and in which format; `-` is stdout.
    pub best_table: Option<(PathBuf, TableFormat)>,
    /// `--compare-table`: where and in which format; `-` is stdout.
    pub compare_table: Option<(PathBuf, TableFormat)>,
    /// `--report FILE.html`.
    pub report: Option<PathBuf>,
    /// `--label`: sweep names, `NAME` or `DIR=NAME`.
    pub labels: Vec<String>,
    /// `--at`: the comparison's levels of output tokens/s per user.
    pub at: Option<Vec<f64>>,
    /// `--current-only`: read only the current submission's jobs, not history's.
    pub current_only: bool,
    /// `--frontier`: the frontier tables on stdout instead of the manifest.
    pub frontier: bool,
    /// `--best`: the best-under-SLO tables on stdout instead of the manifest.
    pub best: bool,
    /// `--next-round`: where the adaptive search's next round goes (`-` is stdout), and its
    /// settings.
    pub next_round: Option<(PathBuf, next_round::Search)>,
}

/// What a run produced: every record's results, and the rest.
pub struct Outcome {
    /// One per record, in record order.
    pub found: Vec<Found>,
    /// The frontier for people (several lines).
    pub summary: String,
    /// Lines for stderr: how many points, valid, on the frontier, errors, other files; the
    /// valid points left out and why.
    pub note: Vec<String>,
    /// The best-under-SLO tables and the comparisons, for people.
    pub answer: String,
    /// Lines for stderr: the adaptive search's progress line, and a line per combination
    /// that is not resolved (`--next-round`).
    pub search: Vec<String>,
    /// What goes to stdout from a table file named `-` (`--table`, `--best-table`,
    /// `--compare-table`).
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
    /// Why a valid point has no place on the frontier and the plot (no per-GPU figures).
    pub unplaced_reason: Option<&'static str>,
    pub meets_slo: Option<bool>,
    /// Its load's means are within the SLO, with both figures: a frontier candidate.
    pub candidate: bool,
    pub pareto: bool,
}

/// A file of a record that could not be read, or a value in it that is not a result.
pub struct FileError {
    job_id: Arc<str>,
    file: Arc<str>,
    line: Option<u64>,
    error: String,
}

/// A file below a job's directory that holds no result, and why.
pub struct NotResult {
    job_id: Arc<str>,
    file: Box<str>,
    reason: Cow<'static, str>,
}

/// One record's results.
#[derive(Default)]
pub struct Found {
    pub points: Vec<Point>,
    errors: Vec<FileError>,
    not_results: Vec<NotResult>,
    searched: Vec<String>,
}

/// Gathers every record's results, judges them, organises them per sweep, workload shape,
/// combination and load (flagging each frontier and finding each boundary), and writes the
/// files asked for. `sweep_order` lists the sweep directories in the order the inputs named
/// them (the first sweep is the baseline of comparisons). The records' `results` are added
/// when they are written ([`cli::Applied::results_of`]): held as compact points until then, a
/// large sweep's results stay small in memory.
pub fn run(records: &[Record], sweep_order: &[Option<String>], opts: &Options) -> Result<Outcome> {
    let color_by = match &opts.color_by {
        Some(key) => plot::color_by(records, key)?,
        None => plot::ColorBy::Default,
    };
    let sweeps = analysis::Sweeps::new(records, sweep_order, &opts.labels)?;
    let mut found = gather_all(records, opts);
    let unknown_states = judge(records, &mut found, opts);
    let analysis = analysis::analyse(records, &mut found, &opts.slo, sweeps);
    let comparisons = compare::compare(&analysis, opts.at.as_deref());
    let mut table_stdout = None;
    let mut write_table = |to: &Option<(PathBuf, TableFormat)>,
                           write: &dyn Fn(&mut dyn std::io::Write, TableFormat) -> Result<()>|
     -> Result<()> {
        match to {
            Some((path, format)) if path.as_os_str() == "-" => {
                let mut bytes = Vec::new();
                write(&mut bytes, *format)?;
                table_stdout = Some(bytes);
            }
            Some((path, format)) => {
                sweep::fsutil::write_atomic_with(path, |w| write(w, *format))?;
            }
            None => {}
        }
        Ok(())
    };
    write_table(&opts.table, &|w, f| table::write(w, records, &found, f))?;
    write_table(&opts.best_table, &|w, f| {
        answer::write_best_table(w, f, records, &analysis, &opts.slo)
    })?;
    write_table(&opts.compare_table, &|w, f| {
        answer::write_compare_table(w, f, &analysis, &comparisons)
    })?;
    let mut search_lines = Vec::new();
    if let Some((path, search)) = &opts.next_round {
        let next = next_round::plan(records, &analysis, search);
        write_table(&Some((path.clone(), TableFormat::Jsonl)), &|w, _| {
            next.write(w, records)
        })?;
        search_lines.push(next.line());
        search_lines.extend(next.details(records, &analysis));
    }
    let style = plot::Style {
        color_by,
        labels: opts.point_labels,
        slo: &opts.slo,
    };
    if let Some(path) = &opts.plot {
        sweep::fsutil::write_atomic_with(path, |w| {
            Ok(plot::render(w, records, &found, &analysis, &style)?)
        })?;
    }
    let counts = summary::Counts::of(&found);
    let summary = summary::frontier(records, &found, &analysis, &opts.slo);
    let note = summary::note(records, &found, &analysis, &counts, unknown_states);
    // For people: on stdout with --best, else only where stderr is a terminal.
    let answer = if opts.best || std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        answer::text(records, &analysis, &opts.slo, &comparisons)
    } else {
        String::new()
    };
    if let Some(path) = &opts.report {
        let inputs = report::Inputs {
            records,
            found: &found,
            analysis: &analysis,
            slo: &opts.slo,
            comparisons: &comparisons,
            style: &style,
            note: &note,
        };
        sweep::fsutil::write_atomic_with(path, |w| Ok(report::write(w, &inputs)?))?;
    }
    Ok(Outcome {
        found,
        summary,
        note,
        search: search_lines,
        answer,
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

/// The points, errors and other files of one record's current jobs.
fn gather_record(r: &Record, opts: &Options, buf: &mut Vec<u8>) -> Found {
    let mut f = Found::default();
    for (job_id, dir) in gather::job_dirs(r, !opts.current_only) {
        f.searched.push(text(&dir).into_owned());
        let job_id: Arc<str> = job_id.into();
        let mut job = JobFiles::default();
        gather::visit(&dir, &mut |item, first| {
            let path = item.path;
            if first {
                // What the job asked for and AIPerf's markers: they judge the runs.
                let text = match item.read(opts.max_bytes, buf) {
                    Ok(()) => std::str::from_utf8(buf).map_err(|_| "not UTF-8 text".to_string()),
                    Err(e) => Err(e),
                };
                match (&item.kind, text) {
                    (gather::Kind::Benchmark, Ok(t)) => match benchmark::parse(t) {
                        Ok(b) => job.benchmark = Some(b),
                        Err(error) => f.push_error(&job_id, path, None, error),
                    },
                    (_, Ok(t)) => match benchmark::aiperf_marker(t) {
                        Ok(problems) => job
                            .markers
                            .push((path.parent().unwrap_or(path).to_path_buf(), problems)),
                        Err(error) => f.push_error(&job_id, path, None, error),
                    },
                    (_, Err(error)) => f.push_error(&job_id, path, None, error),
                }
                return;
            }
            match &item.kind {
                gather::Kind::Json => read_file(&mut f, &job_id, item, &job, opts, buf),
                gather::Kind::NotResult(reason) => f.push_not_result(&job_id, path, reason.clone()),
                gather::Kind::Unreadable(error) => {
                    f.push_error(&job_id, path, None, error.clone())
                }
                gather::Kind::Benchmark => f.push_not_result(
                    &job_id,
                    path,
                    "the benchmark the job asked for (written by the job script): read for requested counts and the workload shape".into(),
                ),
                gather::Kind::AiperfMarker => f.push_not_result(
                    &job_id,
                    path,
                    "AIPerf's completion marker: read, the run next to it is judged by it".into(),
                ),
            }
        });
    }
    f
}

/// A path as text (file names are UTF-8 in practice; any other byte is shown as U+FFFD),
/// without the formatting machinery of `Path::display` (once per file of a sweep).
fn text(path: &Path) -> Cow<'_, str> {
    use std::os::unix::ffi::OsStrExt;
    String::from_utf8_lossy(path.as_os_str().as_bytes())
}

/// What a job's directory says about its runs.
#[derive(Default)]
struct JobFiles {
    /// `sweep_benchmark.json`.
    benchmark: Option<benchmark::Benchmark>,
    /// AIPerf's markers: their directory, and what they make invalid.
    markers: Vec<(PathBuf, Vec<String>)>,
}

/// Reads one JSON file: its runs become points; a file without any is an error when it
/// cannot be read whole, else listed as not a result with what it holds.
fn read_file(
    f: &mut Found,
    job_id: &Arc<str>,
    item: &gather::Item,
    job: &JobFiles,
    opts: &Options,
    buf: &mut Vec<u8>,
) {
    let path = item.path;
    if let Err(error) = item.read(opts.max_bytes, buf) {
        f.push_error(job_id, path, None, error);
        return;
    }
    let mut runs: Vec<(u64, Run)> = Vec::new();
    let mut broken: Vec<(u64, String)> = Vec::new();
    let mut others: Vec<(u64, Cow<'static, str>)> = Vec::new();
    let read = read::text(buf, opts.max_bytes, &mut |line, raw| match raw {
        read::Raw::Object(o) => match formats::classify(&o) {
            Class::Result(run) => runs.push((line, *run)),
            Class::Broken(error) => broken.push((line, error)),
            Class::NotResult(what) => others.push((line, what)),
        },
        read::Raw::Other(kind) => others.push((
            line,
            format!("{kind} in JSON, not a benchmark result").into(),
        )),
    });
    if runs.is_empty() && broken.is_empty() {
        match (read, others.into_iter().next()) {
            (Err(e), _) => f.push_error(job_id, path, e.line, e.message),
            (Ok(()), None) => f.push_error(job_id, path, None, "empty: no JSON value".into()),
            (Ok(()), Some((_, what))) => f.push_not_result(job_id, path, what),
        }
        return;
    }
    let file: Arc<str> = text(path).into();
    let marker = path
        .parent()
        .and_then(|d| job.markers.iter().find(|(m, _)| m == d))
        .map(|(_, problems)| problems);
    for (line, mut run) in runs {
        if let Some(b) = &job.benchmark {
            b.fill(&mut run);
        }
        if let (Format::Aiperf, Some(problems)) = (run.format, marker) {
            // The export may say the same (was_cancelled): once is enough.
            let gist = |p: &str| p.split(" (").next().unwrap_or_default().to_string();
            for p in problems {
                if !run.problems.iter().any(|q| gist(q) == gist(p)) {
                    run.problems.push(p.clone());
                }
            }
        }
        f.points
            .push(Point::new(job_id.clone(), file.clone(), line, run));
    }
    for (line, error) in broken {
        f.push_error(job_id, path, Some(line), error);
    }
    for (line, what) in others {
        f.push_error(
            job_id,
            path,
            Some(line),
            format!("not a benchmark result: {what}"),
        );
    }
    if let Err(e) = read {
        f.push_error(job_id, path, e.line, e.message);
    }
}

/// Derived figures and verdicts; returns how many jobs with points had no known state.
fn judge(records: &[Record], found: &mut [Found], opts: &Options) -> usize {
    let slo = &opts.slo;
    let mut unknown = 0;
    for (r, f) in records.iter().zip(found.iter_mut()) {
        let gpus = gpus_of(r);
        let mut unknown_here = std::collections::BTreeSet::new();
        let ran: std::collections::BTreeSet<Arc<str>> =
            f.points.iter().map(|p| p.job_id.clone()).collect();
        let ran = |j: &str| ran.contains(j);
        for p in &mut f.points {
            p.derive(gpus);
            let mut reasons = p.reasons(opts.max_failed_fraction);
            match job_verdict(r, &p.job_id, &ran) {
                Verdict::Completed => {}
                Verdict::Not(why) => reasons.push(why),
                Verdict::Unknown => {
                    unknown_here.insert(p.job_id.clone());
                }
            }
            p.invalid_reason = (!reasons.is_empty()).then(|| reasons.join("; "));
            if p.valid() && p.output_tps_per_gpu.is_none() {
                p.unplaced_reason = Some(if r.gpus_per_node.is_none() {
                    NO_GPUS_PER_NODE
                } else {
                    NO_NODE_COUNT
                });
            }
            if !slo.is_empty() {
                p.meets_slo = Some(frontier::meets(slo, |n| p.get(n)));
            }
        }
        unknown += unknown_here.len();
    }
    unknown
}

/// Why a valid point has no per-GPU figures.
pub const NO_GPUS_PER_NODE: &str = "no per-GPU figures: the record has no gpus_per_node (sweep-submit records it; a record submitted by an older version, or edited, lacks it)";
const NO_NODE_COUNT: &str =
    "no per-GPU figures: the record has no node count (total_nodes or the slurm node counts)";

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
/// `ran`: the jobs that left points (a `--retries` follow-up of an earlier submission runs only
/// when the attempt before it failed).
fn job_verdict(r: &Record, job_id: &str, ran: &dyn Fn(&str) -> bool) -> Verdict {
    let current = r.status.state_job_id.as_deref().or(r.job_id.as_deref());
    let in_current =
        Some(job_id) == r.job_id.as_deref() || r.retry_job_ids.iter().any(|j| j == job_id);
    if !in_current {
        if let Some(h) = r
            .history
            .iter()
            .find(|h| h.job_id == job_id || h.retry_job_ids.iter().any(|j| j == job_id))
        {
            return history_verdict(h, job_id, ran);
        }
    }
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
    verdict_of(job_id, state)
}

/// An earlier submission's job: its recorded state is that of the last attempt that ran (the
/// job, or a `--retries` follow-up); an attempt followed by one that ran did not complete.
fn history_verdict(h: &sweep::Submission, job_id: &str, ran: &dyn Fn(&str) -> bool) -> Verdict {
    let attempts = std::iter::once(&h.job_id).chain(&h.retry_job_ids);
    let last = attempts.filter(|j| ran(j)).last().unwrap_or(&h.job_id);
    if last != job_id {
        return Verdict::Not(format!(
            "job {job_id} did not complete (an earlier submission's attempt, followed by --retries)"
        ));
    }
    verdict_of(job_id, h.state.clone())
}

fn verdict_of(job_id: &str, state: Option<sweep::JobState>) -> Verdict {
    match state {
        None => Verdict::Unknown,
        Some(sweep::JobState::Completed) => Verdict::Completed,
        Some(s) if s.is_final() => Verdict::Not(format!("job {job_id} ended {s}")),
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
            unplaced_reason: None,
            meets_slo: None,
            candidate: false,
            pareto: false,
        }
    }

    /// Per GPU and per user (1000 / median TPOT).
    fn derive(&mut self, gpus: Option<u64>) {
        self.gpus = gpus;
        let per_gpu = |v: f64| gpus.map(|g| v / g as f64);
        self.total_tps_per_gpu = self.run.total_throughput.and_then(per_gpu);
        self.output_tps_per_gpu = self.run.output_throughput.and_then(per_gpu);
        self.output_tps_per_user = self
            .latency("tpot_median_ms")
            .filter(|&t| t > 0.0)
            .map(|t| 1000.0 / t);
    }

    /// Why the numbers make this run invalid (empty: they don't). A failed share up to
    /// `max_failed` is allowed.
    fn reasons(&self, max_failed: f64) -> Vec<String> {
        let r = &self.run;
        let mut why = r.problems.clone();
        if r.completed == Some(0) {
            why.push("no completed requests".to_string());
        }
        let ended = r.completed.zip(r.failed).map(|(c, f)| c + f);
        if let Some(failed) = r.failed.filter(|&n| n > 0) {
            let total = r.requested.or(ended).unwrap_or(failed).max(1);
            if failed as f64 / total as f64 > max_failed {
                why.push(match (r.requested_by_job, r.concurrency) {
                    (true, Some(c)) => format!(
                        "{failed} of {total} requests did not complete ({total} = {} x concurrency {c}, as the job asked; SGLang writes no failed count)",
                        total / c.max(1)
                    ),
                    _ => format!("{failed} of {total} requests failed"),
                });
            }
        }
        match (r.requested, ended, r.completed) {
            (Some(asked), Some(ended), _) if ended < asked => why.push(format!(
                "only {ended} of the {asked} requested requests ended (the run stopped early)"
            )),
            (Some(asked), Some(ended), _) if ended > asked => why.push(format!(
                "{ended} requests ended, more than the {asked} requested"
            )),
            (Some(asked), None, Some(done)) if done > asked => why.push(if r.requested_by_job {
                format!(
                    "{done} requests completed, more than the {asked} the job asked for (does the benchmark send requests-per-concurrency x concurrency requests?)"
                )
            } else {
                format!("{done} requests completed, more than the {asked} requested")
            }),
            _ => {}
        }
        if r.output_tokens == Some(0) {
            why.push("no output tokens".to_string());
        }
        if r.duration_s.is_some_and(|d| d <= 0.0) {
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

    /// Valid, with both figures of the plot (whether or not it meets the SLO).
    pub fn placed(&self) -> bool {
        self.valid() && self.output_tps_per_gpu.is_some() && self.output_tps_per_user.is_some()
    }

    fn latency(&self, name: &str) -> Option<f64> {
        self.run.latency(formats::Latency::from_name(name)?)
    }

    /// A numeric metric by its documented name.
    pub fn get(&self, name: &str) -> Option<f64> {
        let r = &self.run;
        let n = |v: u64| Some(v as f64);
        match name {
            "isl" => r.isl.and_then(n),
            "osl" => r.osl.and_then(n),
            "concurrency" => r.concurrency.and_then(n),
            "request_rate" => r.request_rate,
            "duration_s" => r.duration_s,
            "requested" => r.requested.and_then(n),
            "completed" => r.completed.and_then(n),
            "failed" => r.failed.and_then(n),
            "input_tokens" => r.input_tokens.and_then(n),
            "output_tokens" => r.output_tokens.and_then(n),
            "request_throughput" => r.request_throughput,
            "input_throughput" => r.input_throughput,
            "output_throughput" => r.output_throughput,
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
        (RUN_METRICS.contains(&name) && !TEXT_FIELDS.contains(&name))
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
        f("format", Cell::Str(r.format.as_str()));
        if let Some(d) = &r.dataset {
            f("dataset", Cell::Str(d));
        }
        opt_u(&mut f, "isl", r.isl);
        opt_u(&mut f, "osl", r.osl);
        f("rate_mode", Cell::Str(r.rate_mode.as_str()));
        opt_u(&mut f, "concurrency", r.concurrency);
        opt_f(&mut f, "request_rate", r.request_rate);
        opt_f(&mut f, "duration_s", r.duration_s);
        opt_u(&mut f, "requested", r.requested);
        opt_u(&mut f, "completed", r.completed);
        opt_u(&mut f, "failed", r.failed);
        opt_u(&mut f, "input_tokens", r.input_tokens);
        opt_u(&mut f, "output_tokens", r.output_tokens);
        opt_f(&mut f, "request_throughput", r.request_throughput);
        opt_f(&mut f, "input_throughput", r.input_throughput);
        opt_f(&mut f, "output_throughput", r.output_throughput);
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
        if let Some(why) = self.unplaced_reason {
            f("unplaced_reason", Cell::Str(why));
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

/// The run's own fields, in output order (before the latencies).
const RUN_METRICS: &[&str] = &[
    "dataset",
    "isl",
    "osl",
    "rate_mode",
    "concurrency",
    "request_rate",
    "duration_s",
    "requested",
    "completed",
    "failed",
    "input_tokens",
    "output_tokens",
    "request_throughput",
    "input_throughput",
    "output_throughput",
    "total_throughput",
];

/// Fields of [`RUN_METRICS`] that are text, not figures (no `--slo` limit on them).
const TEXT_FIELDS: &[&str] = &["dataset", "rate_mode"];

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
    const VERDICT: &[&str] = &[
        "valid",
        "invalid_reason",
        "unplaced_reason",
        "meets_slo",
        "pareto",
    ];
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
    fn push_error(&mut self, job_id: &Arc<str>, path: &Path, line: Option<u64>, error: String) {
        self.errors.push(FileError {
            job_id: job_id.clone(),
            file: text(path).into(),
            line,
            error,
        });
    }

    fn push_not_result(&mut self, job_id: &Arc<str>, path: &Path, reason: Cow<'static, str>) {
        self.not_results.push(NotResult {
            job_id: job_id.clone(),
            file: text(path).into(),
            reason,
        });
    }

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
        if !self.not_results.is_empty() {
            let other: Vec<Value> = self
                .not_results
                .iter()
                .map(|n| json!({"job_id": &*n.job_id, "file": &*n.file, "reason": &*n.reason}))
                .collect();
            m.insert("not_results".to_string(), Value::Array(other));
        }
        m.insert("searched".to_string(), json!(self.searched));
        Value::Object(m)
    }
}
