//! Job scripts (issue 5) without Slurm: golden scripts, option and record errors, the launch
//! script override check, custom templates (strict undefined, Jinja2 equivalence).
//!
//! Goldens live in tests/data/jobscript/*.sh with the temp dir written `@TMP@` and the repo
//! `@REPO@`; `SWEEP_BLESS=1 cargo test --test tests jobscript::` rewrites them.

use crate::common::{self, stderr, stdout, without_summary};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A test's directories: `dir/sweep` (configs), `dir/out` (scripts), `dir/model`, `dir/configs`.
pub struct Fixture {
    pub dir: PathBuf,
    pub sweep_dir: PathBuf,
    pub out_dir: PathBuf,
}

pub fn fixture(name: &str) -> Fixture {
    let dir = common::temp_dir(name);
    let sweep_dir = dir.join("sweep");
    for d in ["sweep", "model", "configs"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    Fixture {
        out_dir: dir.join("out"),
        sweep_dir,
        dir,
    }
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn demo_scripts() -> String {
    repo().join("examples/demo-scripts").display().to_string()
}

/// A disaggregated record with its rendered config (`sweep/sglang_config_{index}.yaml`),
/// written the way sweep-render lays it out: `prefill:` and `decode:` sections.
pub fn disagg(fx: &Fixture, index: u64, counts: [u64; 4], sglang: Value, roles: Value) -> String {
    let [pn, pw, dn, dw] = counts;
    let mut rec = json!({
        "index": index, "id": format!("{index:016x}"), "mode": "disagg", "total_nodes": pn + dn,
        "parameters": {"slurm": {"prefill_nodes": pn, "decode_nodes": dn,
                                 "prefill_workers": pw, "decode_workers": dw},
                       "sglang": sglang},
        "sweep_dir": fx.sweep_dir.display().to_string(),
    });
    if roles.is_object() {
        rec["role_parameters"] = roles.clone();
    }
    let mut config = serde_json::Map::new();
    for role in ["prefill", "decode"] {
        let mut merged = sglang.as_object().cloned().unwrap_or_default();
        if let Some(own) = roles.get(role).and_then(Value::as_object) {
            merged.extend(own.clone());
        }
        config.insert(role.to_string(), Value::Object(merged));
    }
    write_config(fx, index, &Value::Object(config), &mut rec);
    rec.to_string()
}

/// An aggregated record with its flat config.
pub fn agg(fx: &Fixture, index: u64, nodes: u64, workers: u64, sglang: Value) -> String {
    let mut rec = json!({
        "index": index, "id": format!("{index:016x}"), "mode": "agg", "total_nodes": nodes,
        "parameters": {"slurm": {"agg_nodes": nodes, "agg_workers": workers}, "sglang": sglang},
        "sweep_dir": fx.sweep_dir.display().to_string(),
    });
    write_config(fx, index, &sglang, &mut rec);
    rec.to_string()
}

fn write_config(fx: &Fixture, index: u64, config: &Value, rec: &mut Value) {
    let path = fx.sweep_dir.join(format!("sglang_config_{index}.yaml"));
    std::fs::write(&path, serde_yaml::to_string(config).unwrap()).unwrap();
    rec["config_path"] = json!(path.display().to_string());
}

/// `sweep-submit --dry-run` with the test cluster's options plus `extra`.
pub fn submit(fx: &Fixture, extra: &[&str], stdin: &str) -> Output {
    submit_env(fx, extra, stdin, &[])
}

pub fn submit_env(fx: &Fixture, extra: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let (out, model, configs) = (
        fx.out_dir.display().to_string(),
        fx.dir.join("model").display().to_string(),
        fx.dir.join("configs").display().to_string(),
    );
    let scripts = demo_scripts();
    let defaults = [
        ("--output-dir", out.as_str()),
        ("--account", "sweepacct"),
        ("--partition", "batch"),
        ("--model-dir", &model),
        ("--config-dir", &configs),
        ("--gpu-type", "demo"),
        ("--script-variant", "max-tpt"),
        ("--network-interface", "lo"),
        ("--scripts-dir", &scripts),
        ("--time-limit", "00:05:00"),
    ];
    // `extra` wins over a default of the same option (clap refuses repeats).
    let mut args = vec!["--dry-run"];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(extra);
    let mut cmd = Command::new(common::bin("sweep-submit"));
    // Dry runs save their scripts under $TMPDIR: the tests' own.
    cmd.env("TMPDIR", common::tmpdir());
    cmd.args(&args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    // The program may exit before reading everything (an option error): that is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

/// The records sweep-submit printed.
pub fn records(o: &Output) -> Vec<Value> {
    assert!(o.status.success(), "sweep-submit failed: {}", stderr(o));
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `text` with the fixture dir as `@TMP@` and the repository as `@REPO@`.
pub fn normalize(text: &str, fx: &Fixture) -> String {
    let text = text
        .replace(&fx.dir.display().to_string(), "@TMP@")
        .replace(&repo().display().to_string(), "@REPO@");
    mask_sweep_key_hashes(&text)
}

/// The sweep key in a tag ends in a hash of the sweep directory's absolute path, which differs
/// per checkout: `sweep:<name>-1a2b3c4d:` becomes `sweep:<name>-@HASH@:`.
fn mask_sweep_key_hashes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(sweep::tag::PREFIX) {
        let (head, tail) = rest.split_at(at + sweep::tag::PREFIX.len());
        out.push_str(head);
        let key_end = tail.find(':').unwrap_or(tail.len());
        let key = &tail[..key_end];
        match key.rsplit_once('-') {
            Some((name, hash))
                if hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                out.push_str(name);
                out.push_str("-@HASH@");
            }
            _ => out.push_str(key),
        }
        rest = &tail[key_end..];
    }
    out.push_str(rest);
    out
}

fn golden(name: &str, actual: &str) {
    let path = repo().join("tests/data/jobscript").join(name);
    if std::env::var("SWEEP_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (SWEEP_BLESS=1 writes it)", path.display()));
    assert!(
        expected == actual,
        "{name} differs from the golden file (SWEEP_BLESS=1 to accept):\n{}",
        diff(&expected, actual)
    );
}

fn diff(a: &str, b: &str) -> String {
    let (a, b): (Vec<_>, Vec<_>) = (a.lines().collect(), b.lines().collect());
    let mut out = String::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i), b.get(i));
        if x != y {
            out += &format!(
                "line {}:\n- {}\n+ {}\n",
                i + 1,
                x.unwrap_or(&""),
                y.unwrap_or(&"")
            );
        }
    }
    out
}

fn script_of(rec: &Value) -> String {
    std::fs::read_to_string(rec["job_script"].as_str().unwrap()).unwrap()
}

fn sglang() -> Value {
    json!({"mem-fraction-static": 0.82, "context-length": 2176})
}

/// Renders one record with `extra` options and compares with a golden file.
fn check_golden(
    test: &str,
    golden_name: &str,
    extra: &[&str],
    record: impl Fn(&Fixture) -> String,
) {
    let fx = fixture(test);
    let o = submit(&fx, extra, &(record(&fx) + "\n"));
    let recs = records(&o);
    assert_eq!(without_summary(&stderr(&o)), "");
    golden(golden_name, &normalize(&script_of(&recs[0]), &fx));
}

#[test]
fn golden_disagg_defaults() {
    check_golden("js_golden_disagg", "disagg.sh", &[], |fx| {
        disagg(fx, 0, [2, 2, 2, 1], sglang(), Value::Null)
    });
}

#[test]
fn golden_agg_defaults() {
    check_golden("js_golden_agg", "agg.sh", &[], |fx| {
        agg(fx, 3, 2, 1, sglang())
    });
}

#[test]
fn golden_disagg_every_flag_on() {
    let flags = [
        "--container-image",
        "nvcr.io/nvidia/sglang:it's",
        "--enable-multiple-frontends",
        "--num-additional-frontends",
        "3",
        "--use-init-location",
        "--disable-config-dump",
        "--use-dynamo-whls",
        "--pass-config-key",
        "--gpus-per-node",
        "4",
        "--job-name",
        "tpt",
        "--profiler",
        "type=sglang; isl=1024; osl=128; concurrencies=4x8; req-rate=inf",
    ];
    check_golden("js_golden_disagg_flags", "disagg_flags.sh", &flags, |fx| {
        disagg(fx, 1, [4, 2, 4, 1], sglang(), Value::Null)
    });
}

#[test]
fn golden_agg_frontends_container_profiler() {
    let flags = [
        "--container-image",
        "sglang.sqsh",
        "--enable-multiple-frontends",
        "--num-additional-frontends",
        "2",
        "--use-init-location",
        "--profiler",
        "type=sglang; isl=128; osl=64; concurrencies=4x8; req-rate=inf",
    ];
    check_golden("js_golden_agg_fe", "agg_frontends.sh", &flags, |fx| {
        agg(fx, 2, 4, 2, sglang())
    });
}

#[test]
fn golden_agg_without_config() {
    // No sglang values: no config file, no --sglang-config-path, SGLANG_CONFIG_PATH unset.
    check_golden("js_golden_noconfig", "agg_no_config.sh", &[], |fx| {
        json!({"index": 0, "id": "0000000000000000", "mode": "agg", "total_nodes": 1,
               "parameters": {"slurm": {"agg_nodes": 1, "agg_workers": 1}, "sglang": {}},
               "sweep_dir": fx.sweep_dir.display().to_string()})
        .to_string()
    });
}

/// Frontends: one stride for nginx's upstream list and the launches (the seed had two).
#[test]
fn frontends_share_one_stride() {
    let fx = fixture("js_frontend_stride");
    let rec = disagg(&fx, 0, [6, 3, 12, 1], sglang(), Value::Null);
    let o = submit(
        &fx,
        &[
            "--enable-multiple-frontends",
            "--num-additional-frontends",
            "4",
        ],
        &rec,
    );
    let s = script_of(&records(&o)[0]);
    // 18 nodes, 4 extra frontends over nodes 2..17: stride ceil(16/4) = 4.
    let upstream: Vec<&str> = s
        .lines()
        .filter(|l| l.starts_with("FRONTEND_IPS="))
        .collect();
    assert_eq!(
        upstream,
        ["FRONTEND_IPS=(\"${addr[${nodes[1]}]}\" \"${addr[${nodes[2]}]}\" \"${addr[${nodes[6]}]}\" \"${addr[${nodes[10]}]}\" \"${addr[${nodes[14]}]}\")"]
    );
    let launched: Vec<&str> = s
        .lines()
        .filter(|l| l.starts_with("launch frontend_"))
        .map(|l| l.split(' ').nth(2).unwrap())
        .collect();
    assert_eq!(
        launched,
        [
            "\"${nodes[1]}\"",
            "\"${nodes[2]}\"",
            "\"${nodes[6]}\"",
            "\"${nodes[10]}\"",
            "\"${nodes[14]}\""
        ]
    );
}

#[test]
fn frontends_that_do_not_fit_are_a_warning() {
    let fx = fixture("js_frontend_fit");
    let rec = agg(&fx, 0, 3, 1, sglang());
    let o = submit(&fx, &["--enable-multiple-frontends"], &rec);
    assert!(o.status.success());
    assert_eq!(
        without_summary(&stderr(&o)),
        "sweep-submit: <stdin>:1: warning: only 1 of 9 additional frontends fit: they go on nodes 2 and up, one per node, and this job has 3 nodes\n"
    );
}

#[test]
fn missing_launch_script_lists_what_exists() {
    let fx = fixture("js_missing_variant");
    let rec = agg(&fx, 0, 1, 1, sglang());
    let o = submit(&fx, &["--script-variant", "low-latency"], &rec);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        normalize(&stderr(&o), &fx),
        "sweep-submit: <stdin>:1: launch script @REPO@/examples/demo-scripts/demo/agg/low-latency.sh not found; available: demo/agg/max-tpt.sh, demo/disagg/max-tpt.sh\n"
    );
    assert_eq!(stdout(&o), "");
}

#[test]
fn unusable_counts_are_errors() {
    let fx = fixture("js_bad_counts");
    let rec = disagg(&fx, 0, [3, 2, 2, 1], sglang(), Value::Null);
    let o = submit(&fx, &[], &rec);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "sweep-submit: <stdin>:1: prefill_nodes (3) must be divisible by prefill_workers (2)\n"
    );
    // A count so large that the node total would overflow (or the script never end).
    let mut rec: Value =
        serde_json::from_str(&disagg(&fx, 0, [1; 4], sglang(), Value::Null)).unwrap();
    rec["parameters"]["slurm"]["prefill_nodes"] = json!(u64::MAX);
    rec.as_object_mut().unwrap().remove("total_nodes");
    let o = submit(&fx, &[], &rec.to_string());
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "sweep-submit: <stdin>:1: parameters.slurm.prefill_nodes is 18446744073709551615, more than the 100000 a job can use\n"
    );
    let rec = agg(&fx, 0, 1, 1, sglang());
    let o = submit(&fx, &["--enable-multiple-frontends"], &rec);
    assert_eq!(
        stderr(&o),
        "sweep-submit: <stdin>:1: --enable-multiple-frontends needs at least 2 nodes (nginx on node 0, the first frontend on node 1); this job has 1\n"
    );
}

/// A launch script that hard-codes a swept flag: a warning naming key, script and line;
/// `--strict-overrides` makes it an error.
#[test]
fn swept_flag_in_launch_script() {
    let fx = fixture("js_overrides");
    let scripts = fx.dir.join("scripts");
    let variant = scripts.join("gb/disagg");
    std::fs::create_dir_all(&variant).unwrap();
    std::fs::copy(
        repo().join("examples/demo-scripts/worker_setup.py"),
        scripts.join("worker_setup.py"),
    )
    .unwrap();
    std::fs::write(
        variant.join("max-tpt.sh"),
        "#!/bin/bash\n# --context-length in a comment is fine\npython3 -m dynamo.sglang \\\n  --decode-log-interval 1000 --mem-fraction-static-x 1 \\\n  --mem-fraction-static 0.75 ${suffix}\n",
    )
    .unwrap();
    let roles = json!({"decode": {"decode-log-interval": 100}});
    let rec = disagg(&fx, 0, [1, 1, 1, 1], sglang(), roles);
    let sd = scripts.display().to_string();
    let o = submit(&fx, &["--scripts-dir", &sd, "--gpu-type", "gb"], &rec);
    assert!(o.status.success());
    assert_eq!(
        normalize(&without_summary(&stderr(&o)), &fx),
        "sweep-submit: <stdin>:1: warning: swept key \"mem-fraction-static\" is also set by @TMP@/scripts/gb/disagg/max-tpt.sh:5 (--mem-fraction-static on the command line overrides the swept value)\n\
         sweep-submit: <stdin>:1: warning: swept key \"decode-log-interval\" is also set by @TMP@/scripts/gb/disagg/max-tpt.sh:4 (--decode-log-interval on the command line overrides the swept value)\n"
    );
    let o = submit(
        &fx,
        &[
            "--scripts-dir",
            &sd,
            "--gpu-type",
            "gb",
            "--strict-overrides",
        ],
        &rec,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(normalize(&stderr(&o), &fx).starts_with(
        "sweep-submit: <stdin>:1: swept key \"mem-fraction-static\" is also set by @TMP@/scripts/gb/disagg/max-tpt.sh:5"
    ), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
}

#[test]
fn profiler_spec_errors() {
    let fx = fixture("js_profiler");
    let cases = [
        ("isl=8", "--profiler: missing field \"type\" (for example type=sglang)"),
        ("type=sglang; isl=8; osl=8; concurrencies=1; req-rate=inf; color=red", "--profiler: unknown field \"color\" (fields: type, isl, osl, concurrencies, req-rate, requests-per-concurrency)"),
        ("type=sglang; isl 8", "--profiler: \"isl 8\" is not key=value (fields: type, isl, osl, concurrencies, req-rate, requests-per-concurrency)"),
        ("type=sglang; isl=8; osl=8; concurrencies=1; req-rate=inf; requests-per-concurrency=0", "--profiler: requests-per-concurrency=\"0\" is not a positive integer"),
        ("type=aiperf; isl=8; osl=8; concurrencies=1; requests-per-concurrency=ten", "--profiler: requests-per-concurrency=\"ten\" is not a positive integer"),
        ("type=sglang; isl=8k; osl=8; concurrencies=1; req-rate=inf", "--profiler: isl=\"8k\" is not a positive integer"),
        ("type=sglang; isl=0; osl=8; concurrencies=1; req-rate=inf", "--profiler: isl=\"0\" is not a positive integer"),
        ("type=sglang; isl=8; concurrencies=1; req-rate=inf", "--profiler: missing field \"osl\" (a positive integer)"),
        ("type=sglang; isl=8; osl=8; concurrencies=16x; req-rate=inf", "--profiler: concurrencies=\"16x\" is not a list of positive integers joined by 'x' (for example 16x2048x4096)"),
        ("type=sglang; isl=8; osl=8; concurrencies=16,32; req-rate=inf", "--profiler: concurrencies=\"16,32\" is not a list of positive integers joined by 'x' (for example 16x2048x4096)"),
        ("type=sglang; isl=8; osl=8; concurrencies=16", "--profiler: type=sglang needs field \"req-rate\" (inf or a number)"),
        ("type=sglang; isl=8; osl=8; concurrencies=16; req-rate=fast", "--profiler: req-rate=\"fast\" is not \"inf\" or a positive number"),
        ("type=sglang; type=vllm", "--profiler: field \"type\" given twice"),
        ("type=../x; isl=1", "--profiler: type \"../x\" is not a benchmark name (letters, digits, '.', '_', '-')"),
    ];
    for (spec, msg) in cases {
        let o = submit(&fx, &["--profiler", spec], "");
        assert_eq!(
            (o.status.code(), stderr(&o)),
            (Some(2), format!("sweep-submit: {msg}\n")),
            "{spec}"
        );
    }
    let o = submit(
        &fx,
        &["--profiler", "type=gap; isl=8; osl=8; concurrencies=16"],
        "",
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        normalize(&stderr(&o), &fx),
        "sweep-submit: --profiler: type=gap: @REPO@/examples/demo-scripts/gap/bench.sh not found\n"
    );
    // type=manual is the seed's "no benchmark": accepted, nothing launched.
    let rec = agg(&fx, 0, 1, 1, sglang());
    let o = submit(&fx, &["--profiler", "type=manual"], &rec);
    assert!(!script_of(&records(&o)[0]).contains("bench.sh"));
}

#[test]
fn the_job_writes_what_its_benchmark_is_asked_for_next_to_its_results() {
    let fx = fixture("js_benchmark_spec");
    let rec = agg(&fx, 0, 1, 1, sglang());
    let spec = "type=aiperf; isl=1024; osl=128; concurrencies=4x16; requests-per-concurrency=10";
    let o = submit(&fx, &["--profiler", spec], &rec);
    assert!(o.status.success(), "{}", stderr(&o));
    let script = script_of(&records(&o)[0]);
    let lines: Vec<&str> = script.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("printf '%s\\n' "))
        .unwrap_or_else(|| panic!("{script}"));
    assert_eq!(
        lines[at],
        r#"printf '%s\n' '{"type":"aiperf","isl":1024,"osl":128,"concurrencies":[4,16],"req_rate":"inf","requests_per_concurrency":10}' > "$JOB_LOG_DIR/sweep_benchmark.json""#
    );
    assert_eq!(
        lines[at + 1],
        "export SWEEP_BENCH_REQUESTS_PER_CONCURRENCY=10"
    );
    assert!(
        lines[at + 3].starts_with("launch benchmark "),
        "{}",
        lines[at + 3]
    );
    // Without the field, nothing is exported; the spec is written all the same.
    let o = submit(
        &fx,
        &[
            "--profiler",
            "type=sglang; isl=8; osl=8; concurrencies=2; req-rate=4.5",
        ],
        &rec,
    );
    let script = script_of(&records(&o)[0]);
    assert!(
        script.contains(
            r#"'{"type":"sglang","isl":8,"osl":8,"concurrencies":[2],"req_rate":"4.5"}'"#
        ),
        "{script}"
    );
    assert!(!script.contains("SWEEP_BENCH_REQUESTS_PER_CONCURRENCY"));
}

#[test]
fn header_values_are_checked() {
    let fx = fixture("js_header");
    let o = submit(&fx, &["--job-name", "my job"], "");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "sweep-submit: --job-name \"my job\" cannot go on an #SBATCH line: it contains ' ' (no whitespace, quotes, backslashes, '#' or control characters)\n"
    );
    let o = submit(&fx, &["--account", "a\nb"], "");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "sweep-submit: --account \"a\\nb\" cannot go on an #SBATCH line: it contains '\\n' (no whitespace, quotes, backslashes, '#' or control characters)\n"
    );
    let o = submit(&fx, &["--gpu-type", "../etc"], "");
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        "sweep-submit: --gpu-type \"../etc\": expected a name made of letters, digits, '.', '_', '-' or '+'\n"
    );
    let empty = fx.dir.join("model").display().to_string();
    let o = submit(&fx, &["--scripts-dir", &empty], "");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        normalize(&stderr(&o), &fx),
        "sweep-submit: --scripts-dir @TMP@/model: worker_setup.py not found (every node runs it)\n"
    );
}

/// Hostile values never reach the script unquoted: the sweep's values stay in the config file,
/// and every path or option value is single-quoted.
#[test]
fn hostile_values_are_quoted() {
    let fx = fixture("js_hostile_quote");
    let evil = "x'; touch /tmp/js-pwned-static; echo '$(touch /tmp/js-pwned-static)`id`\n";
    // Hostile parent of the sweep directory (the sweep directory's own name ends up in the
    // log path, which goes on an #SBATCH line).
    let sweep = fx.dir.join(evil.trim_end()).join("sweep");
    std::fs::create_dir_all(&sweep).unwrap();
    let fx2 = Fixture {
        dir: fx.dir.clone(),
        sweep_dir: sweep,
        out_dir: fx.out_dir.clone(),
    };
    let rec = agg(&fx2, 0, 1, 1, json!({"served-model-name": evil}));
    let model = fx.dir.join("m $(touch /tmp/js-pwned-static) 'q'");
    std::fs::create_dir_all(&model).unwrap();
    let md = model.display().to_string();
    let log = fx.dir.join("logs").display().to_string();
    let o = submit(&fx2, &["--model-dir", &md, "--log-dir", &log], &rec);
    let s = script_of(&records(&o)[0]);
    assert!(s.contains("'\\''q'\\''"), "{s}");
    assert!(!s.contains("served-model-name"));
    // bash -n: the script still parses.
    let check = Command::new("bash")
        .arg("-n")
        .arg(records(&o)[0]["job_script"].as_str().unwrap())
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", stderr(&check));
}

const SEED_STYLE: &str = "seed_style.j2";

/// The variables docs/jobscript.md promises, built independently of the program.
fn template_vars(fx: &Fixture, rec: &Value, recs: &Value) -> Value {
    let log_dir = recs["log_dir"].clone();
    let mut a = json!({
        "job_name": "sweep_job_sweep5", "total_nodes": 3, "account": "sweepacct",
        "time_limit": "00:05:00", "log_dir_prefix": log_dir, "partition": "batch",
        "prefill_nodes": 2, "decode_nodes": 1, "prefill_workers": 2, "decode_workers": 1,
        "agg_nodes": 0, "agg_workers": 0, "is_aggregated": false,
        "model_dir": fx.dir.join("model").display().to_string(),
        "config_dir": fx.dir.join("configs").display().to_string(),
        "container_image": "img.sqsh", "gpus_per_node": 8, "network_interface": "lo",
        "gpu_type": "demo", "script_variant": "max-tpt", "timestamp": "20251113_123456",
        "enable_multiple_frontends": false, "num_additional_frontends": 9,
        "use_init_location": true, "enable_config_dump": true, "use_dynamo_whls": false,
    });
    let b = json!({
        "do_profile": true, "profiler_type": "sglang", "profiler_arg": " 1024 128 4x8 inf",
        "isl": "1024", "osl": "128", "concurrencies": "4x8", "req_rate": "inf",
        "sglang_config": "/sweep/sglang_config_5.yaml",
        "sglang_config_path": "/sweep/sglang_config_5.yaml",
        "sglang_config_host_path": rec["config_path"],
        "log_dir": log_dir,
        "job_log_dir": format!("{}/$SLURM_JOB_ID", log_dir.as_str().unwrap()),
        "failed_step_file": format!("{}/$SLURM_JOB_ID/failed_step", log_dir.as_str().unwrap()),
        "scripts_dir": demo_scripts(),
        "sweep_dir": fx.sweep_dir.display().to_string(),
        "script_path": recs["job_script"], "tag": recs["tag"],
        "record": rec,
    });
    a.as_object_mut()
        .unwrap()
        .extend(b.as_object().unwrap().clone());
    a
}

/// A template in the seed's Jinja2 style renders the same in minijinja and Python's Jinja2.
#[test]
fn template_matches_jinja2() {
    let fx = fixture("js_jinja2");
    let line = disagg(&fx, 5, [2, 2, 1, 1], sglang(), Value::Null);
    let rec: Value = serde_json::from_str(&line).unwrap();
    let tpl = repo()
        .join("tests/data/jobscript")
        .join(SEED_STYLE)
        .display()
        .to_string();
    let args = [
        "--template",
        &tpl,
        "--container-image",
        "img.sqsh",
        "--use-init-location",
        "--profiler",
        "type=sglang; isl=1024; osl=128; concurrencies=4x8; req-rate=inf",
    ];
    let o = submit_env(&fx, &args, &line, &[("SWEEP_TIMESTAMP", "20251113_123456")]);
    let out = records(&o);
    let ours = script_of(&out[0]);
    assert!(
        ours.contains("PROFILER_ARGS=\" 1024 128 4x8 inf\""),
        "{ours}"
    );
    let vars = template_vars(&fx, &rec, &out[0]);
    let vars_path = fx.dir.join("vars.json");
    std::fs::write(&vars_path, vars.to_string()).unwrap();
    let py = Command::new("python3")
        .arg("-c")
        .arg("import json, sys, jinja2\nenv = jinja2.Environment(undefined=jinja2.StrictUndefined)\nt = env.from_string(open(sys.argv[1]).read())\nsys.stdout.write(t.render(**json.load(open(sys.argv[2]))))")
        .arg(&tpl)
        .arg(&vars_path)
        .output();
    match py {
        Ok(p) if p.status.success() => {
            let theirs = String::from_utf8(p.stdout).unwrap();
            assert!(ours == theirs, "minijinja and Jinja2 differ:\n{}", diff(&theirs, &ours));
        }
        _ => eprintln!("NOTE template_matches_jinja2: python3 with jinja2 not available; comparing with the checked-in output"),
    }
    golden("seed_style.expected", &normalize(&ours, &fx));
}

#[test]
fn template_undefined_variable_is_an_error_with_its_line() {
    let fx = fixture("js_tpl_undefined");
    let tpl = fx.dir.join("t.j2");
    std::fs::write(
        &tpl,
        "#!/bin/bash\n#SBATCH --nodes={{ total_nodes }}\necho {{ job_name }} {{ node_count }}\n",
    )
    .unwrap();
    let t = tpl.display().to_string();
    let o = submit(&fx, &["--template", &t], "");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        normalize(&stderr(&o), &fx),
        "sweep-submit: @TMP@/t.j2:3: undefined variable \"node_count\" (a template gets: \
         job_name, total_nodes, account, time_limit, log_dir_prefix, partition, prefill_nodes, \
         decode_nodes, prefill_workers, decode_workers, agg_nodes, agg_workers, is_aggregated, \
         model_dir, config_dir, container_image, gpus_per_node, network_interface, gpu_type, \
         script_variant, timestamp, enable_multiple_frontends, num_additional_frontends, \
         use_init_location, enable_config_dump, use_dynamo_whls, do_profile, profiler_type, \
         profiler_arg, isl, osl, concurrencies, req_rate, requests_per_concurrency, benchmark_json, sglang_config, sglang_config_path, \
         sglang_config_host_path, log_dir, job_log_dir, failed_step_file, scripts_dir, sweep_dir, script_path, tag, record)\n"
    );
    // An attribute that does not exist is found at render time, with its expression.
    std::fs::write(&tpl, "#!/bin/bash\n\n{{ record.parameters.slurm.prefill_nodes }}\n{{ record.parameters.nope }}\n").unwrap();
    let rec = disagg(&fx, 0, [1, 1, 1, 1], sglang(), Value::Null);
    let o = submit(&fx, &["--template", &t], &rec);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        normalize(&stderr(&o), &fx),
        "sweep-submit: @TMP@/t.j2:4: undefined value `record.parameters.nope`\n"
    );
}

#[test]
fn template_gets_python_string_methods_and_a_quoting_filter() {
    let fx = fixture("js_tpl_methods");
    let tpl = fx.dir.join("t.j2");
    std::fs::write(&tpl, "{% if log_dir.startswith('/') %}abs{% endif %} {{ gpu_type.upper() }} {{ \"it's\" | sh }}\n").unwrap();
    let t = tpl.display().to_string();
    let rec = agg(&fx, 0, 1, 1, sglang());
    let o = submit(&fx, &["--template", &t], &rec);
    assert_eq!(script_of(&records(&o)[0]), "abs DEMO 'it'\\''s'");
}

#[test]
fn missing_config_file_is_an_error() {
    let fx = fixture("js_missing_config");
    let rec = agg(&fx, 0, 1, 1, sglang());
    std::fs::remove_file(fx.sweep_dir.join("sglang_config_0.yaml")).unwrap();
    let o = submit(&fx, &[], &rec);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        normalize(&stderr(&o), &fx),
        "sweep-submit: <stdin>:1: config_path @TMP@/sweep/sglang_config_0.yaml: no such file\n"
    );
}

/// Same records and options, same script bytes (the built-in script has no timestamp).
#[test]
fn scripts_are_deterministic() {
    let fx = fixture("js_determinism");
    let rec = disagg(&fx, 0, [2, 2, 2, 1], sglang(), Value::Null);
    let first = script_of(&records(&submit(&fx, &[], &rec))[0]);
    let second = script_of(&records(&submit(&fx, &[], &rec))[0]);
    assert_eq!(first, second);
}

#[test]
fn template_syntax_error_names_its_line() {
    let fx = fixture("js_tpl_syntax");
    let tpl = fx.dir.join("t.j2");
    std::fs::write(
        &tpl,
        "#!/bin/bash\n{% if total_nodes %}\necho {{ job_name }\n",
    )
    .unwrap();
    let t = tpl.display().to_string();
    let o = submit(&fx, &["--template", &t], "");
    assert_eq!(o.status.code(), Some(1));
    let err = normalize(&stderr(&o), &fx);
    assert!(
        err.starts_with("sweep-submit: @TMP@/t.j2:3: syntax error: "),
        "{err}"
    );
}

/// Runs a rendered script under bash with stand-in `scontrol` and `srun` (nodes gpu-001..004
/// at 10.0.0.1..4, every `srun` argv logged as a JSON line, every step exiting 0): checks
/// what the local cluster cannot show, distinct addresses and the pyxis arguments.
/// The job ID the fake Slurm runs a script under: its steps write to `<log_dir>/4242/`.
const FAKE_JOB_ID: &str = "4242";

fn run_with_fake_slurm(fx: &Fixture, script: &str) -> (Output, Vec<Vec<String>>) {
    let bindir = fx.dir.join("fakebin");
    std::fs::create_dir_all(&bindir).unwrap();
    let log = fx.dir.join("srun.log");
    let fake = |name: &str, body: &str| {
        let p = bindir.join(name);
        std::fs::write(&p, format!("#!/bin/bash\n{body}")).unwrap();
        Command::new("chmod").arg("+x").arg(&p).status().unwrap();
    };
    fake("scontrol", "printf 'gpu-%03d\\n' 1 2 3 4\n");
    fake(
        "srun",
        "python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \"$@\" >> \"$FAKE_SRUN_LOG\"\n\
         for a in \"$@\"; do [ \"$a\" = --ntasks-per-node=1 ] && printf 'gpu-%03d 10.0.0.%d\\n' 1 1 2 2 3 3 4 4; done\nexit 0\n",
    );
    let path = format!("{}:{}", bindir.display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash")
        .arg(script)
        .env("PATH", path)
        .env("SLURM_JOB_NODELIST", "gpu-[001-004]")
        .env("SLURM_JOB_ID", FAKE_JOB_ID)
        .env("FAKE_SRUN_LOG", &log)
        .output()
        .unwrap();
    let calls = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (out, calls)
}

/// The words after `flag` in `argv`.
fn after<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
    argv.iter()
        .position(|a| a == flag)
        .and_then(|i| argv.get(i + 1))
        .map(String::as_str)
}

#[test]
fn container_layout_with_distinct_addresses() {
    let fx = fixture("js_fake_container");
    let rec = disagg(&fx, 0, [2, 2, 2, 1], sglang(), Value::Null);
    let flags = [
        "--container-image",
        "registry/sglang:v1",
        "--enable-multiple-frontends",
        "--num-additional-frontends",
        "1",
        "--pass-config-key",
    ];
    let o = submit(&fx, &flags, &rec);
    let out = &records(&o)[0];
    let (run, calls) = run_with_fake_slurm(&fx, out["job_script"].as_str().unwrap());
    assert!(run.status.success(), "{}{}", stdout(&run), stderr(&run));
    // Everything the steps write goes to the job's own directory, <log_dir>/<job ID>.
    let log = format!("{}/{FAKE_JOB_ID}", out["log_dir"].as_str().unwrap());
    let mounts = format!(
        "--container-mounts={d}/model:/model/,{d}/configs:/configs/,{s}:/scripts/,{log}:/logs/,{log}/outputs:/outputs/,{d}/sweep:/sweep/",
        d = fx.dir.display(),
        s = demo_scripts()
    );
    let launches: Vec<&Vec<String>> = calls
        .iter()
        .filter(|c| c.contains(&"--overlap".to_string()))
        .collect();
    // nginx, 2 frontends, 2 prefill, 2 decode.
    assert_eq!(launches.len(), 7, "{calls:?}");
    for argv in &launches {
        for w in [
            "--container-image=registry/sglang:v1",
            "--no-container-entrypoint",
            mounts.as_str(),
        ] {
            assert!(argv.iter().any(|a| a == w), "{w} missing in {argv:?}");
        }
        assert_eq!(
            after(argv, "--master_ip"),
            Some("10.0.0.2"),
            "master = node 1 behind nginx"
        );
        assert_eq!(
            after(argv, "--sglang-config-path"),
            Some("/sweep/sglang_config_0.yaml")
        );
    }
    let find = |node: &str, role: &str| {
        launches
            .iter()
            .find(|a| {
                a.contains(&format!("--nodelist={node}")) && after(a, "--worker_type") == Some(role)
            })
            .unwrap_or_else(|| panic!("no {role} on {node}: {launches:?}"))
    };
    let p1 = find("gpu-002", "prefill");
    assert_eq!(
        (
            after(p1, "--leader_ip"),
            after(p1, "--worker_idx"),
            after(p1, "--config-key")
        ),
        (Some("10.0.0.2"), Some("1"), Some("prefill"))
    );
    assert!(p1.iter().any(|a| a == "/scripts/worker_setup.py"));
    assert!(p1.iter().any(|a| a == "SGLANG_CONFIG_KEY=prefill"));
    let d1 = find("gpu-004", "decode");
    assert_eq!(
        (
            after(d1, "--leader_ip"),
            after(d1, "--local_rank"),
            after(d1, "--config-key")
        ),
        (Some("10.0.0.3"), Some("1"), Some("decode"))
    );
    assert_eq!(
        after(find("gpu-003", "frontend"), "--worker_idx"),
        Some("1")
    );
    assert_eq!(
        after(find("gpu-001", "nginx"), "--nginx_config"),
        Some("/logs/nginx.conf")
    );
    let nginx = std::fs::read_to_string(format!("{log}/nginx.conf")).unwrap();
    let servers: Vec<&str> = nginx
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("server ") && l.ends_with(":8000;"))
        .collect();
    assert_eq!(servers, ["server 10.0.0.2:8000;", "server 10.0.0.3:8000;"]);
}
