//! NVIDIA AIPerf's `profile_export_aiperf.json` (checked against AIPerf 0.13.0's own output,
//! tests/data/real-clients/aiperf-0.13.0/): every metric is an object
//! `{"unit": ..., "avg": ..., "p50": ..., "p90": ..., "std": ..., ...}`; how the load was set
//! and what the prompts were is in `input_config` (`phases`, `datasets`).
//!
//! | ours | AIPerf |
//! |---|---|
//! | `duration_s` | `benchmark_duration.avg` (s) |
//! | `completed` | `request_count.avg` (successes) |
//! | `failed` | `error_request_count.avg`; absent means none (AIPerf leaves it out), or `completed_request_count − request_count` (successes plus errors) |
//! | `requested` | the profiling phase's `requests` (`--request-count`) |
//! | `input_tokens`, `output_tokens` | `total_isl.avg`, `total_osl.avg` (what AIPerf's throughput divides) |
//! | throughputs | `request_throughput`, `input_token_throughput`, `output_token_throughput`, `total_token_throughput` (`.avg`) |
//! | `ttft_*`, `tpot_*`, `itl_*`, `e2e_*` | `time_to_first_token`, `inter_token_latency` (per request: (latency − TTFT) / (tokens − 1), which SGLang and vLLM call TPOT), `inter_chunk_latency` (between chunks: their ITL), `request_latency`; `avg` → mean, `p50` → median, `std`, `pNN` |
//! | `measured_concurrency` | `effective_concurrency.avg` |
//! | `concurrency`, `request_rate` | the profiling phase's `concurrency` and `rate` |
//! | `dataset`, `isl`, `osl` | the dataset's `type`, its prompts' `isl.mean`, `osl.mean` |
//!
//! `was_cancelled: true` or `is_complete: false` make the run invalid, and so does its
//! directory's `.aiperf_results_ready.json` when it says so ([`super::gather`]).

use super::formats::{self, Format, Latency, Metric, Run, Stat};
use serde_json::value::RawValue;
use serde_json::Value;
use std::borrow::Cow;

/// The keys of AIPerf's export that a run is read from.
pub fn wanted(key: &str) -> bool {
    matches!(
        key,
        "aiperf_version"
            | "was_cancelled"
            | "is_complete"
            | "input_config"
            | "benchmark_duration"
            | "request_count"
            | "error_request_count"
            | "completed_request_count"
            | "total_isl"
            | "total_osl"
            | "total_output_tokens"
            | "input_token_throughput"
            | "output_token_throughput"
            | "time_to_first_token"
            | "inter_token_latency"
            | "inter_chunk_latency"
            | "request_latency"
            | "effective_concurrency"
    )
}

/// The latency metrics, by AIPerf's name.
const LATENCIES: [(&str, Metric); 4] = [
    ("time_to_first_token", Metric::Ttft),
    ("inter_token_latency", Metric::Tpot),
    ("inter_chunk_latency", Metric::Itl),
    ("request_latency", Metric::E2e),
];

/// Reads an AIPerf export's fields into a run; the error names what is missing.
pub fn run(fields: &[(Cow<str>, &RawValue)]) -> Result<Run, String> {
    let raw = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.get());
    // AIPerf's values are objects: parsed when asked for (a large sweep's points are mostly
    // the flat formats).
    let get = |k: &str| raw(k).and_then(|t| serde_json::from_str::<Value>(t).ok());
    let mut r = Run::new(Format::Aiperf);
    let avg = |r: &mut Run, k: &str| -> Result<Option<f64>, String> {
        match get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => {
                let key = format!("{k}.avg");
                Ok(m.get("avg")
                    .and_then(|v| formats::number(&mut r.problems, &key, &v.to_string())))
            }
            Some(other) => Err(format!(
                "field {k:?}: expected a metric object {{\"unit\", \"avg\", ...}}, found {other}"
            )),
        }
    };
    let count = |r: &mut Run, k: &str, v: Option<f64>| -> Option<u64> {
        let v = v?;
        if v.fract() != 0.0 || v < 0.0 {
            r.problems
                .push(format!("field \"{k}.avg\": {v} is not a whole number"));
            return None;
        }
        Some(v as u64)
    };
    // Present, even when its figure is not valid (then a problem says why).
    let required = |k: &str| match raw(k) {
        None => Err(format!("missing field {k:?}")),
        Some(_) => Ok(()),
    };
    required("benchmark_duration")?;
    required("request_count")?;
    required("output_token_throughput")?;
    r.duration_s = avg(&mut r, "benchmark_duration")?;
    let successes = avg(&mut r, "request_count")?;
    r.completed = count(&mut r, "request_count", successes);
    let errors = avg(&mut r, "error_request_count")?;
    let ended = avg(&mut r, "completed_request_count")?;
    r.failed = match (errors, ended, r.completed) {
        (Some(e), _, _) => count(&mut r, "error_request_count", Some(e)),
        (None, Some(all), Some(ok)) => {
            count(&mut r, "completed_request_count", Some(all)).map(|all| all.saturating_sub(ok))
        }
        // AIPerf leaves the error count out when there were none.
        (None, _, _) => Some(0),
    };
    let isl = avg(&mut r, "total_isl")?;
    r.input_tokens = count(&mut r, "total_isl", isl);
    let osl = match avg(&mut r, "total_osl")? {
        Some(v) => Some(v),
        None => avg(&mut r, "total_output_tokens")?,
    };
    r.output_tokens = count(&mut r, "total_osl", osl);
    r.request_throughput = avg(&mut r, "request_throughput")?;
    r.input_throughput = avg(&mut r, "input_token_throughput")?;
    r.output_throughput = avg(&mut r, "output_token_throughput")?;
    r.total_throughput = avg(&mut r, "total_token_throughput")?;
    r.measured_concurrency = avg(&mut r, "effective_concurrency")?;
    for (name, metric) in LATENCIES {
        if let Some(Value::Object(m)) = get(name) {
            for (stat_key, v) in m.iter() {
                let stat = match stat_key.as_str() {
                    "avg" => Stat::Mean,
                    "p50" => Stat::Median,
                    other => match Stat::parse(other) {
                        Some(s @ (Stat::Std | Stat::P(_))) => s,
                        _ => continue,
                    },
                };
                let key = format!("{name}.{stat_key}");
                if let Some(v) = formats::number(&mut r.problems, &key, &v.to_string()) {
                    r.set_latency(Latency::new(metric, stat), v, &key);
                }
            }
        }
    }
    if raw("was_cancelled") == Some("true") {
        r.problems
            .push("the AIPerf run was cancelled (was_cancelled: true)".to_string());
    }
    if raw("is_complete") == Some("false") {
        r.problems
            .push("the AIPerf run is not complete (is_complete: false)".to_string());
    }
    if let Some(config) = get("input_config") {
        load(&mut r, &config);
        prompts(&mut r, &config);
    }
    r.finish();
    Ok(r)
}

/// Concurrency, rate and request count of the profiling phase (AIPerf 0.13: `phases`, the one
/// whose `kind` is `profiling`; earlier versions: `loadgen`).
fn load(r: &mut Run, config: &Value) {
    let phase = config
        .get("phases")
        .and_then(Value::as_array)
        .and_then(|phases| {
            phases
                .iter()
                .rev()
                .find(|p| p.get("kind").and_then(Value::as_str) == Some("profiling"))
        })
        .or_else(|| config.get("loadgen"));
    let Some(phase) = phase else { return };
    let whole = |k: &str| {
        phase
            .get(k)
            .and_then(Value::as_f64)
            .filter(|v| v.fract() == 0.0 && *v > 0.0)
            .map(|v| v as u64)
    };
    r.concurrency = whole("concurrency");
    r.requested = whole("requests").or_else(|| whole("request_count"));
    r.request_rate = ["rate", "request_rate"]
        .iter()
        .find_map(|k| phase.get(*k).and_then(Value::as_f64))
        .filter(|v| v.is_finite() && *v > 0.0);
}

/// The dataset's type and the prompts' mean lengths.
fn prompts(r: &mut Run, config: &Value) {
    let Some(dataset) = config
        .get("datasets")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
    else {
        return;
    };
    r.dataset = dataset
        .get("type")
        .and_then(Value::as_str)
        .map(|t| Cow::Owned(t.to_string()));
    let mean = |k: &str| {
        dataset
            .get("prompts")?
            .get(k)?
            .get("mean")?
            .as_f64()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v.round() as u64)
    };
    r.isl = mean("isl");
    r.osl = mean("osl");
}
