//! `sweep-collect --results` without Slurm (issue 12): result files in SGLang's and vLLM's
//! formats laid out as jobs write them, every bad-file case, the frontier against a
//! brute-force check, SLO limits, the table read back by Python's csv and json modules, the
//! SVG plot. Files the clients themselves wrote are read in `results_real`.

use crate::common::{run, stderr, stdout, temp_dir};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A line as SGLang's `bench_serving --output-file` writes it (its field set and order, with
/// the fields newer versions add), for concurrency `c`; `Infinity` is Python's unlimited rate.
pub fn sglang_line(c: u64, out_tps: f64, tpot: f64, ttft_p99: f64) -> String {
    let v = json!({
        "backend": "sglang", "dataset_name": "random", "request_rate": "@INF@",
        "max_concurrency": c, "sharegpt_output_len": null, "random_input_len": 1024,
        "random_output_len": 256, "random_range_ratio": 1.0,
        "duration": 12.5, "completed": 4 * c, "total_input_tokens": 4 * c * 1024,
        "total_output_tokens": 4 * c * 256, "total_output_tokens_retokenized": 4 * c * 256,
        "request_throughput": 0.32 * c as f64, "input_throughput": 4 * out_tps as u64,
        "output_throughput": out_tps, "total_throughput": 5.0 * out_tps,
        "mean_e2e_latency_ms": 900.5, "median_e2e_latency_ms": 880.0,
        "std_e2e_latency_ms": 40.0, "p99_e2e_latency_ms": 1200.0,
        "mean_ttft_ms": 120.0, "median_ttft_ms": 110.0, "std_ttft_ms": 12.0,
        "p99_ttft_ms": ttft_p99, "mean_tpot_ms": tpot * 1.01, "median_tpot_ms": tpot,
        "std_tpot_ms": 0.4, "p99_tpot_ms": tpot * 1.3, "mean_itl_ms": tpot,
        "median_itl_ms": tpot * 0.97, "std_itl_ms": 2.0, "p95_itl_ms": tpot * 1.5,
        "p99_itl_ms": tpot * 2.5, "concurrency": c as f64 * 0.97, "accept_length": null,
        "p90_ttft_ms": ttft_p99 * 0.8, "max_output_tokens_per_s": out_tps * 1.2,
        "max_concurrent_requests": c, "tag": "demo"
    });
    v.to_string().replace("\"@INF@\"", "Infinity")
}

/// A file as vLLM's `benchmark_serving.py --save-result` (srt-slurm's sa-bench) writes it,
/// with the per-request arrays and the fields newer versions add.
fn vllm_file(c: u64, out_tps: f64, tpot: f64, failed: u64) -> String {
    json!({
        "date": "20251113-123456", "backend": "dynamo", "model_id": "deepseek-ai/DeepSeek-R1",
        "tokenizer_id": "deepseek-ai/DeepSeek-R1", "best_of": 1, "num_prompts": 10 * c,
        "request_rate": "inf", "burstiness": 1.0, "max_concurrency": c,
        "duration": 20.0, "completed": 10 * c - failed, "failed": failed,
        "total_input_tokens": 10 * c * 8192, "total_output_tokens": 10 * c * 1024,
        "request_throughput": 0.5 * c as f64, "request_goodput": null,
        "output_throughput": out_tps, "peak_output_tokens_per_s": out_tps * 1.4,
        "total_token_throughput": 9.0 * out_tps,
        "input_lens": [8192, 8192], "output_lens": [1024, 1024], "ttfts": [0.5, 0.6],
        "itls": [[0.01, 0.02], [0.01]], "generated_texts": ["a", "b"], "errors": ["", ""],
        "mean_ttft_ms": 500.0, "median_ttft_ms": 480.0, "std_ttft_ms": 30.0, "p99_ttft_ms": 900.0,
        "mean_tpot_ms": tpot, "median_tpot_ms": tpot, "std_tpot_ms": 1.0, "p99_tpot_ms": tpot * 2.0,
        "mean_itl_ms": tpot, "median_itl_ms": tpot, "std_itl_ms": 1.0, "p99_itl_ms": tpot * 3.0,
        "mean_e2el_ms": 9000.0, "median_e2el_ms": 8800.0, "std_e2el_ms": 100.0,
        "p99_e2el_ms": 12000.0, "max_output_tokens_per_s": out_tps * 1.5,
        "max_concurrent_requests": c, "reuse_http_connections": false
    })
    .to_string()
}

/// An aggregated record whose job `job_id` ran in `<dir>/logs/<index>/<job_id>/`.
fn record(dir: &Path, index: u64, mem: f64, job_id: &str, state: &str) -> Value {
    json!({
        "index": index, "id": format!("{index:016x}"), "mode": "agg", "total_nodes": 2,
        "parameters": {"slurm": {"agg_nodes": 2, "agg_workers": 1},
                       "sglang": {"mem-fraction-static": mem, "cuda-graph-bs": [1, 2, 4]}},
        "log_dir": dir.join(format!("logs/{index}")).display().to_string(),
        "gpus_per_node": 8, "submit_status": "submitted", "job_id": job_id, "state": state,
    })
}

pub fn job_dir(rec: &Value) -> PathBuf {
    Path::new(rec["log_dir"].as_str().unwrap()).join(rec["job_id"].as_str().unwrap())
}

pub fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

pub fn jsonl(recs: &[Value]) -> String {
    recs.iter().map(|r| format!("{r}\n")).collect()
}

/// Runs sweep-collect with `args` on the records; returns the output records by index.
pub fn collect(dir: &Path, recs: &[Value], args: &[&str]) -> (Vec<Value>, String) {
    let input = dir.join("records.jsonl");
    std::fs::write(&input, jsonl(recs)).unwrap();
    let mut all = vec!["--jsonl"];
    all.extend_from_slice(args);
    let path = input.display().to_string();
    all.push(&path);
    let o = run("sweep-collect", &all, "");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out, stderr(&o))
}

pub fn points(rec: &Value) -> &Vec<Value> {
    rec["results"]["points"].as_array().unwrap()
}

#[test]
fn both_formats_become_points_with_one_vocabulary() {
    let dir = temp_dir("results_formats");
    let a = record(&dir, 0, 0.82, "101", "COMPLETED");
    let b = record(&dir, 1, 0.86, "102", "COMPLETED");
    let lines = [
        sglang_line(4, 800.0, 10.0, 300.0),
        sglang_line(16, 2400.0, 20.0, 600.0),
    ];
    write(
        &job_dir(&a).join("bench/bench_serving.jsonl"),
        &format!("{}\n{}\n", lines[0], lines[1]),
    );
    let sa = job_dir(&b).join("sa-bench_isl_8192_osl_1024");
    write(
        &sa.join("results_concurrency_64_gpus_16.json"),
        &vllm_file(64, 3200.0, 25.0, 0),
    );
    // Next to it, what is not a result: vLLM's .pytorch.json (an array), a config dump.
    write(
        &sa.join("results_concurrency_64_gpus_16.pytorch.json"),
        r#"[{"benchmark": {"name": "x"}, "extra_info": {"output_throughput": 1}}]"#,
    );
    write(
        &job_dir(&b).join("gpu-001_config.json"),
        r#"{"mem_fraction_static": 0.86}"#,
    );
    let (out, err) = collect(&dir, &[a, b], &["--results"]);
    assert_eq!(
        err,
        // SGLang's random dataset and vLLM's file, which names none: two workloads, two frontiers.
        "sweep-collect: results: 3 points, 3 valid, 3 on the Pareto frontiers (2 workload shapes) of 3; 0 of 2 combinations without a point; 0 file error(s); 2 other file(s), not results (see results.not_results); 2 point(s) whose failed requests are unknown (SGLang counts none: add requests-per-concurrency=N to --profiler, or --output-details to bench_serving)\n"
    );
    let p = &points(&out[0])[1];
    let file = job_dir(&out[0]).join("bench/bench_serving.jsonl");
    // Pinned: names, order, values, derived figures (16 GPUs: 2 nodes x 8).
    let expected = json!({
        "job_id": "101", "file": file.display().to_string(), "line": 2, "format": "sglang",
        "dataset": "random", "isl": 1024, "osl": 256, "rate_mode": "concurrency",
        "concurrency": 16, "duration_s": 12.5, "completed": 64, "input_tokens": 65536,
        "output_tokens": 16384, "request_throughput": 5.12, "input_throughput": 9600.0,
        "output_throughput": 2400.0, "total_throughput": 12000.0,
        "ttft_mean_ms": 120.0, "ttft_median_ms": 110.0, "ttft_std_ms": 12.0,
        "ttft_p90_ms": 480.0, "ttft_p99_ms": 600.0,
        "tpot_mean_ms": 20.2, "tpot_median_ms": 20.0, "tpot_std_ms": 0.4, "tpot_p99_ms": 26.0,
        "itl_mean_ms": 20.0, "itl_median_ms": 19.4, "itl_std_ms": 2.0, "itl_p95_ms": 30.0,
        "itl_p99_ms": 50.0, "e2e_mean_ms": 900.5, "e2e_median_ms": 880.0, "e2e_std_ms": 40.0,
        "e2e_p99_ms": 1200.0, "measured_concurrency": 15.52, "gpus": 16,
        "output_tps_per_gpu": 150.0, "total_tps_per_gpu": 750.0, "output_tps_per_user": 50.0,
        "valid": true, "pareto": true
    });
    assert_eq!(p.to_string(), expected.to_string());
    assert!(p.get("request_rate").is_none(), "unlimited rate: absent");
    let v = &points(&out[1])[0];
    assert_eq!(v["format"], "vllm");
    assert_eq!(v["line"], 1);
    assert_eq!(v["failed"], 0);
    assert_eq!(v["requested"], 640, "vLLM's num_prompts");
    assert_eq!(
        v["total_throughput"], 28800.0,
        "vLLM's total_token_throughput"
    );
    assert_eq!(
        v["input_throughput"],
        5242880.0 / 20.0,
        "derived: tokens / duration"
    );
    assert_eq!(v["e2e_p99_ms"], 12000.0, "vLLM's p99_e2el_ms");
    assert_eq!(v["output_tps_per_gpu"], 200.0);
    assert_eq!(v["output_tps_per_user"], 40.0);
    assert_eq!(
        out[1]["results"]["searched"],
        json!([job_dir(&out[1]).display().to_string()])
    );
    assert_eq!(out[1]["results"]["valid_points"], 1);
    // What is not a result is listed, with what it is.
    let other = &out[1]["results"]["not_results"];
    assert_eq!(other.as_array().unwrap().len(), 2, "{other}");
    assert_eq!(
        other[0]["file"],
        job_dir(&out[1])
            .join("gpu-001_config.json")
            .display()
            .to_string()
    );
    assert!(other[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("JSON without the keys of a benchmark result"));
    assert_eq!(
        other[1]["reason"],
        "an array in JSON, not a benchmark result"
    );
    assert_eq!(other[1]["job_id"], "102");
}

#[test]
fn bad_files_become_errors_naming_file_and_line_and_the_run_goes_on() {
    let dir = temp_dir("results_bad");
    let good = sglang_line(4, 800.0, 10.0, 300.0);
    let cases: Vec<(&str, String, Option<u64>, &str)> = vec![
        (
            "truncated.jsonl",
            format!("{good}\n{}", &good[..good.len() / 2]),
            Some(2),
            "invalid JSON: EOF while parsing",
        ),
        (
            "results_concurrency_8_gpus_16.json",
            "<html>not JSON</html>\n".to_string(),
            Some(1),
            "invalid JSON: expected value",
        ),
        (
            "mixed.jsonl",
            format!("{good}\n[1, 2]\n"),
            Some(2),
            "not a benchmark result: an array in JSON",
        ),
        (
            "empty.json",
            " \n".to_string(),
            None,
            "empty: no JSON value",
        ),
        (
            "missing.jsonl",
            good.replace("\"duration\":12.5,", ""),
            Some(1),
            "missing field \"duration\"",
        ),
        (
            "big.jsonl",
            format!("{good}\n{}\n", " ".repeat(6000)),
            None,
            "file too large (",
        ),
    ];
    let mut recs = Vec::new();
    for (i, (name, text, _, _)) in cases.iter().enumerate() {
        let r = record(&dir, i as u64, 0.8, &format!("{}", 200 + i), "COMPLETED");
        write(&job_dir(&r).join(name), text);
        recs.push(r);
    }
    // A result file that cannot be opened (a dangling link with sa-bench's name).
    let n = cases.len() as u64;
    let r = record(&dir, n, 0.8, &format!("{}", 200 + n), "COMPLETED");
    std::fs::create_dir_all(job_dir(&r)).unwrap();
    std::os::unix::fs::symlink(
        "/nonexistent/x",
        job_dir(&r).join("results_concurrency_1_gpus_16.json"),
    )
    .unwrap();
    recs.push(r);
    let (out, err) = collect(&dir, &recs, &["--results", "--max-result-bytes", "5000"]);
    assert_eq!(out.len(), cases.len() + 1, "no record is lost");
    assert!(
        err.contains("; 7 file error(s) (see results.errors)"),
        "{err}"
    );
    for (i, (name, _, line, msg)) in cases.iter().enumerate() {
        let errors = out[i]["results"]["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{name}: {errors:?}");
        let e = &errors[0];
        assert_eq!(
            e["file"],
            job_dir(&out[i]).join(name).display().to_string(),
            "{name}"
        );
        assert_eq!(e.get("line").and_then(Value::as_u64), *line, "{name}: {e}");
        assert!(e["error"].as_str().unwrap().starts_with(msg), "{name}: {e}");
        assert_eq!(e["job_id"], out[i]["job_id"]);
        assert!(
            out[i]["results"].get("not_results").is_none(),
            "{name}: an error, not \"not a result\""
        );
    }
    // The good lines before (or around) a bad one are kept.
    assert_eq!(points(&out[0]).len(), 1);
    assert_eq!(points(&out[2]).len(), 1);
    let e = &out[cases.len()]["results"]["errors"][0];
    assert!(
        e["error"].as_str().unwrap().starts_with("cannot read: "),
        "{e}"
    );
}

#[test]
fn validity_says_why_and_follows_the_job_state() {
    let dir = temp_dir("results_validity");
    let ok = sglang_line(4, 800.0, 10.0, 300.0);
    let mut recs = Vec::new();
    let variants = [
        (
            "COMPLETED",
            ok.replace("\"completed\":16", "\"completed\":0"),
        ),
        (
            "COMPLETED",
            ok.replace("\"total_output_tokens\":4096", "\"total_output_tokens\":0"),
        ),
        (
            "COMPLETED",
            ok.replace("\"duration\":12.5", "\"duration\":0.0"),
        ),
        ("FAILED", ok.clone()),
        ("RUNNING", ok.clone()),
    ];
    for (i, (state, line)) in variants.iter().enumerate() {
        let r = record(&dir, i as u64, 0.8, &format!("{}", 300 + i), state);
        write(&job_dir(&r).join("r.jsonl"), line);
        recs.push(r);
    }
    // vLLM's failed requests; and a job whose first attempt failed and whose --retries
    // follow-up completed: both directories are read, the first attempt's point is invalid.
    let mut r = record(&dir, 5, 0.8, "305", "COMPLETED");
    write(
        &job_dir(&r).join("results_concurrency_8_gpus_16.json"),
        &vllm_file(8, 900.0, 12.0, 3),
    );
    recs.push(r.clone());
    r = record(&dir, 6, 0.8, "306", "COMPLETED");
    r["retry_job_ids"] = json!(["307"]);
    r["retry_states"] = json!(["COMPLETED"]);
    r["state_job_id"] = json!("307");
    r["history"] = json!([{"job_id": "299", "state": "FAILED"}]);
    write(&job_dir(&r).join("r.jsonl"), &ok);
    let log = PathBuf::from(r["log_dir"].as_str().unwrap());
    write(&log.join("307/r.jsonl"), &ok);
    write(&log.join("299/r.jsonl"), &ok); // an earlier submission: read, judged by its state
    recs.push(r);
    // A record never submitted, and one whose job's state is not known (no --status yet).
    recs.push(json!({"index": 7, "id": "0000000000000007", "mode": "agg",
        "parameters": {"slurm": {"agg_nodes": 1, "agg_workers": 1}, "sglang": {}}}));
    let mut unknown = record(&dir, 8, 0.8, "308", "COMPLETED");
    unknown.as_object_mut().unwrap().remove("state");
    write(&job_dir(&unknown).join("r.jsonl"), &ok);
    recs.push(unknown);
    let (out, err) = collect(&dir, &recs, &["--results"]);
    assert_eq!(
        err,
        "sweep-collect: results: 10 points, 2 valid, 2 on the Pareto frontier of 2; 1 of 9 combinations without a point; 0 file error(s); 9 point(s) whose failed requests are unknown (SGLang counts none: add requests-per-concurrency=N to --profiler, or --output-details to bench_serving); 1 job(s) without a known state, judged on their numbers alone (add --status)\n"
    );
    assert_eq!(
        out[7]["results"],
        json!({"valid_points": 0, "points": [], "searched": []})
    );
    assert_eq!(points(&out[8])[0]["valid"], true);
    let reason = |i: usize, k: usize| points(&out[i])[k]["invalid_reason"].clone();
    assert_eq!(reason(0, 0), "no completed requests");
    assert_eq!(reason(1, 0), "no output tokens");
    assert_eq!(reason(2, 0), "duration is not positive");
    assert_eq!(reason(3, 0), "job 303 ended FAILED");
    assert_eq!(reason(4, 0), "job 304 has not ended (RUNNING)");
    assert_eq!(reason(5, 0), "3 of 80 requests failed");
    // History first (oldest first), then the current submission's job and its follow-up.
    assert_eq!(points(&out[6]).len(), 3, "{}", out[6]["results"]);
    assert_eq!(reason(6, 0), "job 299 ended FAILED");
    assert_eq!(
        reason(6, 1),
        "job 306 did not complete (its --retries follow-up 307 took over)"
    );
    assert_eq!(points(&out[6])[2]["job_id"], "307");
    let dirs = |ids: &[&str]| -> Value {
        ids.iter()
            .map(|i| log.join(i).display().to_string())
            .collect()
    };
    assert_eq!(out[6]["results"]["searched"], dirs(&["299", "306", "307"]));
    assert_eq!(points(&out[6])[2]["valid"], true);
    assert_eq!(out[6]["results"]["valid_points"], 1);
    // --current-only: the current submission's jobs alone.
    let (only, _) = collect(&dir, &recs[6..7], &["--results", "--current-only"]);
    assert_eq!(only[0]["results"]["searched"], dirs(&["306", "307"]));
    assert_eq!(points(&only[0]).len(), 2);
    for (i, rec) in out.iter().take(6).enumerate() {
        assert_eq!(points(rec)[0]["valid"], false, "{i}");
        assert_eq!(points(rec)[0]["pareto"], false, "{i}");
        assert_eq!(rec["results"]["valid_points"], 0, "{i}");
    }
}

#[test]
fn figures_that_are_negative_or_not_finite_make_the_point_invalid_with_the_reason() {
    let dir = temp_dir("results_bad_figures");
    let ok = sglang_line(4, 800.0, 10.0, 300.0);
    let variants = [
        (
            ok.replace("\"p99_ttft_ms\":300.0", "\"p99_ttft_ms\":NaN"),
            "field \"p99_ttft_ms\" is NaN",
        ),
        (
            ok.replace("\"completed\":16", "\"completed\":-16"),
            "field \"completed\" is negative (-16)",
        ),
        (
            ok.replace(
                "\"output_throughput\":800.0",
                "\"output_throughput\":-800.0",
            ),
            "field \"output_throughput\" is negative (-800)",
        ),
        (
            ok.replace("\"p99_itl_ms\":25.0", "\"p99_itl_ms\":-25.0"),
            "field \"p99_itl_ms\" is negative (-25)",
        ),
        (
            ok.replace("\"duration\":12.5", "\"duration\":Infinity"),
            "field \"duration\" is Infinity",
        ),
        (
            ok.replace("\"completed\":16", "\"completed\":15.5"),
            "field \"completed\": 15.5 is not a whole number",
        ),
        (
            ok.replace("\"mean_ttft_ms\":120.0", "\"mean_ttft_ms\":\"fast\""),
            "field \"mean_ttft_ms\": \"fast\" is not a finite number",
        ),
    ];
    let recs: Vec<Value> = variants
        .iter()
        .enumerate()
        .map(|(i, (line, _))| {
            let r = record(&dir, i as u64, 0.8, &format!("{}", 350 + i), "COMPLETED");
            write(&job_dir(&r).join("r.jsonl"), line);
            r
        })
        .collect();
    let (out, err) = collect(&dir, &recs, &["--results"]);
    assert!(err.contains("0 file error(s)"), "{err}");
    for (i, (_, why)) in variants.iter().enumerate() {
        let p = &points(&out[i])[0];
        assert_eq!(p["valid"], false, "{i}: {p}");
        assert_eq!(p["pareto"], false, "{i}: {p}");
        let reason = p["invalid_reason"].as_str().unwrap();
        assert!(reason.starts_with(why), "{i}: {reason}");
    }
    // A negative figure is kept as written; a NaN one is left out (JSON has no NaN).
    assert_eq!(points(&out[2])[0]["output_throughput"], -800.0);
    assert!(points(&out[0])[0].get("ttft_p99_ms").is_none());
}

/// A small deterministic generator (the brute-force check, the random trees of `results_real`).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn the_frontier_is_what_a_brute_force_check_finds_and_slo_limits_apply() {
    let dir = temp_dir("results_frontier");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut recs = Vec::new();
    for i in 0..30 {
        let r = record(&dir, i, 0.8, &format!("{}", 400 + i), "COMPLETED");
        let mut text = String::new();
        for c in [4, 16, 64] {
            // Coarse values: ties and duplicates happen.
            let out = 160.0 * (1 + rng.next() % 12) as f64;
            let tpot = [8.0, 10.0, 12.5, 16.0, 20.0, 25.0][(rng.next() % 6) as usize];
            let ttft = 100.0 * (1 + rng.next() % 30) as f64;
            text.push_str(&sglang_line(c, out, tpot, ttft));
            text.push('\n');
        }
        write(&job_dir(&r).join("r.jsonl"), &text);
        recs.push(r);
    }
    for slo in [None, Some("ttft_p99_ms<=1500,itl_p99_ms<=40")] {
        let mut args = vec!["--results"];
        args.extend(slo.iter().flat_map(|s| ["--slo", s]));
        let (out, _) = collect(&dir, &recs, &args);
        let all: Vec<&Value> = out.iter().flat_map(points).collect();
        let ok = |p: &Value| {
            p["valid"] == true
                && slo.is_none_or(|_| {
                    p["ttft_p99_ms"].as_f64().unwrap() <= 1500.0
                        && p["itl_p99_ms"].as_f64().unwrap() <= 40.0
                })
        };
        let xy = |p: &Value| {
            (
                p["output_tps_per_gpu"].as_f64().unwrap(),
                p["output_tps_per_user"].as_f64().unwrap(),
            )
        };
        let mut on = 0;
        for p in &all {
            if slo.is_some() {
                assert_eq!(p["meets_slo"], json!(ok(p)), "{p}");
            } else {
                assert!(p.get("meets_slo").is_none());
            }
            let (x, y) = xy(p);
            let dominated = all.iter().filter(|q| ok(q)).any(|q| {
                let (a, b) = xy(q);
                a >= x && b >= y && (a > x || b > y)
            });
            let expected = ok(p) && !dominated;
            assert_eq!(p["pareto"], json!(expected), "slo {slo:?}: {p}");
            on += usize::from(expected);
        }
        assert!(on >= 2, "a frontier of {on} points tests little");
    }
}

#[test]
fn the_table_loads_in_python_csv_and_json_modules() {
    let dir = temp_dir("results_table");
    let a = record(&dir, 0, 0.82, "501", "COMPLETED");
    let mut b = record(&dir, 1, 0.86, "502", "COMPLETED");
    b["parameters"]["sglang"]["note"] = json!("a, \"quoted\"\nvalue");
    write(
        &job_dir(&a).join("r.jsonl"),
        &format!(
            "{}\n{}\n",
            sglang_line(4, 800.0, 10.0, 300.0),
            sglang_line(8, 900.0, 12.0, 300.0)
        ),
    );
    write(
        &job_dir(&b).join("results_concurrency_8_gpus_16.json"),
        &vllm_file(8, 700.0, 9.0, 0),
    );
    let csv = dir.join("points.csv");
    let jl = dir.join("points.jsonl");
    for t in [&csv, &jl] {
        let args = ["--results", "--table", t.to_str().unwrap()];
        collect(&dir, &[a.clone(), b.clone()], &args);
    }
    let check = r#"
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
lines = [json.loads(l) for l in open(sys.argv[2])]
assert len(rows) == 3 == len(lines), (len(rows), len(lines))
for r, l in zip(rows, lines):
    assert r["index"] == str(l["index"]) and r["job_id"] == l["job_id"], (r, l)
    assert float(r["output_tps_per_gpu"]) == l["output_tps_per_gpu"]
    assert r["sglang.cuda-graph-bs"] == "[1,2,4]" and l["sglang.cuda-graph-bs"] == [1, 2, 4]
assert rows[2]["sglang.note"] == 'a, "quoted"\nvalue' and rows[0]["sglang.note"] == ""
assert rows[0]["format"] == "sglang" and rows[2]["format"] == "vllm"
assert rows[2]["failed"] == "0" and rows[0]["failed"] == "" and "failed" not in lines[0]
assert list(rows[0])[:7] == ["index", "id", "state", "slurm.agg_nodes", "slurm.agg_workers",
    "sglang.mem-fraction-static", "sglang.cuda-graph-bs"], list(rows[0])[:7]
print("ok")
"#;
    let o = Command::new("python3")
        .args(["-c", check, csv.to_str().unwrap(), jl.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(stdout(&o), "ok\n", "{}", stderr(&o));
}

#[test]
fn the_plot_is_well_formed_svg_with_one_mark_per_valid_point() {
    let dir = temp_dir("results_plot");
    let mut recs = Vec::new();
    for i in 0..13 {
        let mem = [0.8, 0.82, 0.84][i % 3];
        let r = record(&dir, i as u64, mem, &format!("{}", 600 + i), "COMPLETED");
        let mut text = String::new();
        for (k, c) in [4u64, 16, 64, 256].iter().enumerate() {
            let out = (100 + 37 * i + 300 * k) as f64;
            text.push_str(&sglang_line(
                *c,
                out,
                8.0 + (k * 6 + i) as f64,
                500.0 * k as f64,
            ));
            text.push('\n');
        }
        write(&job_dir(&r).join("r.jsonl"), &text);
        recs.push(r);
    }
    // One invalid point (zero completed) that must not be drawn.
    let bad = sglang_line(4, 10.0, 5.0, 1.0).replace("\"completed\":16", "\"completed\":0");
    let r = record(&dir, 13, 0.8, "613", "COMPLETED");
    write(&job_dir(&r).join("r.jsonl"), &bad);
    recs.push(r);
    let svg = dir.join("frontier.svg");
    for (slo, color) in [(None, true), (Some("ttft_p99_ms<=600"), false)] {
        let mut args = vec!["--results", "--plot", svg.to_str().unwrap()];
        if color {
            args.extend(["--color-by", "mem-fraction-static"]);
        }
        args.extend(slo.iter().flat_map(|s| ["--slo", s]));
        let (out, _) = collect(&dir, &recs, &args);
        let valid: usize = out
            .iter()
            .map(|r| r["results"]["valid_points"].as_u64().unwrap() as usize)
            .sum();
        let on: usize = out
            .iter()
            .flat_map(points)
            .filter(|p| p["pareto"] == true)
            .count();
        assert_eq!(valid, 52);
        let check = r#"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
points = [g for g in root.iter(ns + "g") if g.get("class") == "point"]
assert all(g.find(ns + "title") is not None for g in points), "every point has a hover text"
circles = [c for g in points for c in g.iter(ns + "circle")]
marks = [c for c in circles if c.get("r") == "5"]
rings = [c for c in circles if c.get("r") == "8"]
texts = " ".join("".join(t.itertext()) for t in root.iter(ns + "text"))
# Point labels (record indices) must not overlap: boxes from their position and size.
labels = []
for t in root.iter(ns + "text"):
    s = "".join(t.itertext()).strip()
    if s.isdigit():
        size = float(t.get("font-size"))
        x, y = float(t.get("x")), float(t.get("y"))
        labels.append((x, y, x + 0.62 * size * len(s), y + size))
clash = [(a, b) for i, a in enumerate(labels) for b in labels[i + 1:]
         if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]
assert len(labels) >= 13 and not clash, (len(labels), clash)
print(len(marks), len(rings), "Output tokens/s per GPU" in texts, "Output tokens/s per user (1000 / median TPOT)" in texts, "Pareto frontier" in texts)
"#;
        let o = Command::new("python3")
            .args(["-c", check, svg.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(
            stdout(&o),
            format!("{valid} {on} True True True\n"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn the_frontier_summary_goes_to_stdout_only_when_asked() {
    let dir = temp_dir("results_summary");
    let a = record(&dir, 0, 0.82, "701", "COMPLETED");
    let b = record(&dir, 1, 0.86, "702", "COMPLETED");
    write(
        &job_dir(&a).join("r.jsonl"),
        &sglang_line(4, 800.0, 10.0, 300.0),
    );
    write(
        &job_dir(&b).join("r.jsonl"),
        &sglang_line(8, 1600.0, 20.0, 300.0),
    );
    let input = dir.join("records.jsonl");
    std::fs::write(&input, jsonl(&[a, b])).unwrap();
    let m = dir.join("m.json");
    let o = run(
        "sweep-collect",
        &[
            "--frontier",
            "--output",
            m.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Off a terminal, without COLUMNS: 80 columns. The id goes, then names shorten.
    assert_eq!(
        stdout(&o),
        "Pareto frontier of random, ISL 1024, OSL 256, by concurrency (output tokens/s per GPU against output tokens/s per user): 2 of 2 valid points\n\
         \x20 index  job  conc  m-f-static  tok/s/gpu  tok/s/user  ttft_p99_ms  itl_p99_ms\n\
         \x20     1  702     8        0.86        100        50.0          300        50.0\n\
         \x20     0  701     4        0.82       50.0         100          300        25.0\n\
         \x20 (1 column(s) not shown: a wider terminal, COLUMNS, or --table FILE)\n"
    );
    // Wider: all of it.
    let o = crate::common::sh(
        &format!(
            "COLUMNS=120 sweep-collect --frontier --output {} {}",
            m.display(),
            input.display()
        ),
        &dir,
    );
    assert_eq!(
        stdout(&o),
        "Pareto frontier of random, ISL 1024, OSL 256, by concurrency (output tokens/s per GPU against output tokens/s per user): 2 of 2 valid points\n\
         \x20 index  id                job  conc  mem-fraction-static  tok/s/gpu  tok/s/user  ttft_p99_ms  itl_p99_ms\n\
         \x20     1  0000000000000001  702     8                 0.86        100        50.0          300        50.0\n\
         \x20     0  0000000000000000  701     4                 0.82       50.0         100          300        25.0\n"
    );
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();
    assert_eq!(manifest["jobs"][0]["results"]["valid_points"], 1);
    // Without --frontier, stdout is the manifest alone (stderr is not a terminal here).
    let o = run("sweep-collect", &["--results", input.to_str().unwrap()], "");
    let manifest: Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON alone");
    assert_eq!(manifest["jobs"][1]["results"]["points"][0]["pareto"], true);
    // --table - puts the table on stdout; the manifest goes to --output only.
    let o = run(
        "sweep-collect",
        &[
            "--table",
            "-",
            "--table-format",
            "jsonl",
            "--output",
            m.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stderr(&o));
}

#[test]
fn results_options_are_checked_before_anything_is_read() {
    let cases: &[(&[&str], &str)] = &[
        (&["--color-by", "x"], "sweep-collect: --color-by needs --plot FILE or --report FILE\n"),
        (
            &["--table-format", "csv"],
            "sweep-collect: --table-format needs --table, --best-table or --compare-table FILE\n",
        ),
        (
            &["--table", "t.txt"],
            "sweep-collect: --table: say the format with a .csv or .jsonl extension, or --table-format csv|jsonl\n",
        ),
        (
            &["--slo", "ttft_p99_ms<2000"],
            "sweep-collect: --slo: \"ttft_p99_ms<2000\" is not NAME<=VALUE or NAME>=VALUE (for example ttft_p99_ms<=2000,itl_p99_ms<=50)\n",
        ),
        (
            &["--slo", "ttft_p77_sec<=1"],
            "sweep-collect: --slo: \"ttft_p77_sec\" is not a result metric (for example ttft_p99_ms, itl_p99_ms, e2e_median_ms, output_tps_per_user)\n",
        ),
        (
            &["--frontier", "--table", "-"],
            "sweep-collect: only one of --frontier/--best, --table -, --best-table -, --compare-table - and --next-round - can have stdout: give the others a file\n",
        ),
    ];
    for (args, err) in cases {
        let o = run("sweep-collect", args, "");
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&o), *err, "{args:?}");
    }
    // A --color-by key no record has is an error once the records are read.
    let dir = temp_dir("results_color_key");
    let r = record(&dir, 0, 0.8, "801", "COMPLETED");
    let plot = dir.join("p.svg");
    let o = run(
        "sweep-collect",
        &[
            "--plot",
            plot.to_str().unwrap(),
            "--color-by",
            "nope",
            "--jsonl",
        ],
        &jsonl(&[r]),
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "sweep-collect: --color-by: no record has a parameter \"nope\" (parameters: slurm.agg_nodes, slurm.agg_workers, sglang.mem-fraction-static, sglang.cuda-graph-bs; or 'sweep')\n"
    );
    assert!(!plot.exists());
}

#[test]
fn submit_records_gpus_per_node_and_drops_old_results_when_resubmitting() {
    use crate::jobscript::{agg, fixture, records, submit};
    let fx = fixture("results_submit_fields");
    let mut rec: Value = serde_json::from_str(&agg(&fx, 0, 2, 1, json!({"a": 1}))).unwrap();
    rec["job_id"] = json!("41");
    rec["results"] = json!({"valid_points": 0, "points": [], "searched": []});
    let out = records(&submit(&fx, &["--gpus-per-node", "4"], &format!("{rec}\n")));
    assert_eq!(out[0]["gpus_per_node"], 4);
    assert!(out[0].get("results").is_none(), "{}", out[0]);
    assert_eq!(out[0]["history"][0]["job_id"], "41");
}

/// Issue 19, item 9: a path the results are read from that is not a regular file (a FIFO a
/// job left, a socket, a link to a device) is reported on its record and never opened: a FIFO
/// would wait for a writer forever. The job's directory itself, its benchmark request and
/// AIPerf's marker included.
#[test]
fn a_result_path_that_is_not_a_regular_file_is_never_opened() {
    let dir = temp_dir("results_not_regular");
    let fifo = |p: &Path| {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
    };
    // Record 0: its job's directory is a FIFO.
    let r0 = record(&dir, 0, 0.8, "100", "COMPLETED");
    fifo(&job_dir(&r0));
    // Record 1: a good result beside a FIFO result, FIFOs as the benchmark request and
    // AIPerf's marker, a socket, and a link to a device.
    let r1 = record(&dir, 1, 0.9, "101", "COMPLETED");
    let job = job_dir(&r1);
    write(
        &job.join("result.jsonl"),
        &(sglang_line(4, 800.0, 10.0, 300.0) + "\n"),
    );
    let specials = [
        job.join("pipe.jsonl"),
        job.join("sweep_benchmark.json"),
        job.join("sub/.aiperf_results_ready.json"),
    ];
    for p in &specials {
        fifo(p);
    }
    let _socket = std::os::unix::net::UnixListener::bind(job.join("sock.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", job.join("zero.json")).unwrap();
    std::fs::write(dir.join("records.jsonl"), jsonl(&[r0, r1])).unwrap();
    // A hang is a failure, not a stuck test run.
    let out = crate::common::sh(
        "timeout 60 sweep-collect --results --jsonl records.jsonl",
        &dir,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let listed = |r: &Value, key: &str| -> Vec<(String, String)> {
        r["results"][key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| {
                        let why = e["error"].as_str().or(e["reason"].as_str()).unwrap_or("");
                        (e["file"].as_str().unwrap().to_string(), why.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let all = |r: &Value| [listed(r, "errors"), listed(r, "not_results")].concat();
    let first = all(&recs[0]);
    assert_eq!(first.len(), 1, "{}", recs[0]);
    assert!(first[0].1.contains("Not a directory"), "{first:?}");
    assert_eq!(
        points(&recs[1]).len(),
        1,
        "the good result is read: {}",
        recs[1]
    );
    let second = all(&recs[1]);
    for p in specials
        .iter()
        .chain([&job.join("sock.json"), &job.join("zero.json")])
    {
        let p = p.display().to_string();
        let (_, why) = second
            .iter()
            .find(|(f, _)| *f == p)
            .unwrap_or_else(|| panic!("{p} not reported: {second:?}"));
        assert!(
            why.contains("not a regular file") || why.contains("not a file"),
            "{p}: {why}"
        );
    }
}
