//! `--profiler "type=sglang; isl=8192; osl=1024; concurrencies=16x2048; req-rate=inf"`: the
//! seed's benchmark spec, validated field by field (the seed used `assert`), with one field of
//! ours, `requests-per-concurrency` (the requests sent at each concurrency, as a multiple of
//! it: what `sweep-collect --results` counts failures against). Types `sglang`, `vllm` and
//! `aiperf` are the benchmarks whose results sweep-collect reads; any other is a directory of
//! the scripts directory all the same.

use anyhow::{bail, Result};
use std::path::Path;

const FIELDS: &str = "type, isl, osl, concurrencies, req-rate, requests-per-concurrency";

/// A benchmark to run on node 0 once the workers are launched:
/// `<scripts-dir>/<type>/bench.sh`.
#[derive(Debug, Clone)]
pub struct Profiler {
    /// Benchmark type: the directory of its `bench.sh` under the scripts directory.
    pub kind: String,
    /// Input sequence length.
    pub isl: u64,
    /// Output sequence length.
    pub osl: u64,
    /// Concurrencies, as written (`16x2048x4096`).
    pub concurrencies: String,
    /// Request rate (`inf` or a number), if given.
    pub req_rate: Option<String>,
    /// Requests per unit of concurrency (`requests-per-concurrency`), if given: concurrency C
    /// is measured with this many times C requests. Passed to the benchmark as
    /// `SWEEP_BENCH_REQUESTS_PER_CONCURRENCY`.
    pub requests_per_concurrency: Option<u64>,
}

impl Profiler {
    /// Parses a spec; `type=manual` means no benchmark (`None`), as in the seed.
    pub fn parse(spec: &str) -> Result<Option<Profiler>> {
        let mut kind = None;
        let (mut isl, mut osl, mut conc, mut rate, mut per) = (None, None, None, None, None);
        for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                bail!("--profiler: {part:?} is not key=value (fields: {FIELDS})");
            };
            let (key, value) = (key.trim(), value.trim());
            let slot = match key {
                "type" => &mut kind,
                "isl" => &mut isl,
                "osl" => &mut osl,
                "concurrencies" => &mut conc,
                "req-rate" => &mut rate,
                "requests-per-concurrency" => &mut per,
                _ => bail!("--profiler: unknown field {key:?} (fields: {FIELDS})"),
            };
            if slot.replace(value.to_string()).is_some() {
                bail!("--profiler: field {key:?} given twice");
            }
        }
        let Some(kind) = kind else {
            bail!("--profiler: missing field \"type\" (for example type=sglang)");
        };
        if kind == "manual" {
            return Ok(None);
        }
        if kind.is_empty()
            || kind.starts_with('.')
            || !kind
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            bail!("--profiler: type {kind:?} is not a benchmark name (letters, digits, '.', '_', '-')");
        }
        let isl = positive("isl", isl)?;
        let osl = positive("osl", osl)?;
        let concurrencies = concurrency_list(conc)?;
        let req_rate = match rate {
            Some(r) => Some(req_rate(r)?),
            // The seed's sglang and vllm benchmarks take a request rate as their 8th argument.
            None if kind == "sglang" || kind == "vllm" => {
                bail!("--profiler: type={kind} needs field \"req-rate\" (inf or a number)")
            }
            None => None,
        };
        let requests_per_concurrency = match per {
            Some(v) => Some(positive("requests-per-concurrency", Some(v))?),
            None => None,
        };
        Ok(Some(Profiler {
            kind,
            isl,
            osl,
            concurrencies,
            req_rate,
            requests_per_concurrency,
        }))
    }

    /// The same benchmark at other concurrencies (a record's own: a follow-up round).
    pub fn measuring(&self, concurrencies: &[u64]) -> Profiler {
        Profiler {
            concurrencies: sweep::concurrencies::text(concurrencies),
            ..self.clone()
        }
    }

    /// `sweep_benchmark.json`, which the job writes into its directory: what the benchmark
    /// was asked for, read by `sweep-collect --results` (requested counts, workload shape).
    pub fn spec_json(&self) -> String {
        let concurrencies: Vec<u64> = self
            .concurrencies
            .split('x')
            .filter_map(|c| c.parse().ok())
            .collect();
        let mut v = serde_json::json!({
            "type": self.kind,
            "isl": self.isl,
            "osl": self.osl,
            "concurrencies": concurrencies,
            "req_rate": self.req_rate.as_deref().unwrap_or("inf"),
        });
        if let Some(n) = self.requests_per_concurrency {
            v["requests_per_concurrency"] = n.into();
        }
        v.to_string()
    }

    /// The benchmark script must exist before anything is submitted.
    pub fn check_script(&self, scripts_dir: &Path) -> Result<()> {
        let path = scripts_dir.join(&self.kind).join("bench.sh");
        if !path.is_file() {
            bail!(
                "--profiler: type={}: {} not found",
                self.kind,
                path.display()
            );
        }
        Ok(())
    }

    /// The seed's `profiler_arg`: ` isl osl concurrencies[ req-rate]`, the trailing
    /// arguments of `bench.sh`.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            self.isl.to_string(),
            self.osl.to_string(),
            self.concurrencies.clone(),
        ];
        args.extend(self.req_rate.clone());
        args
    }
}

fn positive(field: &str, value: Option<String>) -> Result<u64> {
    let Some(v) = value else {
        bail!("--profiler: missing field {field:?} (a positive integer)");
    };
    match v.parse::<u64>() {
        Ok(n) if n > 0 && v.chars().all(|c| c.is_ascii_digit()) => Ok(n),
        _ => bail!("--profiler: {field}={v:?} is not a positive integer"),
    }
}

fn concurrency_list(value: Option<String>) -> Result<String> {
    let Some(v) = value else {
        bail!("--profiler: missing field \"concurrencies\" (for example 16x2048x4096)");
    };
    let ok = v.split('x').all(|c| {
        !c.is_empty()
            && c.chars().all(|d| d.is_ascii_digit())
            && c.parse::<u64>().is_ok_and(|n| n > 0)
    });
    if !ok {
        bail!("--profiler: concurrencies={v:?} is not a list of positive integers joined by 'x' (for example 16x2048x4096)");
    }
    Ok(v)
}

fn req_rate(v: String) -> Result<String> {
    let number = !v.is_empty()
        && v.chars().all(|c| c.is_ascii_digit() || c == '.')
        && v.parse::<f64>().is_ok_and(|r| r > 0.0);
    if v == "inf" || number {
        Ok(v)
    } else {
        bail!("--profiler: req-rate={v:?} is not \"inf\" or a positive number")
    }
}
