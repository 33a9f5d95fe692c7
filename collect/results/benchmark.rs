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

/// Parses the job's `sweep_benchmark.json` (one per job of a sweep: read into its fields
/// directly, not through a JSON tree).
pub fn parse(text: &str) -> Result<Benchmark, String> {
    #[derive(serde::Deserialize)]
    struct Spec {
        isl: Option<u64>,
        osl: Option<u64>,
        concurrencies: Option<Vec<u64>>,
        requests_per_concurrency: Option<u64>,
    }
    let spec: Spec = serde_json::from_str(text).map_err(|e| format!("invalid: {e}"))?;
    let positive = |k: &str, v: Option<u64>| match v {
        Some(0) => Err(format!("field {k:?} is 0, not a positive integer")),
        other => Ok(other),
    };
    let concurrencies = spec.concurrencies.unwrap_or_default();
    if concurrencies.contains(&0) {
        return Err("field \"concurrencies\": expected positive integers".to_string());
    }
    Ok(Benchmark {
        isl: positive("isl", spec.isl)?,
        osl: positive("osl", spec.osl)?,
        concurrencies,
        requests_per_concurrency: positive(
            "requests_per_concurrency",
            spec.requests_per_concurrency,
        )?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jobs_benchmark_is_read_and_a_bad_one_named() {
        let b = parse(r#"{"type":"sglang","isl":8,"osl":4,"concurrencies":[1,4],"req_rate":"inf","requests_per_concurrency":10}"#).unwrap();
        assert_eq!(
            (
                b.isl,
                b.osl,
                b.concurrencies.clone(),
                b.requests_per_concurrency
            ),
            (Some(8), Some(4), vec![1, 4], Some(10))
        );
        assert!(parse("{}").unwrap().concurrencies.is_empty());
        for bad in [
            r#"{"isl": "8"}"#,
            r#"{"concurrencies": [0]}"#,
            r#"{"requests_per_concurrency": 0}"#,
            r#"[1]"#,
            "{",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            aiperf_marker(r#"{"ready":true,"was_cancelled":false,"partial":false}"#).unwrap(),
            Vec::<String>::new()
        );
        assert!(aiperf_marker("[]").is_err());
    }
}
