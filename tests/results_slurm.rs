//! `--results` end to end on the local cluster (issue 12): the jobs run the stand-in benchmark
//! (examples/demo-scripts/sglang/bench.sh), collect reads their points, judges them with the
//! jobs' states and flags the frontier; then the documented re-run pipeline re-submits exactly
//! the combination without a valid result and merges it back, with the frontier recomputed.

use crate::common::{on_slurm, read_json, sh, stderr, temp_dir, Cancel};
use serde_json::Value;
use std::path::Path;

fn points(job: &Value) -> &Vec<Value> {
    job["results"]["points"].as_array().unwrap()
}

/// The point of `job`'s current job at concurrency `c`.
fn at(job: &Value, c: u64) -> &Value {
    points(job)
        .iter()
        .find(|p| p["concurrency"] == c && p["job_id"] == job["job_id"])
        .unwrap_or_else(|| panic!("no point at concurrency {c}: {job}"))
}

#[test]
fn jobs_benchmark_collect_judges_and_the_rerun_pipeline_fills_the_gap() {
    let Some(_slurm) =
        on_slurm("jobs_benchmark_collect_judges_and_the_rerun_pipeline_fills_the_gap")
    else {
        return;
    };
    let dir = temp_dir("results_slurm_rerun");
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-scripts");
    let script = format!(
        r#"
cat > sweep.yaml <<'Y'
slurm:
  agg_nodes: [1]
  agg_workers: [1]
sglang:
  mem-fraction-static: [0.82, 0.86, 0.9]
Y
SUBMIT=(sweep-submit --account sweepacct --partition batch --model-dir "$PWD" --config-dir "$PWD"
  --gpu-type demo --script-variant max-tpt --scripts-dir {scripts} --network-interface lo
  --time-limit 00:05:00 --profiler 'type=sglang; isl=128; osl=32; concurrencies=4x64x512; req-rate=inf')
sweep-expand sweep.yaml | sweep-render --out-dir sweep > rendered.jsonl
# Index 0 benchmarks and completes; index 1's benchmark writes its results, then fails;
# index 2's completes with results that are not valid (no request completed).
sed -n 1p rendered.jsonl | "${{SUBMIT[@]}}" > submitted.jsonl
sed -n 2p rendered.jsonl | SWEEP_DEMO_BENCH_EXIT=3 "${{SUBMIT[@]}}" >> submitted.jsonl
sed -n 3p rendered.jsonl | SWEEP_DEMO_BENCH_EMPTY=1 "${{SUBMIT[@]}}" >> submitted.jsonl
jq -r .job_id submitted.jsonl > first_jobs
rc=0
sweep-collect --wait --poll-interval 1 --results submitted.jsonl --output m.json 2> first.err || rc=$?
echo "$rc" > first_rc
cp m.json before.json
# The re-run recipe of docs/results.md: combinations without a valid result, re-submitted (a completed
# one too) with the options of their last submission, and merged.
sweep-collect --status --results --jsonl m.json \
  | jq -c 'select(.results.valid_points == 0)' \
  | sweep-submit --resubmit-completed \
  | sweep-collect m.json - --output m.json
sweep-collect --wait --poll-interval 1 --results m.json --output m.json
"#,
        scripts = scripts.display()
    );
    let out = sh(&script, &dir);
    let mut cancel = Cancel(Vec::new());
    for id in std::fs::read_to_string(dir.join("first_jobs"))
        .unwrap_or_default()
        .lines()
    {
        cancel.push(id.to_string());
    }
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(dir.join("first_rc"))
            .unwrap()
            .trim(),
        "1",
        "one job failed: --wait exits 1"
    );

    let before = read_json(&dir.join("before.json"));
    let (b0, b1, b2) = (&before["jobs"][0], &before["jobs"][1], &before["jobs"][2]);
    assert_eq!(
        (
            b0["state"].as_str(),
            b1["state"].as_str(),
            b2["state"].as_str()
        ),
        (Some("COMPLETED"), Some("FAILED"), Some("COMPLETED"))
    );
    assert_eq!(b2["results"]["valid_points"], 0, "{b2}");
    assert_eq!(points(b2).len(), 3, "{b2}");
    for p in points(b2) {
        assert_eq!(
            p["invalid_reason"], "no completed requests; no output tokens",
            "{p}"
        );
    }
    assert_eq!(b0["results"]["valid_points"], 3, "{b0}");
    assert_eq!(b1["results"]["valid_points"], 0, "{b1}");
    assert_eq!(
        points(b1).len(),
        3,
        "the failed job's benchmark wrote its results: {b1}"
    );
    let failed = b1["job_id"].as_str().unwrap();
    for p in points(b1) {
        assert_eq!(
            p["invalid_reason"],
            format!("job {failed} ended FAILED"),
            "{p}"
        );
        assert_eq!(p["pareto"], false);
        let file = Path::new(b1["log_dir"].as_str().unwrap())
            .join(failed)
            .join("bench/bench_serving.jsonl");
        assert_eq!(p["file"], file.display().to_string());
    }
    assert!(points(b0).iter().all(|p| p["pareto"] == true), "{b0}");
    let err = std::fs::read_to_string(dir.join("first.err")).unwrap();
    assert!(
        err.contains("sweep-collect: results: 9 points, 3 valid, 3 on the Pareto frontier of 3; 0 of 3 combinations without a point; 0 file error(s); "),
        "{err}"
    );

    let after = read_json(&dir.join("m.json"));
    let (a0, a1, a2) = (&after["jobs"][0], &after["jobs"][1], &after["jobs"][2]);
    cancel.push(a1["job_id"].as_str().unwrap().to_string());
    cancel.push(a2["job_id"].as_str().unwrap().to_string());
    assert_ne!(
        a2["job_id"], b2["job_id"],
        "a completed job without a valid result runs again"
    );
    assert_eq!(a2["history"][0]["job_id"], b2["job_id"]);
    assert_eq!(a2["results"]["valid_points"], 3, "{a2}");
    assert_eq!(
        a0["job_id"], b0["job_id"],
        "the valid combination was not re-submitted"
    );
    assert_ne!(a1["job_id"].as_str(), Some(failed));
    assert_eq!(a1["history"][0]["job_id"].as_str(), Some(failed));
    assert_eq!(a1["state"], "COMPLETED");
    assert_eq!(a1["results"]["valid_points"], 3, "{a1}");
    // The earlier (failed) submission is read too: its points are there, invalid.
    for p in points(a1) {
        if p["job_id"] == a1["job_id"] {
            assert_eq!(p["valid"], true, "{p}");
        } else {
            assert_eq!(p["job_id"].as_str(), Some(failed), "{p}");
            assert_eq!(p["invalid_reason"], format!("job {failed} ended FAILED"));
        }
    }
    assert_eq!(points(a1).len(), 6, "{a1}");
    // The frontier was recomputed over all three: at 512 concurrent requests the largest
    // mem-fraction-static wins (the stand-in's synthetic trade-off), at 4 the smallest.
    assert_eq!(at(a2, 512)["pareto"], true, "{a2}");
    assert_eq!(at(a1, 512)["pareto"], false, "{a1}");
    assert_eq!(at(a0, 512)["pareto"], false, "{a0}");
    assert_eq!(at(a0, 4)["pareto"], true, "{a0}");
}

#[test]
fn an_aiperf_sweep_runs_end_to_end_and_failed_requests_count() {
    let Some(_slurm) = on_slurm("an_aiperf_sweep_runs_end_to_end_and_failed_requests_count") else {
        return;
    };
    let dir = temp_dir("results_slurm_aiperf");
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-scripts");
    let script = format!(
        r#"
cat > sweep.yaml <<'Y'
slurm:
  agg_nodes: [1]
  agg_workers: [1]
sglang:
  mem-fraction-static: [0.82, 0.86, 0.9]
Y
SUBMIT=(sweep-submit --account sweepacct --partition batch --model-dir "$PWD" --config-dir "$PWD"
  --gpu-type demo --script-variant max-tpt --scripts-dir {scripts} --network-interface lo
  --time-limit 00:05:00)
AIPERF='type=aiperf; isl=128; osl=32; concurrencies=4x16; requests-per-concurrency=3'
SGLANG='type=sglang; isl=128; osl=32; concurrencies=4x16; req-rate=inf; requests-per-concurrency=3'
sweep-expand sweep.yaml | sweep-render --out-dir sweep > rendered.jsonl
# AIPerf on the first two (every 4th request of the second fails); SGLang on the third, whose
# every 4th request fails too (SGLang writes no failed count: the job's request count tells).
sed -n 1p rendered.jsonl | "${{SUBMIT[@]}}" --profiler "$AIPERF" > submitted.jsonl
sed -n 2p rendered.jsonl | SWEEP_DEMO_BENCH_FAIL_EVERY=4 "${{SUBMIT[@]}}" --profiler "$AIPERF" >> submitted.jsonl
sed -n 3p rendered.jsonl | SWEEP_DEMO_BENCH_FAIL_EVERY=4 "${{SUBMIT[@]}}" --profiler "$SGLANG" >> submitted.jsonl
jq -r .job_id submitted.jsonl > jobs
sweep-collect --wait --poll-interval 1 --results --table points.csv submitted.jsonl --output m.json 2> collect.err
"#,
        scripts = scripts.display()
    );
    let out = sh(&script, &dir);
    let mut cancel = Cancel(Vec::new());
    for id in std::fs::read_to_string(dir.join("jobs"))
        .unwrap_or_default()
        .lines()
    {
        cancel.push(id.to_string());
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let m = read_json(&dir.join("m.json"));
    let jobs = m["jobs"].as_array().unwrap();
    let err = std::fs::read_to_string(dir.join("collect.err")).unwrap();
    assert!(
        err.contains("sweep-collect: results: 6 points, 2 valid, "),
        "{err}"
    );
    assert!(!err.contains("failed requests are unknown"), "{err}");
    for (k, job) in jobs.iter().enumerate() {
        assert_eq!(job["state"], "COMPLETED", "{job}");
        assert_eq!(points(job).len(), 2, "{job}");
        let dir = Path::new(job["log_dir"].as_str().unwrap()).join(job["job_id"].as_str().unwrap());
        for c in [4u64, 16] {
            let p = at(job, c);
            assert_eq!(p["requested"], 3 * c, "{p}");
            assert_eq!(
                (p["isl"].clone(), p["osl"].clone()),
                (128.into(), 32.into()),
                "{p}"
            );
            let failed = if k == 0 { 0 } else { 3 * c / 4 };
            assert_eq!(p["failed"], failed, "{p}");
            assert_eq!(p["completed"], 3 * c - failed, "{p}");
            if k < 2 {
                assert_eq!(p["format"], "aiperf");
                assert_eq!(p["dataset"], "synthetic");
                let file = dir.join(format!("bench/aiperf_c{c}/profile_export_aiperf.json"));
                assert_eq!(p["file"], file.display().to_string());
            } else {
                assert_eq!(p["format"], "sglang");
            }
            match k {
                0 => assert_eq!(p["valid"], true, "{p}"),
                1 => assert_eq!(p["invalid_reason"], format!("{failed} of {} requests failed", 3 * c)),
                _ => assert_eq!(
                    p["invalid_reason"],
                    format!("{failed} of {} requests did not complete ({} = 3 x concurrency {c}, as the job asked; SGLang writes no failed count)", 3 * c, 3 * c)
                ),
            }
        }
        // AIPerf's per-phase copies are listed, not counted twice.
        let other = job["results"]["not_results"].as_array().unwrap();
        let listed = |name: &str| {
            other
                .iter()
                .any(|n| n["file"] == dir.join(name).display().to_string())
        };
        assert!(listed("sweep_benchmark.json"), "{job}");
        if k < 2 {
            assert!(
                listed("bench/aiperf_c4/phases/profiling/profile_export_aiperf.json"),
                "{job}"
            );
            assert!(
                listed("bench/aiperf_c16/.aiperf_results_ready.json"),
                "{job}"
            );
        }
    }
}
