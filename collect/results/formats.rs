//! The three result formats, read into one set of metric names.
//!
//! A JSON value is a result by its keys, whatever its file is called and however large it is:
//!
//! - **AIPerf** `aiperf profile` (`profile_export_aiperf.json`): an object with
//!   `aiperf_version` or a `benchmark_duration` metric; every metric is an object
//!   `{unit, avg, p50, p90, ...}` ([`super::aiperf`]).
//! - **vLLM** `vllm bench serve --save-result` (also `benchmark_serving.py` and srt-slurm's
//!   sa-bench): `total_token_throughput` or `*_e2el_ms`, with `output_throughput`.
//! - **SGLang** `python -m sglang.bench_serving --output-file F.jsonl`: `output_throughput`
//!   with `total_throughput`, `concurrency` or `*_e2e_latency_ms`.
//!
//! Anything else is not a result ([`Class::NotResult`], with what it looks like). A value in
//! one of these formats without a figure every point needs is [`Class::Broken`]. A figure
//! that is there but negative, not finite or not a number keeps the run, with the problem as
//! a reason the point is invalid (`problems`). docs/results.md has the field map.

use super::read::{Object, Want};
use std::borrow::Cow;

/// Which tool wrote a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// SGLang `bench_serving`.
    Sglang,
    /// vLLM `bench serve` / `benchmark_serving` (and sa-bench).
    Vllm,
    /// NVIDIA AIPerf `aiperf profile`.
    Aiperf,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Sglang => "sglang",
            Format::Vllm => "vllm",
            Format::Aiperf => "aiperf",
        }
    }
}

/// How the load was set: what a run's load variable is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateMode {
    /// A fixed number of requests in flight (`concurrency`), sent as fast as they finish.
    Concurrency,
    /// Requests sent at `request_rate` per second (with `concurrency` as a cap, if any).
    RequestRate,
    /// Every request at once: neither a rate nor a concurrency limit.
    Unlimited,
    /// Requests sent at the times of a trace (SGLang `request_rate: "trace"`).
    Trace,
}

impl RateMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RateMode::Concurrency => "concurrency",
            RateMode::RequestRate => "request_rate",
            RateMode::Unlimited => "unlimited",
            RateMode::Trace => "trace",
        }
    }
}

/// One benchmark run, in our names; derived figures come later ([`super::Point`]). A figure
/// is `None` when the tool did not write it, or wrote something that is not a valid figure
/// (then `problems` says what).
#[derive(Clone, Debug)]
pub struct Run {
    pub format: Format,
    /// The dataset the prompts came from, as the tool names it (`random`, `sharegpt`,
    /// `synthetic`, ...).
    pub dataset: Option<Cow<'static, str>>,
    /// Input and output tokens per request that the run asked for (random or synthetic
    /// prompts; from the job's benchmark when the tool does not say).
    pub isl: Option<u64>,
    pub osl: Option<u64>,
    pub rate_mode: RateMode,
    /// The run's limit on requests in flight (`max_concurrency`).
    pub concurrency: Option<u64>,
    /// Requests per second; `None` when unlimited (`inf`).
    pub request_rate: Option<f64>,
    pub duration_s: Option<f64>,
    /// Requests the client was asked to send.
    pub requested: Option<u64>,
    /// Requests that succeeded.
    pub completed: Option<u64>,
    /// Requests that failed.
    pub failed: Option<u64>,
    /// `requested` came from the job's benchmark (`sweep_benchmark.json`), not the file.
    pub requested_by_job: bool,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub request_throughput: Option<f64>,
    pub input_throughput: Option<f64>,
    pub output_throughput: Option<f64>,
    pub total_throughput: Option<f64>,
    /// Latency statistics in [`Latency`] order.
    pub latency: Vec<(Latency, f64)>,
    /// The average concurrency the tool measured (SGLang `concurrency`, AIPerf
    /// `effective_concurrency`).
    pub measured_concurrency: Option<f64>,
    /// Why figures of the file make the run invalid: negative, not finite, not a number, a
    /// run the tool says was cancelled.
    pub problems: Vec<String>,
}

impl Run {
    pub fn new(format: Format) -> Run {
        Run {
            format,
            dataset: None,
            isl: None,
            osl: None,
            rate_mode: RateMode::Unlimited,
            concurrency: None,
            request_rate: None,
            duration_s: None,
            requested: None,
            completed: None,
            failed: None,
            requested_by_job: false,
            input_tokens: None,
            output_tokens: None,
            request_throughput: None,
            input_throughput: None,
            output_throughput: None,
            total_throughput: None,
            latency: Vec::with_capacity(24),
            measured_concurrency: None,
            problems: Vec::new(),
        }
    }

    /// A latency statistic by our name.
    pub fn latency(&self, l: Latency) -> Option<f64> {
        self.latency.iter().find(|(n, _)| *n == l).map(|(_, v)| *v)
    }

    /// Sets a latency statistic (the first one written wins), noting a negative one.
    pub fn set_latency(&mut self, l: Latency, v: f64, key: &str) {
        if v < 0.0 {
            self.problems
                .push(format!("field {key:?} is negative ({v})"));
        }
        if self.latency(l).is_none() {
            self.latency.push((l, v));
        }
    }

    /// Fills what the tool leaves out, and the rate mode; sorts the latencies.
    pub fn finish(&mut self) {
        self.latency
            .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        // Held for every point of the sweep until the output is written: no spare room (a
        // copy of the exact size, cheaper than shrinking in place).
        if self.latency.capacity() > self.latency.len() {
            self.latency = self.latency.as_slice().to_vec();
        }
        let duration = self.duration_s.filter(|&d| d > 0.0);
        let per_s = |tokens: Option<u64>| Some(tokens? as f64 / duration?);
        if self.input_throughput.is_none() {
            self.input_throughput = per_s(self.input_tokens);
        }
        if self.total_throughput.is_none() {
            if let (Some(i), Some(o)) = (self.input_throughput, self.output_throughput) {
                self.total_throughput = Some(i + o);
            }
        }
        if self.rate_mode != RateMode::Trace {
            self.rate_mode = if self.request_rate.is_some() {
                RateMode::RequestRate
            } else if self.concurrency.is_some() {
                RateMode::Concurrency
            } else {
                RateMode::Unlimited
            };
        }
    }
}

/// What a JSON value of a file is.
pub enum Class {
    /// A run.
    Result(Box<Run>),
    /// In a result format, but without a figure every point needs: the error.
    Broken(String),
    /// Not a result: what it is.
    NotResult(Cow<'static, str>),
}

/// Keys skipped but noted ([`Want::Mark`]), to say what a value that is not a result is.
pub const MARK_METADATA: u32 = 1;
pub const MARK_METRICS: u32 = 2;
pub const MARK_PHASES: u32 = 4;
pub const MARK_SESSIONS: u32 = 8;
/// serde_json's arbitrary-precision numbers reach a visitor as a one-key map.
pub const MARK_NUMBER: u32 = 16;

/// What to do with a key of a JSON object (asked of every key of every file: quick).
pub fn want(key: &str) -> Want {
    if key.ends_with("_ms") {
        return if Latency::from_file_key(key).is_some() {
            Want::Keep
        } else {
            Want::Skip
        };
    }
    match key {
        // SGLang and vLLM.
        "duration"
        | "completed"
        | "failed"
        | "num_prompts"
        | "total_input_tokens"
        | "total_output_tokens"
        | "request_throughput"
        | "input_throughput"
        | "output_throughput"
        | "total_throughput"
        | "total_token_throughput"
        | "max_concurrency"
        | "request_rate"
        | "concurrency"
        | "dataset_name"
        | "random_input_len"
        | "random_output_len" => Want::Keep,
        "errors" => Want::Errors,
        // AIPerf (request_throughput and total_token_throughput above).
        k if super::aiperf::wanted(k) => Want::Keep,
        "metadata" => Want::Mark(MARK_METADATA),
        "metrics" => Want::Mark(MARK_METRICS),
        "phases" => Want::Mark(MARK_PHASES),
        "data" => Want::Mark(MARK_SESSIONS),
        "$serde_json::private::Number" => Want::Mark(MARK_NUMBER),
        _ => Want::Skip,
    }
}

/// What one object of a file is.
pub fn classify(o: &Object) -> Class {
    let has = |k: &str| o.fields.iter().any(|(f, _)| f == k);
    let has_suffix = |s: &str| o.fields.iter().any(|(f, _)| f.ends_with(s));
    let format = if has("aiperf_version") || has("benchmark_duration") {
        Format::Aiperf
    } else if has("output_throughput") && (has("total_token_throughput") || has_suffix("_e2el_ms"))
    {
        Format::Vllm
    } else if has("output_throughput")
        && (has("total_throughput") || has("concurrency") || has_suffix("_e2e_latency_ms"))
    {
        Format::Sglang
    } else {
        return Class::NotResult(not_a_result(o));
    };
    let run = match format {
        Format::Aiperf => super::aiperf::run(&o.fields),
        _ => flat(format, o),
    };
    match run {
        Ok(r) => Class::Result(Box::new(r)),
        Err(e) => Class::Broken(e),
    }
}

/// What a JSON object that is no result looks like.
fn not_a_result(o: &Object) -> Cow<'static, str> {
    if o.marks == MARK_NUMBER {
        return "a JSON number, not a benchmark result".into();
    }
    if o.marks & MARK_METADATA != 0 && o.marks & MARK_METRICS != 0 {
        return "AIPerf's per-request records (the run's summary is profile_export_aiperf.json)"
            .into();
    }
    if o.marks & MARK_PHASES != 0 {
        return "AIPerf's phase manifest (the run's summary is profile_export_aiperf.json)".into();
    }
    if o.marks & MARK_SESSIONS != 0 && o.fields.is_empty() {
        return "JSON without the keys of a benchmark result (AIPerf's inputs.json has this shape: the requests it sent)".into();
    }
    "JSON without the keys of a benchmark result (SGLang bench_serving, vLLM bench serve, AIPerf)"
        .into()
}

/// An SGLang or vLLM object: flat fields.
fn flat(format: Format, o: &Object) -> Result<Run, String> {
    let mut r = Run::new(format);
    let mut seen = Seen::default();
    for (key, value) in &o.fields {
        let key = key.as_ref();
        let value = value.get();
        match key {
            "duration" => r.duration_s = seen.number(&mut r, key, value),
            "completed" => r.completed = seen.count(&mut r, key, value),
            "failed" => r.failed = count(&mut r.problems, key, value),
            "num_prompts" => r.requested = count(&mut r.problems, key, value),
            "total_input_tokens" => r.input_tokens = count(&mut r.problems, key, value),
            "total_output_tokens" => r.output_tokens = seen.count(&mut r, key, value),
            "request_throughput" => r.request_throughput = number(&mut r.problems, key, value),
            "input_throughput" => r.input_throughput = number(&mut r.problems, key, value),
            "output_throughput" => r.output_throughput = seen.number(&mut r, key, value),
            "total_throughput" | "total_token_throughput" => {
                r.total_throughput = number(&mut r.problems, key, value)
            }
            "max_concurrency" => r.concurrency = count(&mut r.problems, key, value),
            "request_rate" => rate(&mut r, value),
            "concurrency" => r.measured_concurrency = number(&mut r.problems, key, value),
            "dataset_name" => r.dataset = string(value).map(name),
            "random_input_len" => r.isl = count(&mut r.problems, key, value),
            "random_output_len" => r.osl = count(&mut r.problems, key, value),
            other => {
                if let Some(l) = Latency::from_file_key(other) {
                    if let Some(v) = number(&mut r.problems, key, value) {
                        r.set_latency(l, v, key);
                    }
                }
            }
        }
    }
    seen.required()?;
    // SGLang writes its random lengths whatever the dataset: they describe the run only for
    // the random datasets.
    if format == Format::Sglang
        && !r
            .dataset
            .as_deref()
            .is_some_and(|d| d.starts_with("random"))
    {
        r.isl = None;
        r.osl = None;
    }
    if format == Format::Sglang {
        // `--output-details`: one entry per request sent, "" for a success.
        if let Some((sent, errors)) = o.errors {
            r.requested = Some(sent);
            r.failed = Some(errors);
        }
    } else if r.failed.is_none() {
        r.failed = o.errors.map(|(_, errors)| errors);
    }
    r.finish();
    Ok(r)
}

/// The figures every run needs, as they were found.
#[derive(Default)]
struct Seen {
    duration: bool,
    completed: bool,
    output_tokens: bool,
    output_throughput: bool,
}

impl Seen {
    fn mark(&mut self, key: &str) {
        match key {
            "duration" => self.duration = true,
            "completed" => self.completed = true,
            "total_output_tokens" => self.output_tokens = true,
            _ => self.output_throughput = true,
        }
    }

    fn number(&mut self, r: &mut Run, key: &str, v: &str) -> Option<f64> {
        if v != "null" {
            self.mark(key);
        }
        number(&mut r.problems, key, v)
    }

    fn count(&mut self, r: &mut Run, key: &str, v: &str) -> Option<u64> {
        if v != "null" {
            self.mark(key);
        }
        count(&mut r.problems, key, v)
    }

    /// The first figure missing, as an error.
    fn required(&self) -> Result<(), String> {
        let missing = [
            (self.duration, "duration"),
            (self.completed, "completed"),
            (self.output_tokens, "total_output_tokens"),
            (self.output_throughput, "output_throughput"),
        ];
        match missing.iter().find(|(seen, _)| !seen) {
            Some((_, k)) => Err(format!("missing field {k:?}")),
            None => Ok(()),
        }
    }
}

/// A JSON string's text, unquoted (`None` for anything else).
pub fn string(json: &str) -> Option<Cow<'_, str>> {
    if !json.starts_with('"') {
        return None;
    }
    serde_json::from_str(json).ok()
}

/// A dataset's name, without an allocation for the usual ones (every point has one).
fn name(s: Cow<str>) -> Cow<'static, str> {
    const KNOWN: [&str; 6] = [
        "random",
        "random-ids",
        "sharegpt",
        "synthetic",
        "custom",
        "file",
    ];
    match KNOWN.iter().find(|k| **k == s) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(s.into_owned()),
    }
}

/// A number, as a figure, from its JSON text: `null` is absent; a negative number is kept
/// and noted; a non-finite or non-number value is noted and left out.
pub fn number(problems: &mut Vec<String>, key: &str, json: &str) -> Option<f64> {
    if json == "null" {
        return None;
    }
    if let Some(s) = string(json) {
        if ["NaN", "Infinity", "-Infinity"].contains(&s.as_ref()) {
            problems.push(format!("field {key:?} is {s}"));
            return None;
        }
    }
    // A JSON number is Rust's float syntax; nothing else parses (a string keeps its quotes).
    match json.parse::<f64>().ok().filter(|f| f.is_finite()) {
        Some(f) => {
            if f < 0.0 {
                problems.push(format!("field {key:?} is negative ({f})"));
            }
            Some(f)
        }
        None => {
            problems.push(format!("field {key:?}: {json} is not a finite number"));
            None
        }
    }
}

/// A count: a non-negative whole number (`null` is absent); anything else is noted and left
/// out.
pub fn count(problems: &mut Vec<String>, key: &str, json: &str) -> Option<u64> {
    let mut own = Vec::new();
    let f = number(&mut own, key, json);
    if !own.is_empty() {
        problems.append(&mut own);
        return None;
    }
    let f = f?;
    if f.fract() != 0.0 || f > 9.0e15 {
        problems.push(format!("field {key:?}: {json} is not a whole number"));
        return None;
    }
    Some(f as u64)
}

/// A request rate: a positive number, or unlimited (`inf`, Python's `Infinity`, `null`), or
/// SGLang's `"trace"`.
fn rate(r: &mut Run, json: &str) {
    match string(json).as_deref() {
        Some("inf" | "Infinity") => {}
        Some("trace") => r.rate_mode = RateMode::Trace,
        Some(s) => match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => r.request_rate = Some(f),
            Ok(f) if f.is_infinite() && f > 0.0 => {}
            _ => r
                .problems
                .push(format!("field \"request_rate\": {s:?} is not a rate")),
        },
        None => match number(&mut r.problems, "request_rate", json) {
            Some(f) if f <= 0.0 => r
                .problems
                .push(format!("field \"request_rate\" is not positive ({json})")),
            other => r.request_rate = other,
        },
    }
}

const METRICS: [&str; 4] = ["ttft", "tpot", "itl", "e2e"];

/// A latency statistic: `ttft_p99_ms` is metric `ttft`, statistic `p99`. Compact (points of
/// a large sweep are many), ordered as the output lists them: metric, then mean, median,
/// std, then percentiles ascending.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Latency {
    metric: u8,
    /// The statistic, flattened (8 bytes in all: millions of them in a large sweep):
    /// 0 mean, 1 median, 2 std, 3 the percentile `p`.
    kind: u8,
    p: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub enum Stat {
    Mean,
    Median,
    Std,
    P(f32),
}

/// The four latency metrics, in output order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    Ttft = 0,
    Tpot = 1,
    Itl = 2,
    E2e = 3,
}

impl Latency {
    pub fn new(metric: Metric, stat: Stat) -> Latency {
        Latency::of(metric as u8, stat)
    }

    fn of(metric: u8, stat: Stat) -> Latency {
        let (kind, p) = match stat {
            Stat::Mean => (0, 0.0),
            Stat::Median => (1, 0.0),
            Stat::Std => (2, 0.0),
            Stat::P(p) => (3, p),
        };
        Latency { metric, kind, p }
    }

    fn stat(self) -> Stat {
        match self.kind {
            0 => Stat::Mean,
            1 => Stat::Median,
            2 => Stat::Std,
            _ => Stat::P(self.p),
        }
    }

    /// From a tool's key: `p99_e2el_ms`, `median_e2e_latency_ms`, `mean_ttft_ms`.
    fn from_file_key(key: &str) -> Option<Latency> {
        let rest = key.strip_suffix("_ms")?;
        let (stat, metric) = rest.split_once('_')?;
        let metric = match metric {
            "ttft" => 0,
            "tpot" => 1,
            "itl" => 2,
            "e2el" | "e2e_latency" => 3,
            _ => return None,
        };
        Some(Latency::of(metric, Stat::parse(stat)?))
    }

    /// From our name: `e2e_p99_ms`.
    pub fn from_name(name: &str) -> Option<Latency> {
        let rest = name.strip_suffix("_ms")?;
        let (metric, stat) = rest.split_once('_')?;
        Some(Latency::of(
            METRICS.iter().position(|m| *m == metric)? as u8,
            Stat::parse(stat)?,
        ))
    }

    /// Our name: `{ttft,tpot,itl,e2e}_{mean,median,std,pNN}_ms` (the usual ones without an
    /// allocation: a large sweep has millions of them to write).
    pub fn name(self) -> Cow<'static, str> {
        const COMMON: [[&str; 6]; 4] = [
            [
                "ttft_mean_ms",
                "ttft_median_ms",
                "ttft_std_ms",
                "ttft_p90_ms",
                "ttft_p95_ms",
                "ttft_p99_ms",
            ],
            [
                "tpot_mean_ms",
                "tpot_median_ms",
                "tpot_std_ms",
                "tpot_p90_ms",
                "tpot_p95_ms",
                "tpot_p99_ms",
            ],
            [
                "itl_mean_ms",
                "itl_median_ms",
                "itl_std_ms",
                "itl_p90_ms",
                "itl_p95_ms",
                "itl_p99_ms",
            ],
            [
                "e2e_mean_ms",
                "e2e_median_ms",
                "e2e_std_ms",
                "e2e_p90_ms",
                "e2e_p95_ms",
                "e2e_p99_ms",
            ],
        ];
        let metric = usize::from(self.metric);
        let common = match self.stat() {
            Stat::Mean => Some(0),
            Stat::Median => Some(1),
            Stat::Std => Some(2),
            Stat::P(90.0) => Some(3),
            Stat::P(95.0) => Some(4),
            Stat::P(99.0) => Some(5),
            Stat::P(_) => None,
        };
        match (common, self.stat()) {
            (Some(i), _) => COMMON[metric][i].into(),
            (None, Stat::P(p)) => format!("{}_p{p}_ms", METRICS[metric]).into(),
            (None, _) => unreachable!("mean, median and std are common"),
        }
    }
}

impl Stat {
    pub fn parse(s: &str) -> Option<Stat> {
        match s {
            "mean" => Some(Stat::Mean),
            "median" => Some(Stat::Median),
            "std" => Some(Stat::Std),
            _ => {
                let p: f32 = s.strip_prefix('p')?.parse().ok()?;
                // `p99` and `p99.9`, as the tools name them; not `p+5` or `p1e2`.
                let plain = s[1..].chars().all(|c| c.is_ascii_digit() || c == '.');
                (plain && p > 0.0 && p <= 100.0).then_some(Stat::P(p))
            }
        }
    }
}

/// True for a latency name in our vocabulary: `{ttft,tpot,itl,e2e}_{mean,median,std,pNN}_ms`.
pub fn is_latency_name(name: &str) -> bool {
    Latency::from_name(name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_keys_are_the_figures_and_latencies() {
        for k in [
            "duration",
            "completed",
            "failed",
            "num_prompts",
            "total_output_tokens",
            "output_throughput",
            "total_token_throughput",
            "max_concurrency",
            "request_rate",
            "dataset_name",
            "p99_e2el_ms",
            "median_tpot_ms",
            "std_itl_ms",
            "benchmark_duration",
            "time_to_first_token",
            "input_config",
        ] {
            assert!(matches!(want(k), Want::Keep), "{k}");
        }
        assert!(matches!(want("errors"), Want::Errors));
        for k in [
            "backend",
            "generated_texts",
            "max_itl_ms",
            "duration_ms",
            "itls",
            "server_info",
        ] {
            assert!(!matches!(want(k), Want::Keep), "{k}");
        }
    }

    #[test]
    fn latency_names_map_to_one_vocabulary() {
        let name = |k: &str| Latency::from_file_key(k).map(Latency::name);
        assert_eq!(name("p99_e2el_ms").as_deref(), Some("e2e_p99_ms"));
        assert_eq!(
            name("median_e2e_latency_ms").as_deref(),
            Some("e2e_median_ms")
        );
        assert_eq!(name("p99.9_itl_ms").as_deref(), Some("itl_p99.9_ms"));
        assert_eq!(name("max_itl_ms"), None);
        assert_eq!(name("p_itl_ms"), None);
        assert_eq!(name("p+5_itl_ms"), None);
        assert!(is_latency_name("e2e_p99_ms") && is_latency_name("itl_p95_ms"));
        assert!(!is_latency_name("e2el_p99_ms") && !is_latency_name("ttft_max_ms"));
        let l = |n: &str| Latency::from_name(n).unwrap();
        assert!(l("ttft_p99_ms") < l("tpot_mean_ms"));
        assert!(l("itl_p95_ms") < l("itl_p99_ms"));
        assert!(l("itl_std_ms") < l("itl_p50_ms"));
    }

    #[test]
    fn bad_figures_are_problems_not_errors() {
        let mut p = Vec::new();
        assert_eq!(count(&mut p, "completed", "-3"), None);
        assert_eq!(count(&mut p, "completed", "2.5"), None);
        assert_eq!(number(&mut p, "output_throughput", "-1.5"), Some(-1.5));
        assert_eq!(number(&mut p, "duration", "\"NaN\""), None);
        assert_eq!(number(&mut p, "duration", "\"x\""), None);
        assert_eq!(number(&mut p, "duration", "null"), None);
        assert_eq!(number(&mut p, "duration", "1e400"), None);
        assert_eq!(number(&mut p, "duration", "12.5"), Some(12.5));
        assert_eq!(count(&mut p, "completed", "16"), Some(16));
        assert_eq!(p.len(), 6, "{p:?}");
        assert!(p[0].contains("negative"), "{p:?}");
        assert!(p[3].contains("is NaN"), "{p:?}");
    }
}
