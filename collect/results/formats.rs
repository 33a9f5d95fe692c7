//! The two result formats, read into one set of metric names.
//!
//! - SGLang `python -m sglang.bench_serving --output-file F.jsonl`: one object per run (line),
//!   recognised by `total_throughput`, `concurrency` or `*_e2e_latency_ms`.
//! - vLLM `benchmark_serving.py --save-result` (also srt-slurm's sa-bench,
//!   `results_concurrency_{C}_gpus_{G}*.json`): one object per file, recognised by
//!   `total_token_throughput` or `*_e2el_ms`.
//!
//! Names (docs/results.md documents each): `duration_s`, `completed`, `failed`,
//! `input_tokens`, `output_tokens`, `request_throughput`, `input_throughput`,
//! `output_throughput`, `total_throughput`, `{ttft,tpot,itl,e2e}_{mean,median,std,pNN}_ms`,
//! `measured_concurrency`; `concurrency` (the run's `max_concurrency`) and `request_rate`
//! (absent when unlimited).

use serde_json::Value;

/// Which tool wrote a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// SGLang `bench_serving`.
    Sglang,
    /// vLLM `benchmark_serving` (and sa-bench).
    Vllm,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Sglang => "sglang",
            Format::Vllm => "vllm",
        }
    }
}

/// One benchmark run, in our names; derived figures come later ([`super::Point`]).
#[derive(Clone, Debug, Default)]
pub struct Run {
    pub format: Option<Format>,
    /// `max_concurrency`; `None` when the run had no limit.
    pub concurrency: Option<u64>,
    /// Requests per second; `None` when unlimited (`inf`).
    pub request_rate: Option<f64>,
    pub duration_s: f64,
    pub completed: u64,
    /// Only vLLM says; `None` for SGLang.
    pub failed: Option<u64>,
    pub input_tokens: Option<u64>,
    pub output_tokens: u64,
    pub request_throughput: Option<f64>,
    pub input_throughput: Option<f64>,
    pub output_throughput: f64,
    pub total_throughput: Option<f64>,
    /// Latency statistics in [`Latency`] order.
    pub latency: Vec<(Latency, f64)>,
    /// SGLang's measured average concurrency (`concurrency`).
    pub measured_concurrency: Option<f64>,
}

#[cfg(test)]
const SCALARS: &[&str] = &[
    "duration",
    "completed",
    "failed",
    "total_input_tokens",
    "total_output_tokens",
    "request_throughput",
    "input_throughput",
    "output_throughput",
    "total_throughput",
    "total_token_throughput",
    "max_concurrency",
    "request_rate",
    "concurrency",
];

/// True for the keys a run is read from (everything else in a file is skipped unread).
pub fn wanted(key: &str) -> bool {
    // Asked of every key of every file: the latency keys all end in `_ms`, the rest are a
    // fixed set (kept equal to SCALARS, which the tests check).
    if key.ends_with("_ms") {
        return Latency::from_file_key(key).is_some();
    }
    matches!(
        key,
        "duration"
            | "completed"
            | "failed"
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
    )
}

const METRICS: [&str; 4] = ["ttft", "tpot", "itl", "e2e"];

/// A latency statistic: `ttft_p99_ms` is metric `ttft`, statistic `p99`. Compact (points of
/// a large sweep are many), ordered as the output lists them: metric, then mean, median,
/// std, then percentiles ascending.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Latency {
    metric: u8,
    stat: Stat,
}

#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
enum Stat {
    Mean,
    Median,
    Std,
    P(f32),
}

impl Latency {
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
        Some(Latency {
            metric,
            stat: Stat::parse(stat)?,
        })
    }

    /// From our name: `e2e_p99_ms`.
    pub fn from_name(name: &str) -> Option<Latency> {
        let rest = name.strip_suffix("_ms")?;
        let (metric, stat) = rest.split_once('_')?;
        Some(Latency {
            metric: METRICS.iter().position(|m| *m == metric)? as u8,
            stat: Stat::parse(stat)?,
        })
    }

    /// Our name: `{ttft,tpot,itl,e2e}_{mean,median,std,pNN}_ms` (the usual ones without an
    /// allocation: a large sweep has millions of them to write).
    pub fn name(self) -> std::borrow::Cow<'static, str> {
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
        let common = match self.stat {
            Stat::Mean => Some(0),
            Stat::Median => Some(1),
            Stat::Std => Some(2),
            Stat::P(90.0) => Some(3),
            Stat::P(95.0) => Some(4),
            Stat::P(99.0) => Some(5),
            Stat::P(_) => None,
        };
        match (common, self.stat) {
            (Some(i), _) => COMMON[metric][i].into(),
            (None, Stat::P(p)) => format!("{}_p{p}_ms", METRICS[metric]).into(),
            (None, _) => unreachable!("mean, median and std are common"),
        }
    }
}

impl Stat {
    fn parse(s: &str) -> Option<Stat> {
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

/// Reads one object's fields into a run; the error names the field.
pub fn run(fields: &[(std::borrow::Cow<str>, Value)]) -> Result<Run, String> {
    let has = |k: &str| fields.iter().any(|(f, _)| f == k);
    let has_suffix = |s: &str| fields.iter().any(|(f, _)| f.ends_with(s));
    let format = if has("total_token_throughput") || has_suffix("_e2el_ms") {
        Format::Vllm
    } else if has("total_throughput") || has("concurrency") || has_suffix("_e2e_latency_ms") {
        Format::Sglang
    } else {
        return Err("not a benchmark result of SGLang bench_serving or vLLM benchmark_serving (no total_throughput, total_token_throughput or end-to-end latency)".to_string());
    };
    let mut r = Run {
        format: Some(format),
        latency: Vec::with_capacity(16),
        ..Run::default()
    };
    let (mut duration, mut completed, mut output_tokens, mut output_throughput) =
        (None, None, None, None);
    for (key, value) in fields {
        let num = || number(key, value);
        let count = || count(key, value);
        match key.as_ref() {
            "duration" => duration = num()?,
            "completed" => completed = count()?,
            "failed" => r.failed = count()?,
            "total_input_tokens" => r.input_tokens = count()?,
            "total_output_tokens" => output_tokens = count()?,
            "request_throughput" => r.request_throughput = num()?,
            "input_throughput" => r.input_throughput = num()?,
            "output_throughput" => output_throughput = num()?,
            "total_throughput" | "total_token_throughput" => r.total_throughput = num()?,
            "max_concurrency" => r.concurrency = count()?,
            "request_rate" => r.request_rate = rate(value)?,
            "concurrency" => r.measured_concurrency = num()?,
            other => {
                if let (Some(l), Some(v)) = (Latency::from_file_key(other), num()?) {
                    if !r.latency.iter().any(|(n, _)| *n == l) {
                        r.latency.push((l, v));
                    }
                }
            }
        }
    }
    let missing = |k: &str| format!("missing field {k:?}");
    r.duration_s = duration.ok_or_else(|| missing("duration"))?;
    r.completed = completed.ok_or_else(|| missing("completed"))?;
    r.output_tokens = output_tokens.ok_or_else(|| missing("total_output_tokens"))?;
    r.output_throughput = output_throughput.ok_or_else(|| missing("output_throughput"))?;
    r.latency
        .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    derive(&mut r);
    Ok(r)
}

/// Throughputs a tool does not write, from what it does: vLLM has no input throughput, older
/// SGLang no total throughput.
fn derive(r: &mut Run) {
    let per_s = |tokens: u64| (r.duration_s > 0.0).then(|| tokens as f64 / r.duration_s);
    if r.input_throughput.is_none() {
        r.input_throughput = r.input_tokens.and_then(per_s);
    }
    if r.total_throughput.is_none() {
        r.total_throughput = r.input_throughput.map(|i| i + r.output_throughput);
    }
}

/// A finite number (`null` is absent).
fn number(key: &str, v: &Value) -> Result<Option<f64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| format!("field {key:?}: {n} is not a finite number")),
        Value::String(s) if ["NaN", "Infinity", "-Infinity"].contains(&s.as_str()) => {
            Err(format!("field {key:?} is {s}"))
        }
        other => Err(format!("field {key:?}: expected a number, found {other}")),
    }
}

/// A count: a non-negative integer (`null` is absent).
fn count(key: &str, v: &Value) -> Result<Option<u64>, String> {
    let Some(f) = number(key, v)? else {
        return Ok(None);
    };
    if f < 0.0 {
        return Err(format!("field {key:?} is negative ({v})"));
    }
    if f.fract() != 0.0 || f > 9.0e15 {
        return Err(format!("field {key:?}: {v} is not a whole number"));
    }
    Ok(Some(f as u64))
}

/// A request rate: a positive number, or unlimited (`inf`, Python's `Infinity`, `null`).
fn rate(v: &Value) -> Result<Option<f64>, String> {
    match v {
        Value::String(s) if s == "inf" || s == "Infinity" => Ok(None),
        Value::String(s) => match s.parse::<f64>() {
            Ok(f) if f.is_finite() && f > 0.0 => Ok(Some(f)),
            _ => Err(format!("field \"request_rate\": {s:?} is not a rate")),
        },
        _ => match number("request_rate", v)? {
            Some(f) if f <= 0.0 => Err(format!("field \"request_rate\" is not positive ({v})")),
            other => Ok(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_keys_are_the_scalars_and_latencies() {
        for k in SCALARS {
            assert!(wanted(k), "{k}");
        }
        for k in ["p99_e2el_ms", "median_tpot_ms", "std_itl_ms"] {
            assert!(wanted(k), "{k}");
        }
        for k in [
            "backend",
            "generated_texts",
            "max_itl_ms",
            "duration_ms",
            "itls",
        ] {
            assert!(!wanted(k), "{k}");
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
}
