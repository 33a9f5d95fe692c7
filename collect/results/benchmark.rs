//! What a job's directory says about its runs besides the results: the benchmark the job
//! asked for (`sweep_benchmark.json`, written by the job script from `--profiler`), and
//! AIPerf's completion marker (`.aiperf_results_ready.json`).

use super::formats::{Format, Run};
use serde_json::Value;

/// `sweep_benchmark.json`: `{"type": "sglang", "isl": 1024, "osl": 256, "concurrencies":
/// [4, 16], "req_rate": "inf", "requests_per_concurrency": 10}`.
#[derive(Debug, Default)]
pub struct Benchmark {
    pub isl: Option<u64>,
    pub osl: Option<u64>,
    pub concurrencies: Vec<u64>,
    /// The job passed `SWEEP_BENCH_REQUESTS_PER_CONCURRENCY`: each concurrency C was to be
    /// measured with this many times C requests.
    pub requests_per_concurrency: Option<u64>,
}

/// Parses the job's `sweep_benchmark.json`.
pub fn parse(text: &str) -> Result<Benchmark, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(m) = v else {
        return Err("expected a JSON object".to_string());
    };
    let whole = |k: &str| -> Result<Option<u64>, String> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|&n| n > 0)
                .map(Some)
                .ok_or_else(|| format!("field {k:?}: {v} is not a positive integer")),
        }
    };
    let concurrencies = match m.get("concurrencies") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|c| c.as_u64().filter(|&n| n > 0))
            .collect::<Option<Vec<u64>>>()
            .ok_or("field \"concurrencies\": expected positive integers")?,
        Some(other) => {
            return Err(format!(
                "field \"concurrencies\": expected a list, found {other}"
            ))
        }
    };
    Ok(Benchmark {
        isl: whole("isl")?,
        osl: whole("osl")?,
        concurrencies,
        requests_per_concurrency: whole("requests_per_concurrency")?,
    })
}

impl Benchmark {
    /// What the job knows and the run's file does not say: SGLang's request count (it writes
    /// none without `--output-details`, nor a failed count: what did not complete failed), and
    /// the input and output lengths of a run that names no dataset (vLLM).
    pub fn fill(&self, run: &mut Run) {
        if run.format == Format::Sglang && run.requested.is_none() {
            if let (Some(n), Some(c)) = (self.requests_per_concurrency, run.concurrency) {
                if self.concurrencies.contains(&c) {
                    run.requested = Some(n * c);
                    run.requested_by_job = true;
                }
            }
        }
        if run.format == Format::Sglang && run.failed.is_none() {
            if let (Some(asked), Some(done)) = (run.requested, run.completed) {
                if done <= asked {
                    run.failed = Some(asked - done);
                }
            }
        }
        if run.dataset.is_none() && run.isl.is_none() && run.osl.is_none() {
            run.isl = self.isl;
            run.osl = self.osl;
        }
    }
}

/// AIPerf's `.aiperf_results_ready.json` (`{"ready": true, "was_cancelled": false,
/// "partial": false}`): why the run next to it is not valid (empty: it is).
pub fn aiperf_marker(text: &str) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let flag = |k: &str| v.get(k).and_then(Value::as_bool);
    if !v.is_object() {
        return Err("expected a JSON object".to_string());
    }
    let mut problems = Vec::new();
    if flag("ready") == Some(false) {
        problems.push(
            "AIPerf had not finished writing its results (.aiperf_results_ready.json: ready false)"
                .to_string(),
        );
    }
    if flag("was_cancelled") == Some(true) {
        problems.push(
            "the AIPerf run was cancelled (.aiperf_results_ready.json: was_cancelled true)"
                .to_string(),
        );
    }
    if flag("partial") == Some(true) {
        problems.push(
            "AIPerf's results are partial (.aiperf_results_ready.json: partial true)".to_string(),
        );
    }
    Ok(problems)
}
