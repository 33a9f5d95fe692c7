//! `sweep-collect --results` on files the benchmark clients themselves wrote (issue 20):
//! SGLang bench_serving 0.5.23, vLLM bench serve 0.33.0 and AIPerf 0.13.0, run against a mock
//! server (tests/data/real-clients/README.md says how). Every figure read is compared with the
//! file's own, to 1e-9; failures, cancelled runs and a 90 KB `server_info` are judged as they
//! must be; the counts agree everywhere; and every file below a job's directory is either a
//! point's source or reported.

use crate::common::{run, stderr, stdout, temp_dir};
use crate::results::{collect, job_dir, jsonl, points, Rng};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/real-clients")
        .join(rel)
}

/// Copies a file or a directory tree.
fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// An aggregated record (1 node of `gpus` GPUs, or no GPU count) whose job `job_id` ran in
/// `<dir>/logs/<index>/<job_id>/`.
fn record(dir: &Path, index: u64, job_id: &str, gpus: Option<u64>) -> Value {
    let mut r = json!({
        "index": index, "id": format!("{index:016x}"), "mode": "agg", "total_nodes": 1,
        "parameters": {"slurm": {"agg_nodes": 1, "agg_workers": 1},
                       "sglang": {"mem-fraction-static": 0.8 + index as f64 / 100.0}},
        "log_dir": dir.join(format!("logs/{index}")).display().to_string(),
        "submit_status": "submitted", "job_id": job_id, "state": "COMPLETED",
    });
    if let Some(g) = gpus {
        r["gpus_per_node"] = json!(g);
    }
    r
}

/// The point read from line `line` of the file whose name ends in `name`.
fn point<'a>(rec: &'a Value, name: &str, line: u64) -> &'a Value {
    points(rec)
        .iter()
        .find(|p| p["file"].as_str().unwrap().ends_with(name) && p["line"] == line)
        .unwrap_or_else(|| panic!("no point from {name}:{line} in {}", rec["results"]))
}

/// The JSON values of a client's file, with the lines they start on (Python's `Infinity`,
/// which SGLang writes for an unlimited rate, read as null).
fn values(path: &Path) -> Vec<(u64, Map<String, Value>)> {
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace(": Infinity", ": null");
    let mut out = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
    loop {
        let at = stream.byte_offset();
        let Some(v) = stream.next() else { break };
        let start = at + text[at..].len() - text[at..].trim_start().len();
        let line = 1 + text[..start].matches('\n').count() as u64;
        out.push((line, v.unwrap().as_object().unwrap().clone()));
    }
    out
}

/// `ours` equals `theirs` to 1e-9 (relative).
fn same(what: &str, ours: &Value, theirs: f64) {
    let ours = ours
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: missing (expected {theirs})"));
    let scale = theirs.abs().max(1.0);
    assert!(
        (ours - theirs).abs() <= 1e-9 * scale,
        "{what}: ours {ours}, the file's {theirs}"
    );
}

/// Every flat figure of an SGLang or vLLM object against the point.
fn check_flat(p: &Value, v: &Map<String, Value>, vllm: bool) {
    let f = |k: &str| v[k].as_f64().unwrap();
    same("duration_s", &p["duration_s"], f("duration"));
    same("completed", &p["completed"], f("completed"));
    same("input_tokens", &p["input_tokens"], f("total_input_tokens"));
    same(
        "output_tokens",
        &p["output_tokens"],
        f("total_output_tokens"),
    );
    same(
        "request_throughput",
        &p["request_throughput"],
        f("request_throughput"),
    );
    same(
        "output_throughput",
        &p["output_throughput"],
        f("output_throughput"),
    );
    if vllm {
        same(
            "total_throughput",
            &p["total_throughput"],
            f("total_token_throughput"),
        );
        same(
            "input_throughput",
            &p["input_throughput"],
            f("total_input_tokens") / f("duration"),
        );
        same("requested", &p["requested"], f("num_prompts"));
        same("failed", &p["failed"], f("failed"));
    } else {
        same(
            "total_throughput",
            &p["total_throughput"],
            f("total_throughput"),
        );
        same(
            "input_throughput",
            &p["input_throughput"],
            f("input_throughput"),
        );
        same(
            "measured_concurrency",
            &p["measured_concurrency"],
            f("concurrency"),
        );
    }
    let mut latencies = 0;
    for (k, val) in v {
        let Some(rest) = k.strip_suffix("_ms") else {
            continue;
        };
        let Some((stat, metric)) = rest.split_once('_') else {
            continue;
        };
        let metric = match metric {
            "ttft" | "tpot" | "itl" => metric,
            "e2el" | "e2e_latency" => "e2e",
            _ => continue,
        };
        if !["mean", "median", "std"].contains(&stat) && !stat.starts_with('p') {
            continue;
        }
        let Some(val) = val.as_f64() else { continue };
        same(k, &p[format!("{metric}_{stat}_ms")], val);
        latencies += 1;
    }
    assert!(latencies >= 16, "{latencies} latencies compared");
    same(
        "output_tps_per_user",
        &p["output_tps_per_user"],
        1000.0 / f("median_tpot_ms"),
    );
}

#[test]
fn sglang_lines_are_read_to_the_last_digit_whatever_the_size_of_their_server_info() {
    let dir = temp_dir("real_sglang");
    let r = record(&dir, 0, "9001", Some(8));
    copy(&data("sglang-0.5.23"), &job_dir(&r));
    let (out, err) = collect(&dir, std::slice::from_ref(&r), &["--results"]);
    assert!(err.contains("0 file error(s)"), "{err}");
    assert!(out[0]["results"].get("not_results").is_none(), "{}", out[0]);
    let mut n = 0;
    for e in std::fs::read_dir(data("sglang-0.5.23")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        for (line, v) in values(&path) {
            let p = point(&out[0], &name, line);
            assert_eq!(p["format"], "sglang");
            assert_eq!(p["dataset"], "random-ids");
            assert_eq!((p["isl"].clone(), p["osl"].clone()), (json!(32), json!(32)));
            check_flat(p, &v, false);
            match v["max_concurrency"].as_u64() {
                Some(c) => {
                    assert_eq!(p["concurrency"], c);
                    assert_eq!(p["rate_mode"], "concurrency");
                    assert!(p.get("request_rate").is_none(), "unlimited rate: {p}");
                }
                None => {
                    assert_eq!(p["rate_mode"], "request_rate");
                    same(
                        "request_rate",
                        &p["request_rate"],
                        v["request_rate"].as_f64().unwrap(),
                    );
                }
            }
            n += 1;
        }
    }
    assert_eq!(points(&out[0]).len(), n);
    assert_eq!(n, 16);
    // The 64-rank server's line: its throughput comes after 90 KB of server_info.
    let big = std::fs::read_to_string(data("sglang-0.5.23/dp64_bench_serving.jsonl")).unwrap();
    assert!(big.find("\"output_throughput\"").unwrap() > 64 * 1024);
    assert_eq!(point(&out[0], "dp64_bench_serving.jsonl", 1)["valid"], true);
    // Without a request count, a half-failed run cannot be told from a good one: said so.
    let half = point(&out[0], "fail-every-2_bench_serving.jsonl", 1);
    assert_eq!(
        (half["completed"].clone(), half.get("failed")),
        (json!(8), None)
    );
    assert!(
        err.contains("; 15 point(s) whose failed requests are unknown (SGLang counts none: add requests-per-concurrency=N to --profiler, or --output-details to bench_serving)"),
        "{err}"
    );
    // With --output-details, the per-request errors say it: 8 of 16 failed.
    let details = point(&out[0], "fail-every-2_output-details.jsonl", 1);
    assert_eq!(
        (
            details["requested"].clone(),
            details["failed"].clone(),
            details["valid"].clone()
        ),
        (json!(16), json!(8), json!(false))
    );
    assert_eq!(details["invalid_reason"], "8 of 16 requests failed");
}

#[test]
fn sglang_failures_are_counted_from_what_the_job_asked_for() {
    let dir = temp_dir("real_sglang_failed");
    let r = record(&dir, 0, "9011", Some(8));
    let bench = job_dir(&r).join("bench");
    copy(
        &data("sglang-0.5.23/fail-every-2_bench_serving.jsonl"),
        &bench.join("bench_serving.jsonl"),
    );
    // Concurrency 4 at 4 requests per unit: 16 were sent; SGLang says 8 completed.
    std::fs::write(
        job_dir(&r).join("sweep_benchmark.json"),
        r#"{"type": "sglang", "isl": 32, "osl": 32, "concurrencies": [4], "req_rate": "inf", "requests_per_concurrency": 4}"#,
    )
    .unwrap();
    let (out, err) = collect(&dir, std::slice::from_ref(&r), &["--results"]);
    let p = &points(&out[0])[0];
    assert_eq!(
        (
            p["requested"].clone(),
            p["completed"].clone(),
            p["failed"].clone()
        ),
        (json!(16), json!(8), json!(8))
    );
    assert_eq!(
        p["invalid_reason"],
        "8 of 16 requests did not complete (16 = 4 x concurrency 4, as the job asked; SGLang writes no failed count)"
    );
    assert!(!err.contains("failed requests are unknown"), "{err}");
    assert_eq!(
        out[0]["results"]["not_results"][0]["file"],
        job_dir(&r)
            .join("sweep_benchmark.json")
            .display()
            .to_string()
    );
    // --max-failed-fraction: up to half may fail.
    for (f, valid) in [("0.5", true), ("0.49", false), ("1", true)] {
        let (out, _) = collect(
            &dir,
            std::slice::from_ref(&r),
            &["--results", "--max-failed-fraction", f],
        );
        assert_eq!(points(&out[0])[0]["valid"], valid, "{f}");
        assert_eq!(points(&out[0])[0]["failed"], 8, "the count stays: {f}");
    }
    // A request count the job did not ask for at this concurrency is not guessed.
    std::fs::write(
        job_dir(&r).join("sweep_benchmark.json"),
        r#"{"type": "sglang", "concurrencies": [8], "requests_per_concurrency": 4}"#,
    )
    .unwrap();
    let (out, _) = collect(&dir, std::slice::from_ref(&r), &["--results"]);
    assert!(points(&out[0])[0].get("requested").is_none());
    for bad in [
        "--max-failed-fraction=1.5",
        "--max-failed-fraction=-0.1",
        "--max-failed-fraction=nan",
    ] {
        let o = run("sweep-collect", &["--results", bad], "");
        assert_eq!(o.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&o).contains("--max-failed-fraction must be a number from 0 to 1"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn vllm_results_are_read_as_vllm_0_33_writes_them() {
    let dir = temp_dir("real_vllm");
    let r = record(&dir, 0, "9021", Some(8));
    copy(&data("vllm-0.33.0"), &job_dir(&r));
    std::fs::write(
        job_dir(&r).join("sweep_benchmark.json"),
        r#"{"type": "vllm", "isl": 32, "osl": 32, "concurrencies": [4, 16], "req_rate": "inf"}"#,
    )
    .unwrap();
    let (out, err) = collect(&dir, std::slice::from_ref(&r), &["--results"]);
    assert!(err.contains("0 file error(s)"), "{err}");
    let mut n = 0;
    for e in std::fs::read_dir(data("vllm-0.33.0")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        for (line, v) in values(&path) {
            let p = point(&out[0], &name, line);
            assert_eq!(p["format"], "vllm");
            check_flat(p, &v, true);
            // vLLM names no dataset: the lengths are the job's.
            assert_eq!((p["isl"].clone(), p["osl"].clone()), (json!(32), json!(32)));
            assert!(p.get("dataset").is_none());
            let failed = v["failed"].as_u64().unwrap();
            assert_eq!(p["valid"], failed == 0, "{name}: {p}");
            if failed > 0 {
                assert_eq!(
                    p["invalid_reason"],
                    format!("{failed} of 16 requests failed")
                );
            }
            n += 1;
        }
    }
    assert_eq!(n, 6, "vllm_rate.json holds two results (--append-result)");
    let rate = point(&out[0], "vllm_rate.json", 2);
    assert_eq!(rate["rate_mode"], "request_rate");
    assert_eq!(rate["request_rate"], 16.0);
    assert!(rate.get("concurrency").is_none());
}

#[test]
fn aiperf_exports_are_read_once_with_their_failures_and_cancellations() {
    let dir = temp_dir("real_aiperf");
    let r = record(&dir, 0, "9031", Some(8));
    copy(&data("aiperf-0.13.0"), &job_dir(&r).join("artifacts"));
    let (out, err) = collect(&dir, std::slice::from_ref(&r), &["--results"]);
    assert!(err.contains("0 file error(s)"), "{err}");
    let res = &out[0]["results"];
    assert_eq!(
        points(&out[0]).len(),
        4,
        "c4, fail, rate8, cancelled: {res}"
    );
    for run in ["c4", "fail", "rate8", "cancelled"] {
        let path = data(&format!("aiperf-0.13.0/{run}/profile_export_aiperf.json"));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let p = point(&out[0], &format!("{run}/profile_export_aiperf.json"), 1);
        let avg = |k: &str| v[k]["avg"].as_f64().unwrap();
        assert_eq!(p["format"], "aiperf");
        assert_eq!(p["dataset"], "synthetic");
        assert_eq!((p["isl"].clone(), p["osl"].clone()), (json!(32), json!(32)));
        same("duration_s", &p["duration_s"], avg("benchmark_duration"));
        same("completed", &p["completed"], avg("request_count"));
        same("input_tokens", &p["input_tokens"], avg("total_isl"));
        same("output_tokens", &p["output_tokens"], avg("total_osl"));
        same(
            "request_throughput",
            &p["request_throughput"],
            avg("request_throughput"),
        );
        same(
            "input_throughput",
            &p["input_throughput"],
            avg("input_token_throughput"),
        );
        same(
            "output_throughput",
            &p["output_throughput"],
            avg("output_token_throughput"),
        );
        same(
            "total_throughput",
            &p["total_throughput"],
            avg("total_token_throughput"),
        );
        same(
            "measured_concurrency",
            &p["measured_concurrency"],
            avg("effective_concurrency"),
        );
        for (theirs, ours) in [
            ("time_to_first_token", "ttft"),
            ("inter_token_latency", "tpot"),
            ("inter_chunk_latency", "itl"),
            ("request_latency", "e2e"),
        ] {
            let m = &v[theirs];
            same(
                theirs,
                &p[format!("{ours}_mean_ms")],
                m["avg"].as_f64().unwrap(),
            );
            same(
                theirs,
                &p[format!("{ours}_median_ms")],
                m["p50"].as_f64().unwrap(),
            );
            same(
                theirs,
                &p[format!("{ours}_std_ms")],
                m["std"].as_f64().unwrap(),
            );
            for pct in ["p1", "p5", "p10", "p25", "p75", "p90", "p95", "p99"] {
                same(
                    theirs,
                    &p[format!("{ours}_{pct}_ms")],
                    m[pct].as_f64().unwrap(),
                );
            }
            assert!(
                p.get(format!("{ours}_p50_ms")).is_none(),
                "p50 is the median"
            );
        }
        // AIPerf's own tokens/s per user is 1000 / inter_token_latency.p50: the same.
        same(
            "output_tps_per_user",
            &p["output_tps_per_user"],
            1000.0 / v["inter_token_latency"]["p50"].as_f64().unwrap(),
        );
        let requested = v["input_config"]["phases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|ph| ph["kind"] == "profiling")
            .unwrap()["requests"]
            .as_u64()
            .unwrap();
        assert_eq!(p["requested"], requested);
    }
    let c4 = point(&out[0], "c4/profile_export_aiperf.json", 1);
    assert_eq!(
        (
            c4["concurrency"].clone(),
            c4["rate_mode"].clone(),
            c4["failed"].clone(),
            c4["valid"].clone()
        ),
        (json!(4), json!("concurrency"), json!(0), json!(true))
    );
    // AIPerf's completed_request_count is successes plus errors: 16, of which 8 failed.
    let fail = point(&out[0], "fail/profile_export_aiperf.json", 1);
    assert_eq!(
        (fail["completed"].clone(), fail["failed"].clone()),
        (json!(8), json!(8))
    );
    assert_eq!(fail["invalid_reason"], "8 of 16 requests failed");
    let rate = point(&out[0], "rate8/profile_export_aiperf.json", 1);
    assert_eq!(
        (rate["rate_mode"].clone(), rate["request_rate"].clone()),
        (json!("request_rate"), json!(8.0))
    );
    let cancelled = point(&out[0], "cancelled/profile_export_aiperf.json", 1);
    assert_eq!(
        cancelled["invalid_reason"],
        "the AIPerf run was cancelled (was_cancelled: true); the AIPerf run is not complete (is_complete: false); only 8 of the 2000 requested requests ended (the run stopped early)"
    );
    // Every other file is listed, the per-phase copies as such (not counted twice).
    let other: Vec<(String, String)> = res["not_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let f = n["file"].as_str().unwrap();
            let rel = f.split("/artifacts/").nth(1).unwrap().to_string();
            (rel, n["reason"].as_str().unwrap().to_string())
        })
        .collect();
    let reason = |rel: &str| {
        &other
            .iter()
            .find(|(f, _)| f == rel)
            .unwrap_or_else(|| panic!("{rel} not listed: {other:?}"))
            .1
    };
    assert_eq!(
        reason("c4/phases/warmup/profile_export_aiperf.json"),
        "AIPerf's copy of its warmup phase (the run is read once, from ../../profile_export_aiperf.json)"
    );
    assert!(reason("c4/phases/profiling/profile_export_aiperf.json")
        .starts_with("AIPerf's copy of its profiling phase"));
    assert!(reason("c4/profile_export.jsonl").starts_with("AIPerf's per-request records"));
    assert!(reason("allfail/profile_export.jsonl").starts_with("AIPerf's per-request records"));
    assert!(reason("c4/phase_manifest.json").starts_with("AIPerf's phase manifest"));
    assert!(reason("c4/.aiperf_results_ready.json").starts_with("AIPerf's completion marker"));
    assert!(reason("c4/profile_export_console.txt").starts_with("not a JSON file"));
}

#[test]
fn an_aiperf_marker_that_says_partial_makes_the_run_invalid() {
    let dir = temp_dir("real_aiperf_marker");
    let r = record(&dir, 0, "9041", Some(8));
    let run_dir = job_dir(&r).join("c4");
    copy(&data("aiperf-0.13.0/c4"), &run_dir);
    for (marker, why) in [
        (r#"{"ready":true,"was_cancelled":false,"partial":true}"#, Some("AIPerf's results are partial (.aiperf_results_ready.json: partial true)")),
        (r#"{"ready":false,"was_cancelled":false,"partial":false}"#, Some("AIPerf had not finished writing its results (.aiperf_results_ready.json: ready false)")),
        (r#"{"ready":true,"was_cancelled":false,"partial":false}"#, None),
    ] {
        std::fs::write(run_dir.join(".aiperf_results_ready.json"), marker).unwrap();
        let (out, _) = collect(&dir, std::slice::from_ref(&r), &["--results"]);
        let p = &points(&out[0])[0];
        assert_eq!(p.get("invalid_reason").and_then(Value::as_str), why, "{marker}");
    }
    std::fs::write(run_dir.join(".aiperf_results_ready.json"), "{\"ready\": tr").unwrap();
    let (out, err) = collect(&dir, std::slice::from_ref(&r), &["--results"]);
    assert!(err.contains("1 file error(s)"), "{err}");
    assert!(out[0]["results"]["errors"][0]["file"]
        .as_str()
        .unwrap()
        .ends_with("c4/.aiperf_results_ready.json"));
}

/// The numbers of a frontier phrase: "F of C valid points[...]; U valid without per-GPU
/// figures, left out".
fn phrase_counts(text: &str) -> (usize, usize, usize) {
    let at = text.find(" valid points").unwrap();
    let head: Vec<&str> = text[..at].split_whitespace().collect();
    let n = head.len();
    let (f, c) = (head[n - 3].parse().unwrap(), head[n - 1].parse().unwrap());
    let u = text
        .find(" valid without per-GPU figures, left out")
        .map(|i| text[..i].rsplit(' ').next().unwrap().parse().unwrap())
        .unwrap_or(0);
    (f, c, u)
}

#[test]
fn one_count_everywhere_and_points_without_a_gpu_count_are_named() {
    let dir = temp_dir("real_counts");
    // Two records with a GPU count, one without (as after a re-run that lost it).
    let recs: Vec<Value> = [(0, Some(8)), (1, Some(4)), (2, None)]
        .iter()
        .map(|&(i, g)| {
            let r = record(&dir, i, &format!("{}", 9051 + i), g);
            let name = [
                "sglang-oai_bench_serving.jsonl",
                "sglang-native_bench_serving.jsonl",
                "repeats_bench_serving.jsonl",
            ][i as usize];
            copy(
                &data(&format!("sglang-0.5.23/{name}")),
                &job_dir(&r).join(name),
            );
            r
        })
        .collect();
    let table = dir.join("points.csv");
    let plot = dir.join("frontier.svg");
    let input = dir.join("records.jsonl");
    std::fs::write(&input, jsonl(&recs)).unwrap();
    let m = dir.join("m.json");
    let o = run(
        "sweep-collect",
        &[
            "--frontier",
            "--table",
            table.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
            "--output",
            m.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    let frontier = stdout(&o);
    // The table file: one row per point.
    let rows = csv_rows(&table);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let count = |f: &dyn Fn(&Vec<String>) -> bool| rows[1..].iter().filter(|r| f(r)).count();
    let (valid, pareto, gpu, unplaced) = (
        col("valid"),
        col("pareto"),
        col("output_tps_per_gpu"),
        col("unplaced_reason"),
    );
    let n = rows.len() - 1;
    let v = count(&|r| r[valid] == "true");
    let f = count(&|r| r[pareto] == "true");
    let c = count(&|r| r[valid] == "true" && !r[gpu].is_empty());
    let u = count(&|r| !r[unplaced].is_empty());
    assert_eq!((n, v, c, u), (11, 11, 8, 3), "{err}");
    assert!(f >= 2);
    // The summary line, the frontier's title and the plot's title say the same.
    let line = err.lines().next().unwrap();
    assert_eq!(
        line,
        format!("sweep-collect: results: {n} points, {v} valid, {f} on the Pareto frontier of {c}, {u} valid without per-GPU figures (left out, see below); 0 of 3 combinations without a point; 0 file error(s); 11 point(s) whose failed requests are unknown (SGLang counts none: add requests-per-concurrency=N to --profiler, or --output-details to bench_serving)")
    );
    let title = frontier.lines().next().unwrap();
    assert_eq!(phrase_counts(title), (f, c, u), "{title}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    let caption = svg
        .split("<text")
        .find(|t| t.contains("Pareto frontier:"))
        .unwrap();
    assert_eq!(phrase_counts(caption), (f, c, u), "{caption}");
    assert_eq!(
        svg.matches("r=\"5\"").count(),
        c + 1,
        "one mark per placed point and one in the legend"
    );
    // Which points were left out, and why: on stderr and under the frontier table.
    let why = "left out: 3 valid point(s) of index 2 (no per-GPU figures: the record has no gpus_per_node";
    assert!(
        err.lines()
            .nth(1)
            .unwrap()
            .starts_with(&format!("sweep-collect: results: {why}")),
        "{err}"
    );
    assert!(
        frontier.lines().last().unwrap().starts_with(why),
        "{frontier}"
    );
    // With an SLO the candidates are those within it: still one count everywhere.
    let o = run(
        "sweep-collect",
        &[
            "--frontier",
            "--slo",
            "ttft_p99_ms<=120",
            "--table",
            table.to_str().unwrap(),
            "--plot",
            plot.to_str().unwrap(),
            "--output",
            m.to_str().unwrap(),
            input.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = csv_rows(&table);
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap();
    let (valid, pareto, gpu, meets) = (
        col("valid"),
        col("pareto"),
        col("output_tps_per_gpu"),
        col("meets_slo"),
    );
    let count = |f: &dyn Fn(&Vec<String>) -> bool| rows[1..].iter().filter(|r| f(r)).count();
    let within = count(&|r| r[valid] == "true" && !r[gpu].is_empty() && r[meets] == "true");
    let f = count(&|r| r[pareto] == "true");
    assert!(
        within > 0 && within < c,
        "the SLO splits the points: {within} of {c}"
    );
    let line = stderr(&o).lines().next().unwrap().to_string();
    assert!(
        line.starts_with(&format!("sweep-collect: results: {n} points, {v} valid, {f} on the Pareto frontier of {within} within the SLO, {u} valid without per-GPU figures (left out, see below);")),
        "{line}"
    );
    let title = stdout(&o).lines().next().unwrap().to_string();
    assert!(title.contains(" within the SLO;"), "{title}");
    assert_eq!(phrase_counts(&title), (f, within, u), "{title}");
    let svg = std::fs::read_to_string(&plot).unwrap();
    let caption = svg
        .split("<text")
        .find(|t| t.contains("Pareto frontier:"))
        .unwrap();
    assert_eq!(phrase_counts(caption), (f, within, u), "{caption}");
}

/// A CSV file's rows (Python's csv module: the cells as a user's pandas would see them).
fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let o = std::process::Command::new("python3")
        .args(["-c", "import csv, json, sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline='')))))", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn every_file_of_a_job_directory_is_a_point_source_or_reported() {
    let dir = temp_dir("real_every_file");
    // What may sit in a job's directory: the clients' real files, and everything else.
    let real: Vec<PathBuf> = [
        "sglang-0.5.23",
        "vllm-0.33.0",
        "aiperf-0.13.0/c4",
        "aiperf-0.13.0/fail",
        "aiperf-0.13.0/allfail",
    ]
    .iter()
    .flat_map(|d| files_below(&data(d)))
    .collect();
    let junk: Vec<(&str, &str)> = vec![
        ("config.json", r#"{"mem_fraction_static": 0.8}"#),
        ("gpu.log", "GPU 0: 80% busy\n"),
        ("empty.json", ""),
        ("broken.jsonl", "{\"a\": "),
        ("array.json", "[1, 2, 3]"),
        ("number.json", "42"),
        ("results_concurrency_4_gpus_8.json", "<html>"),
        ("failed_step", "benchmark 1 profile\n"),
        (
            "nested.json",
            r#"{"output_throughput": 1, "x": {"y": [1, 2]}}"#,
        ),
        ("mixed.jsonl", "{\"a\": 1}\n{\"duration\": 1}\n"),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut recs = Vec::new();
    let mut laid: Vec<Vec<PathBuf>> = Vec::new();
    for i in 0..12u64 {
        let r = record(&dir, i, &format!("{}", 9100 + i), Some(8));
        let root = job_dir(&r);
        let mut mine = Vec::new();
        for k in 0..(3 + rng.next() % 8) {
            let depth = rng.next() % 4;
            let mut at = root.clone();
            for d in 0..depth {
                at = at.join(format!("d{}", (rng.next() + d) % 3));
            }
            let path = if rng.next().is_multiple_of(2) {
                let src = &real[(rng.next() % real.len() as u64) as usize];
                let p = at.join(format!(
                    "{k}_{}",
                    src.file_name().unwrap().to_str().unwrap()
                ));
                copy(src, &p);
                p
            } else {
                let (name, text) = junk[(rng.next() % junk.len() as u64) as usize];
                let p = at.join(format!("{k}_{name}"));
                std::fs::create_dir_all(&at).unwrap();
                std::fs::write(&p, text).unwrap();
                p
            };
            mine.push(path);
        }
        if i % 4 == 0 {
            // A FIFO (never opened: it would block), links to a file, a directory, nothing.
            std::fs::create_dir_all(&root).unwrap();
            let fifo = root.join("pipe.json");
            assert!(std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success());
            let target = mine[0].clone();
            std::os::unix::fs::symlink(&target, root.join("link.json")).unwrap();
            std::os::unix::fs::symlink(&root, root.join("loop")).unwrap();
            std::os::unix::fs::symlink("/nonexistent", root.join("dangling.json")).unwrap();
            mine.extend([
                fifo,
                root.join("link.json"),
                root.join("loop"),
                root.join("dangling.json"),
            ]);
        }
        laid.push(mine);
        recs.push(r);
    }
    let (out, _) = collect(&dir, &recs, &["--results"]);
    for (rec, mine) in out.iter().zip(&laid) {
        let res = &rec["results"];
        let listed = |key: &str| -> Vec<String> {
            res.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|e| e["file"].as_str().unwrap().to_string())
                        .collect()
                })
                .unwrap_or_default()
        };
        let (sources, errors, other) = (listed("points"), listed("errors"), listed("not_results"));
        for path in mine {
            let p = path.display().to_string();
            let n = usize::from(sources.contains(&p))
                + usize::from(errors.contains(&p))
                + usize::from(other.contains(&p));
            assert!(
                n >= 1,
                "{p} is neither a point's source nor reported: {res}"
            );
            assert!(
                !(other.contains(&p) && (sources.contains(&p) || errors.contains(&p))),
                "{p}: both a result and not one"
            );
        }
        for f in sources.iter().chain(&errors).chain(&other) {
            assert!(
                mine.iter().any(|m| m.display().to_string() == *f),
                "{f} was never laid out"
            );
        }
    }
}

fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_below(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
