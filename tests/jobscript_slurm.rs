//! Job scripts on the local cluster (issue 5): the built-in script runs the seed's layout on
//! real slurmd nodes with the demo scripts directory (examples/demo-scripts), whose
//! worker_setup.py records per node what it received in <log_dir>/<job ID>/nodes/*.json. The job's
//! end state is read from Slurm. sweep-submit's dry run writes the script; the test submits
//! it with `sbatch --parsable` itself (what matters here is what runs on the nodes).

use crate::common::{self, stderr};
use crate::jobscript::{agg, disagg, fixture, records, submit, Fixture};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// What Slurm says about a finished job.
struct Finished {
    job_id: String,
    state: String,
    exit_code: String,
    nodes: Vec<String>,
}

fn sbatch(script: &str, env: &[(&str, &str)]) -> String {
    let o = Command::new("sbatch")
        .arg("--parsable")
        .arg(script)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(o.status.success(), "sbatch failed: {}", stderr(&o));
    String::from_utf8(o.stdout)
        .unwrap()
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

fn field(line: &str, key: &str) -> Option<String> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")).map(str::to_string))
}

/// Polls `scontrol show job` until the job has ended (4 minutes at most).
fn wait_for(id: &str) -> Finished {
    let start = Instant::now();
    loop {
        let o = Command::new("scontrol")
            .args(["show", "job", "-o", id])
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&o.stdout).to_string();
        let state = field(&line, "JobState").unwrap_or_default();
        if !["", "PENDING", "RUNNING", "CONFIGURING", "COMPLETING"].contains(&state.as_str()) {
            let list = field(&line, "NodeList").unwrap_or_default();
            let hosts = Command::new("scontrol")
                .args(["show", "hostnames", &list])
                .output()
                .unwrap();
            return Finished {
                job_id: id.to_string(),
                state,
                exit_code: field(&line, "ExitCode").unwrap_or_default(),
                nodes: String::from_utf8_lossy(&hosts.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect(),
            };
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "job {id} still {state} after 240 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Renders `rec` with `extra`, submits the script, waits for the end.
fn run_job(fx: &Fixture, extra: &[&str], rec: &str, env: &[(&str, &str)]) -> (Value, Finished) {
    let o = submit(fx, extra, rec);
    assert_eq!(crate::common::without_summary(&stderr(&o)), "");
    let out = records(&o).remove(0);
    // A dry run makes nothing in the sweep directory: the log directory a real run makes
    // before its sbatch, made here.
    std::fs::create_dir_all(out["log_dir"].as_str().unwrap()).unwrap();
    let id = sbatch(out["job_script"].as_str().unwrap(), env);
    let done = wait_for(&id);
    (out, done)
}

/// The per-process JSON files the demo worker_setup.py wrote, by file name: in the job's own
/// directory, `<log_dir>/<job ID>/nodes`.
fn reports(out: &Value, done: &Finished) -> BTreeMap<String, Value> {
    let dir = std::path::Path::new(out["log_dir"].as_str().unwrap())
        .join(&done.job_id)
        .join("nodes");
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            let v = serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
            m.insert(name, v);
        }
    }
    m
}

/// The worker reports must be exactly `expected` (file name, role, worker, rank, nodes per
/// worker), each with the right addresses, config path and key, and the swept values.
fn check_workers(
    out: &Value,
    got: &BTreeMap<String, Value>,
    expected: &[(String, &str, u64, u64, u64)],
    configs: &Value,
) {
    let config_path = out["config_path"].as_str().unwrap();
    for (file, role, w, r, npw) in expected {
        let rep = got
            .get(file)
            .unwrap_or_else(|| panic!("no {file}; have {:?}", got.keys()));
        let node = file.split('_').next().unwrap();
        assert_eq!(rep["node"], json!(node), "{file}");
        assert_eq!(
            (
                &rep["role"],
                &rep["worker_idx"],
                &rep["local_rank"],
                &rep["nodes_per_worker"]
            ),
            (&json!(role), &json!(w), &json!(r), &json!(npw)),
            "{file}"
        );
        assert_eq!(
            (&rep["leader_ip"], &rep["master_ip"]),
            (&json!("127.0.0.1"), &json!("127.0.0.1")),
            "{file}"
        );
        assert_eq!(
            (&rep["gpu_type"], &rep["script_variant"]),
            (&json!("demo"), &json!("max-tpt")),
            "{file}"
        );
        assert_eq!(rep["config_path_flag"], json!(config_path), "{file}");
        assert_eq!(rep["config_path_env"], json!(config_path), "{file}");
        let key = if *role == "aggregated" {
            Value::Null
        } else {
            json!(role)
        };
        assert_eq!(rep["config_key_env"], key, "{file}");
        let want = if *role == "aggregated" {
            configs.clone()
        } else {
            configs[*role].clone()
        };
        assert_eq!(rep["config"], want, "{file}: swept values");
        assert_eq!(
            (&rep["exit"], &rep["launch"]["exit"]),
            (&json!(0), &json!(0)),
            "{file}"
        );
        let ran = rep["launch"]["stdout"][0].as_str().unwrap();
        // The demo launch script prints the engine's argv with printf %q: plain paths verbatim.
        let plain = config_path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c));
        let path = if plain { config_path } else { "" };
        let tail = format!("--config {path}");
        assert!(ran.contains(&tail), "{file}: {ran}");
        if *role != "aggregated" {
            assert!(
                ran.contains(&format!(" --config-key {role}")),
                "{file}: {ran}"
            );
        }
    }
}

#[test]
fn disagg_job_runs_the_seed_layout() {
    let Some(_slurm) = common::on_slurm("disagg_job_runs_the_seed_layout") else {
        return;
    };
    let fx = fixture("jss_disagg");
    let sglang =
        json!({"mem-fraction-static": 0.82, "context-length": 2176, "cuda-graph-bs": [1, 2, 4]});
    let roles = json!({"prefill": {"chunked-prefill-size": 131072}, "decode": {"mem-fraction-static": 0.9}});
    let rec = disagg(&fx, 0, [2, 2, 2, 1], sglang, roles);
    let (out, done) = run_job(&fx, &[], &rec, &[]);
    assert_eq!(
        (done.state.as_str(), done.exit_code.as_str()),
        ("COMPLETED", "0:0")
    );
    let n = &done.nodes;
    assert_eq!(n.len(), 4);
    let got = reports(&out, &done);
    let expected = [
        (format!("{}_prefill_w0_r0.json", n[0]), "prefill", 0, 0, 1),
        (format!("{}_prefill_w1_r0.json", n[1]), "prefill", 1, 0, 1),
        (format!("{}_decode_w0_r0.json", n[2]), "decode", 0, 0, 2),
        (format!("{}_decode_w0_r1.json", n[3]), "decode", 0, 1, 2),
    ];
    assert_eq!(got.len(), expected.len(), "{:?}", got.keys());
    let configs = json!({
        "prefill": {"mem-fraction-static": 0.82, "context-length": 2176, "cuda-graph-bs": [1, 2, 4], "chunked-prefill-size": 131072},
        "decode": {"mem-fraction-static": 0.9, "context-length": 2176, "cuda-graph-bs": [1, 2, 4]},
    });
    check_workers(&out, &got, &expected, &configs);
    let log = out["log_dir"].as_str().unwrap();
    let first = &got[&expected[0].0];
    assert_eq!(
        first["dump_config_path"],
        json!(format!("{log}/{}/{}_config.json", done.job_id, n[0]))
    );
    assert_eq!(
        first["config_key_flag"],
        Value::Null,
        "--config-key is opt-in"
    );
}

#[test]
fn agg_job_runs_workers_then_the_benchmark() {
    let Some(_slurm) = common::on_slurm("agg_job_runs_workers_then_the_benchmark") else {
        return;
    };
    let fx = fixture("jss_agg");
    let sglang = json!({"max-running-requests": 5632, "kv-cache-dtype": "fp8_e4m3"});
    let rec = agg(&fx, 4, 2, 1, sglang.clone());
    let profiler = [
        "--profiler",
        "type=sglang; isl=128; osl=64; concurrencies=4x8; req-rate=inf",
    ];
    let (out, done) = run_job(&fx, &profiler, &rec, &[]);
    assert_eq!(
        (done.state.as_str(), done.exit_code.as_str()),
        ("COMPLETED", "0:0")
    );
    let n = &done.nodes;
    let got = reports(&out, &done);
    let job_dir = std::path::Path::new(out["log_dir"].as_str().unwrap()).join(&done.job_id);
    let args = std::fs::read_to_string(job_dir.join("bench/args.json")).expect("the benchmark ran");
    let bench: Value = serde_json::from_str(&args).unwrap();
    assert_eq!(
        bench["args"],
        json!(["0", "1", "0", "16", "128", "64", "4x8", "inf"])
    );
    // One SGLang bench_serving result line per concurrency, in the job's own directory.
    let results = std::fs::read_to_string(job_dir.join("bench/bench_serving.jsonl")).unwrap();
    assert_eq!(results.lines().count(), 2, "{results}");
    let expected = [
        (
            format!("{}_aggregated_w0_r0.json", n[0]),
            "aggregated",
            0,
            0,
            2,
        ),
        (
            format!("{}_aggregated_w0_r1.json", n[1]),
            "aggregated",
            0,
            1,
            2,
        ),
    ];
    assert_eq!(got.len(), 2, "{:?}", got.keys());
    check_workers(&out, &got, &expected, &sglang);
}

#[test]
fn a_failing_worker_fails_the_job() {
    let Some(_slurm) = common::on_slurm("a_failing_worker_fails_the_job") else {
        return;
    };
    let fx = fixture("jss_fail");
    let rec = agg(&fx, 0, 2, 2, json!({"context-length": 4096}));
    let (_, done) = run_job(&fx, &[], &rec, &[("SWEEP_DEMO_FAIL", "aggregated_w1_r0")]);
    assert_eq!(
        (done.state.as_str(), done.exit_code.as_str()),
        ("FAILED", "3:0")
    );
}

#[test]
fn multiple_frontends_behind_nginx() {
    let Some(_slurm) = common::on_slurm("multiple_frontends_behind_nginx") else {
        return;
    };
    let fx = fixture("jss_frontends");
    let rec = disagg(
        &fx,
        2,
        [1, 1, 3, 1],
        json!({"context-length": 2176}),
        Value::Null,
    );
    let flags = [
        "--enable-multiple-frontends",
        "--num-additional-frontends",
        "2",
        "--pass-config-key",
    ];
    let (out, done) = run_job(&fx, &flags, &rec, &[]);
    assert_eq!(
        (done.state.as_str(), done.exit_code.as_str()),
        ("COMPLETED", "0:0")
    );
    let n = &done.nodes;
    let got = reports(&out, &done);
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    let mut want = vec![
        format!("{}_nginx_w0_r0.json", n[0]),
        format!("{}_frontend_w0_r0.json", n[1]),
        format!("{}_frontend_w1_r0.json", n[2]),
        format!("{}_frontend_w2_r0.json", n[3]),
        format!("{}_prefill_w0_r0.json", n[0]),
        format!("{}_decode_w0_r0.json", n[1]),
        format!("{}_decode_w0_r1.json", n[2]),
        format!("{}_decode_w0_r2.json", n[3]),
    ];
    want.sort();
    assert_eq!(names, want);
    let nginx = &got[&want.iter().find(|f| f.contains("nginx")).unwrap().clone()];
    let servers: Vec<&Value> = nginx["nginx_conf"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l.as_str().unwrap().contains("server 127.0.0.1:8000;"))
        .collect();
    assert_eq!(
        servers.len(),
        3,
        "nginx upstreams = frontends launched: {nginx}"
    );
    for rep in got.values() {
        assert_eq!(rep["master_ip"], json!("127.0.0.1"));
        assert_eq!(rep["multiple_frontends"], json!(true));
        if rep["role"] == json!("decode") || rep["role"] == json!("prefill") {
            assert_eq!(rep["config_key_flag"], rep["role"]);
        }
    }
}

/// Quotes, `$(...)`, backticks and newlines in swept values, paths and the image name: the
/// job runs, nothing else runs, and the value arrives intact.
#[test]
fn hostile_values_run_nothing() {
    let Some(_slurm) = common::on_slurm("hostile_values_run_nothing") else {
        return;
    };
    let base = fixture("jss_hostile");
    let mark = base.dir.join("pwned");
    let m = mark.display().to_string();
    let evil = format!("a'b\"c $(touch {m}) `touch {m}` ; touch {m}\nnext line \\ end");
    // The hostile part is a parent of the sweep directory: the sweep directory's own name
    // becomes part of the log path, which goes on an #SBATCH line and must stay plain.
    let sweep_dir = base.dir.join(format!("in 'q' $(touch {m})")).join("sweep");
    std::fs::create_dir_all(&sweep_dir).unwrap();
    let fx = Fixture {
        dir: base.dir.clone(),
        sweep_dir,
        out_dir: base.out_dir.clone(),
    };
    let model = base.dir.join(format!("model `touch {m}`"));
    std::fs::create_dir_all(&model).unwrap();
    let sglang = json!({"served-model-name": evil, "context-length": 2176});
    let rec = agg(&fx, 0, 1, 1, sglang.clone());
    let (md, log) = (
        model.display().to_string(),
        base.dir.join("logs").display().to_string(),
    );
    let (out, done) = run_job(&fx, &["--model-dir", &md, "--log-dir", &log], &rec, &[]);
    assert_eq!(
        (done.state.as_str(), done.exit_code.as_str()),
        ("COMPLETED", "0:0")
    );
    assert!(!mark.exists(), "a hostile value ran a command");
    let got = reports(&out, &done);
    let expected = [(
        format!("{}_aggregated_w0_r0.json", done.nodes[0]),
        "aggregated",
        0,
        0,
        1,
    )];
    check_workers(&out, &got, &expected, &sglang);
}
