//! The two result formats, read into one set of metric names.
//!
//! - SGLang `python -m sglang.bench_serving --output-file F.jsonl`: one object per run (line),
//!   recognised by `total_throughput`, `concurrency` or `*_e2e_latency_ms`.
//! - vLLM `benchmark_serving.py --save-result` (also srt-slurm's sa-bench,
//!   `results_concurrency_{C}_gpus_{G}*.json`): one object per file, recognised by
//!   `total_token_throughput` or `*_e2el_ms`.
//!
//! Names (the README's "Results" section documents each): `duration_s`, `completed`, `failed`,
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
    /// `{metric}_{stat}_ms` in canonical order (ttft, tpot, itl, e2e; mean, median, std, pNN).
    pub latency: Vec<(String, f64)>,
    /// SGLang's measured average concurrency (`concurrency`).
    pub measured_concurrency: Option<f64>,
}

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
    SCALARS.contains(&key) || latency_name(key).is_some()
}

/// `p99_e2el_ms` -> (`e2e`, `p99`); `median_e2e_latency_ms` -> (`e2e`, `median`).
fn latency_name(key: &str) -> Option<(&'static str, &str)> {
    let rest = key.strip_suffix("_ms")?;
    let (stat, metric) = rest.split_once('_')?;
    let metric = match metric {
        "ttft" => "ttft",
        "tpot" => "tpot",
        "itl" => "itl",
        "e2el" | "e2e_latency" => "e2e",
        _ => return None,
    };
    let percentile = stat
        .strip_prefix('p')
        .is_some_and(|p| !p.is_empty() && p.parse::<f64>().is_ok_and(|v| v > 0.0 && v <= 100.0));
    if matches!(stat, "mean" | "median" | "std") || percentile {
        Some((metric, stat))
    } else {
        None
    }
}

/// True for a latency name in our vocabulary: `{ttft,tpot,itl,e2e}_{mean,median,std,pNN}_ms`.
pub fn is_latency_name(name: &str) -> bool {
    let Some(rest) = name.strip_suffix("_ms") else {
        return false;
    };
    let Some((metric, stat)) = rest.split_once('_') else {
        return false;
    };
    let file_metric = if metric == "e2e" { "e2el" } else { metric };
    ["ttft", "tpot", "itl", "e2e"].contains(&metric)
        && latency_name(&format!("{stat}_{file_metric}_ms")).is_some()
}

/// Sort key of a latency name: metric, then mean, median, std, then percentiles ascending.
fn latency_order(name: &str) -> (usize, u8, f64) {
    let metric = ["ttft", "tpot", "itl", "e2e"]
        .iter()
        .position(|m| name.starts_with(&format!("{m}_")))
        .unwrap_or(4);
    let stat = name
        .trim_end_matches("_ms")
        .rsplit('_')
        .next()
        .unwrap_or_default();
    match stat {
        "mean" => (metric, 0, 0.0),
        "median" => (metric, 1, 0.0),
        "std" => (metric, 2, 0.0),
        p => (metric, 3, p[1..].parse().unwrap_or(0.0)),
    }
}

/// Reads one object's fields into a run; the error names the field.
pub fn run(fields: &[(String, Value)]) -> Result<Run, String> {
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
        ..Run::default()
    };
    let (mut duration, mut completed, mut output_tokens, mut output_throughput) =
        (None, None, None, None);
    for (key, value) in fields {
        let num = || number(key, value);
        let count = || count(key, value);
        match key.as_str() {
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
                if let (Some((metric, stat)), Some(v)) = (latency_name(other), num()?) {
                    let name = format!("{metric}_{stat}_ms");
                    if !r.latency.iter().any(|(n, _)| *n == name) {
                        r.latency.push((name, v));
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
    r.latency.sort_by(|a, b| {
        latency_order(&a.0)
            .partial_cmp(&latency_order(&b.0))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
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
    fn latency_names_map_to_one_vocabulary() {
        assert_eq!(latency_name("p99_e2el_ms"), Some(("e2e", "p99")));
        assert_eq!(
            latency_name("median_e2e_latency_ms"),
            Some(("e2e", "median"))
        );
        assert_eq!(latency_name("p99.9_itl_ms"), Some(("itl", "p99.9")));
        assert_eq!(latency_name("max_itl_ms"), None);
        assert_eq!(latency_name("p_itl_ms"), None);
        assert!(is_latency_name("e2e_p99_ms") && is_latency_name("itl_p95_ms"));
        assert!(!is_latency_name("e2el_p99_ms") && !is_latency_name("ttft_max_ms"));
        assert!(latency_order("ttft_p99_ms") < latency_order("tpot_mean_ms"));
        assert!(latency_order("itl_p95_ms") < latency_order("itl_p99_ms"));
        assert!(latency_order("itl_std_ms") < latency_order("itl_p50_ms"));
    }
}
