//! sweep-render: config files the engine's own reader (PyYAML) reads back as the records' values,
//! records with their paths, idempotence, overwrite refusal, and every error path.

use crate::common::{run, run_in, sh, stderr, stdout, temp_dir};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The seed README's disaggregated example as sweep-expand emits it.
const SEED_DISAGG: &str = r#"{"index":0,"id":"5e0d9a1f2b3c4d5e","mode":"disagg","total_nodes":18,"parameters":{"slurm":{"prefill_nodes":6,"decode_nodes":12,"prefill_workers":3,"decode_workers":1},"sglang":{"max-running-requests":5632,"context-length":2176,"mem-fraction-static":0.82}},"sweep_file":"/home/u/sweep.yaml"}"#;

/// The seed README's aggregated example.
const SEED_AGG: &str = r#"{"index":0,"id":"0a1b2c3d4e5f6071","mode":"agg","total_nodes":12,"parameters":{"slurm":{"agg_nodes":12,"agg_workers":3},"sglang":{"max-running-requests":5632,"context-length":2176,"mem-fraction-static":0.82}}}"#;

/// Loads each file with PyYAML's `yaml.safe_load`, the engine's own reader, as JSON.
fn pyyaml(paths: &[PathBuf]) -> Vec<Value> {
    let script = "import json, sys, yaml\nfor p in sys.argv[1:]:\n    with open(p, encoding='utf-8') as f:\n        print(json.dumps(yaml.safe_load(f)))";
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(paths)
        .output()
        .expect("python3 with PyYAML is needed for these tests (pip install pyyaml)");
    assert!(
        out.status.success(),
        "PyYAML could not read {paths:?} (is PyYAML installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Compares as JSON text, so that key order and int/float counts too (map equality ignores
/// order); floats as the f64 they stand for (numbers keep their text: Python writes `1e-07`
/// for the record's `1e-7`).
fn assert_same(actual: &Value, expected: &Value, what: &str) {
    assert_eq!(
        serde_json::to_string(&floats_as_f64(actual)).unwrap(),
        serde_json::to_string(&floats_as_f64(expected)).unwrap(),
        "{what}"
    );
}

/// `v` with every non-integer number rewritten in the shortest form of its f64.
fn floats_as_f64(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.as_i64().is_none() && n.as_u64().is_none() => {
            let f: f64 = n.to_string().parse().unwrap();
            Value::Number(serde_json::Number::from_f64(f).unwrap())
        }
        Value::Array(items) => Value::Array(items.iter().map(floats_as_f64).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), floats_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Names of the entries of `dir`, sorted, without the sweep's own state (`.sweep/`).
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".sweep")
        .collect();
    names.sort();
    names
}

#[test]
fn seed_disagg_example_gives_prefill_and_decode_sections() {
    let dir = temp_dir("render_seed_disagg");
    let out = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap()],
        &format!("{SEED_DISAGG}\n"),
    );
    assert_eq!(stderr(&out), "");
    assert!(out.status.success());
    let d = dir.display();
    let expected_record = format!(
        "{},\"sweep_dir\":\"{d}\",\"config_path\":\"{d}/sglang_config_0.yaml\"}}\n",
        SEED_DISAGG.strip_suffix('}').unwrap()
    );
    assert_eq!(stdout(&out), expected_record);
    let file = dir.join("sglang_config_0.yaml");
    assert_eq!(
        read(&file),
        "# sglang_config_0.yaml (disaggregated): dynamo.sglang --config FILE --config-key prefill|decode\n\
         prefill:\n  max-running-requests: 5632\n  context-length: 2176\n  mem-fraction-static: 0.82\n\
         decode:\n  max-running-requests: 5632\n  context-length: 2176\n  mem-fraction-static: 0.82\n"
    );
    let values =
        json!({"max-running-requests": 5632, "context-length": 2176, "mem-fraction-static": 0.82});
    let expected = json!({"prefill": values, "decode": values});
    assert_same(&pyyaml(&[file])[0], &expected, "seed disagg example");
    assert_eq!(entries(&dir), ["sglang_config_0.yaml"], "no temp file left");
}

#[test]
fn seed_agg_example_gives_a_flat_mapping() {
    let dir = temp_dir("render_seed_agg");
    let out = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap()],
        &format!("{SEED_AGG}\n"),
    );
    assert_eq!(stderr(&out), "");
    let file = dir.join("sglang_config_0.yaml");
    assert_eq!(
        read(&file),
        "# sglang_config_0.yaml (aggregated): dynamo.sglang --config FILE\n\
         max-running-requests: 5632\ncontext-length: 2176\nmem-fraction-static: 0.82\n"
    );
    let expected =
        json!({"max-running-requests": 5632, "context-length": 2176, "mem-fraction-static": 0.82});
    assert_same(&pyyaml(&[file])[0], &expected, "seed agg example");
    let record: Value = serde_json::from_str(stdout(&out).trim_end()).unwrap();
    assert_eq!(
        record["config_path"],
        json!(format!("{}/sglang_config_0.yaml", dir.display()))
    );
}

#[test]
fn per_role_values_land_in_their_own_section_only() {
    let dir = temp_dir("render_per_role");
    let line = r#"{"index":7,"id":"x","mode":"disagg","parameters":{"slurm":{"prefill_nodes":6,"decode_nodes":12,"prefill_workers":3,"decode_workers":1},"sglang":{"context-length":2176,"kv-cache-dtype":"fp8_e4m3","max-running-requests":5632}},"role_parameters":{"prefill":{"chunked-prefill-size":262144,"max-running-requests":1024},"decode":{"cuda-graph-bs":[1,2,4,8,16],"max-running-requests":8000}}}"#;
    let out = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap()],
        &format!("{line}\n"),
    );
    assert_eq!(stderr(&out), "");
    let file = dir.join("sglang_config_7.yaml");
    // A role's value replaces the common one in place; its own new keys follow in order.
    let expected = json!({
        "prefill": {"context-length": 2176, "kv-cache-dtype": "fp8_e4m3", "max-running-requests": 1024, "chunked-prefill-size": 262144},
        "decode": {"context-length": 2176, "kv-cache-dtype": "fp8_e4m3", "max-running-requests": 8000, "cuda-graph-bs": [1, 2, 4, 8, 16]},
    });
    assert_same(
        &pyyaml(std::slice::from_ref(&file))[0],
        &expected,
        "per-role",
    );
    assert_eq!(
        read(&file),
        "# sglang_config_7.yaml (disaggregated): dynamo.sglang --config FILE --config-key prefill|decode\n\
         prefill:\n  context-length: 2176\n  kv-cache-dtype: fp8_e4m3\n  max-running-requests: 1024\n  chunked-prefill-size: 262144\n\
         decode:\n  context-length: 2176\n  kv-cache-dtype: fp8_e4m3\n  max-running-requests: 8000\n  cuda-graph-bs: [1, 2, 4, 8, 16]\n"
    );
}

#[test]
fn shared_lists_are_written_out_without_anchors() {
    // The seed's shallow copy made PyYAML write `&id001` / `*id001` for values both roles share.
    let dir = temp_dir("render_no_anchors");
    let line = r#"{"index":0,"id":"x","mode":"disagg","parameters":{"slurm":{},"sglang":{"cuda-graph-bs":[1,2,4],"nested":[[1,2],[3]],"map":{"a":[1]}}}}"#;
    let out = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap()],
        &format!("{line}\n"),
    );
    assert_eq!(stderr(&out), "");
    let text = read(&dir.join("sglang_config_0.yaml"));
    assert!(!text.contains('&') && !text.contains('*'), "{text}");
    assert_eq!(
        text.matches("cuda-graph-bs: [1, 2, 4]\n").count(),
        2,
        "both roles spell the list out:\n{text}"
    );
}

/// Strings that YAML 1.1 (PyYAML) or YAML 1.2 would read as something else, or that need
/// quoting or escaping to survive at all.
const AWKWARD: &[&str] = &[
    "on",
    "off",
    "On",
    "OFF",
    "yes",
    "no",
    "Yes",
    "NO",
    "y",
    "n",
    "Y",
    "N",
    "true",
    "True",
    "FALSE",
    "null",
    "Null",
    "NULL",
    "~",
    "",
    " ",
    "1e3",
    "1E3",
    "1.0",
    "1",
    "-1",
    "+1",
    "007",
    "0x1F",
    "0o17",
    "0b101",
    "1_000",
    "1:30",
    "190:20:30",
    "2024-01-01",
    "2001-12-14t21:59:43.10-05:00",
    ".inf",
    "-.inf",
    "+.inf",
    ".nan",
    ".NaN",
    "NaN",
    "inf",
    "-",
    "- a",
    "--x",
    "---",
    "...",
    "<<",
    "=",
    "a: b",
    "a:",
    ":a",
    "a #b",
    "a#b",
    "#a",
    "? x",
    "?x",
    "!tag",
    "&a",
    "*a",
    "|",
    ">",
    "'q'",
    "\"q\"",
    "%x",
    "@x",
    "`x",
    "  lead",
    "trail  ",
    "1.2.3",
    "fp8_e4m3",
    "http://host:80/a#b",
    "[1]",
    "{a: 1}",
    "a,b",
    "a]b",
    "tab\there",
    "line\nbreak",
    "cr\rhere",
    "back\\slash",
    "nul\0",
    "del\u{7f}",
    "nel\u{85}",
    "caf\u{e9}",
    "\u{65e5}\u{672c}",
    "\u{2028}",
    "\u{feff}bom",
    "\u{1f600}",
    "trtllm_mla",
    "-0",
    "+",
];

#[test]
fn values_keep_their_types_through_pyyaml_and_a_yaml_1_2_reader() {
    let dir = temp_dir("render_types");
    let mut sglang = Map::new();
    sglang.insert("int".into(), json!(5632));
    sglang.insert("negative".into(), json!(-3));
    sglang.insert("big".into(), json!(u64::MAX));
    for (i, f) in [
        1.0,
        0.82,
        -0.0,
        1e20,
        1e-7,
        123456789.125,
        -2.5e-300,
        1e16,
        0.0001,
    ]
    .into_iter()
    .enumerate()
    {
        sglang.insert(format!("float{i}"), json!(f));
    }
    sglang.insert("bool".into(), json!(true));
    sglang.insert("off".into(), json!(false));
    sglang.insert("none".into(), Value::Null);
    sglang.insert("ints".into(), json!([1, 2, 4, 8]));
    sglang.insert("nested".into(), json!([[1, 2], [], [3, [4.0, "x"]]]));
    sglang.insert("empty-map".into(), json!({}));
    sglang.insert("map-in-list".into(), json!([{"a": 1, "on": "off"}, {}]));
    sglang.insert("deep".into(), json!({"a": {"b": {"c": [1]}}, "y": "n"}));
    for (i, s) in AWKWARD.iter().enumerate() {
        sglang.insert(format!("s{i}"), json!(s));
        sglang.insert((*s).to_string(), json!(i)); // the same strings as keys
    }
    sglang.insert("in-a-list".into(), json!(AWKWARD));
    let keyed: Map<String, Value> = AWKWARD.iter().map(|s| (s.to_string(), json!(s))).collect();
    sglang.insert("in-a-flow-map".into(), json!([keyed]));
    let record = json!({"index": 3, "id": "t", "mode": "agg", "parameters": {"slurm": {}, "sglang": sglang}});
    let out = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap()],
        &format!("{record}\n"),
    );
    assert_eq!(stderr(&out), "");
    let file = dir.join("sglang_config_3.yaml");
    let expected = Value::Object(sglang);
    assert_same(&pyyaml(std::slice::from_ref(&file))[0], &expected, "PyYAML");
    let yaml12: Value = serde_yaml::from_str(&read(&file)).unwrap();
    assert_same(&yaml12, &expected, "serde_yaml (YAML 1.2)");
    let text = read(&file);
    assert!(text.is_ascii(), "non-ASCII is escaped:\n{text}");
    for line in [
        "float0: 1.0\n",
        "float3: 1.0e+20\n",
        "float4: 1.0e-7\n",
        "bool: true\n",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
}

#[test]
fn floats_pass_through_to_the_last_bit() {
    // serde_json's default parser reads about one float in twenty one ULP off (these three
    // among them): the record and the config then held a value the sweep never had.
    let dir = temp_dir("render_float_bits");
    let line = r#"{"index":0,"id":"f","mode":"agg","parameters":{"slurm":{},"sglang":{"a":0.9477416010037529,"b":0.0009321029604194967,"c":2.7715077941825975e-163}}}"#;
    let out = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap()],
        &format!("{line}\n"),
    );
    assert_eq!(stderr(&out), "");
    let d = dir.display();
    assert_eq!(
        stdout(&out),
        format!(
            "{},\"sweep_dir\":\"{d}\",\"config_path\":\"{d}/sglang_config_0.yaml\"}}\n",
            line.strip_suffix('}').unwrap()
        )
    );
    assert_eq!(
        read(&dir.join("sglang_config_0.yaml")),
        "# sglang_config_0.yaml (aggregated): dynamo.sglang --config FILE\n\
         a: 0.9477416010037529\nb: 0.0009321029604194967\nc: 2.7715077941825975e-163\n"
    );
}

/// Tiny deterministic generator, so a failure can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn random_strings_from_yaml_syntax_round_trip() {
    let alphabet: Vec<char> = "aeynoxtrufl0129 :#-?,[]{}&*!|>'\"%@`~.+_\\<=\t\n\r\0\u{7f}\u{85}\u{e9}\u{2028}\u{feff}\u{1f600}"
        .chars()
        .collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut sglang = Map::new();
    let mut list = Vec::new();
    for i in 0..3000 {
        let len = (rng.next() % 7) as usize;
        let s: String = (0..len)
            .map(|_| alphabet[(rng.next() % alphabet.len() as u64) as usize])
            .collect();
        sglang.insert(format!("v{i}"), json!(s));
        sglang.insert(s.clone(), json!(i));
        list.push(json!(s));
    }
    sglang.insert("list".into(), json!(list));
    let record = json!({"index": 0, "id": "r", "mode": "agg", "parameters": {"slurm": {}, "sglang": sglang}});
    let dir = temp_dir("render_random_strings");
    let out = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap()],
        &format!("{record}\n"),
    );
    assert_eq!(stderr(&out), "");
    let file = dir.join("sglang_config_0.yaml");
    let expected = Value::Object(sglang);
    assert_same(&pyyaml(std::slice::from_ref(&file))[0], &expected, "PyYAML");
    let yaml12: Value = serde_yaml::from_str(&read(&file)).unwrap();
    assert_same(&yaml12, &expected, "serde_yaml (YAML 1.2)");
}

/// `n` disagg records in the seed's shape, indexes from 0, some with per-role values.
fn records(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        let roles = if i % 3 == 0 {
            r#","role_parameters":{"decode":{"cuda-graph-bs":[1,2,4,8]}}"#
        } else {
            ""
        };
        text.push_str(&format!(
            r#"{{"index":{i},"id":"{i:016x}","mode":"disagg","parameters":{{"slurm":{{"prefill_nodes":6,"decode_nodes":12,"prefill_workers":3,"decode_workers":1}},"sglang":{{"max-running-requests":{},"mem-fraction-static":0.82}}}}{roles}}}"#,
            5000 + i
        ));
        text.push('\n');
    }
    text
}

fn ino(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn rendering_again_into_the_same_directory_is_a_no_op() {
    let dir = temp_dir("render_idempotent");
    let args = ["--out-dir", dir.to_str().unwrap()];
    let input = records(4);
    let first = run("sweep-render", &args, &input);
    assert_eq!(stderr(&first), "");
    let inodes: Vec<u64> = (0..4)
        .map(|i| ino(&dir.join(format!("sglang_config_{i}.yaml"))))
        .collect();
    let second = run("sweep-render", &args, &input);
    assert_eq!(stderr(&second), "");
    assert!(second.status.success());
    assert_eq!(stdout(&second), stdout(&first));
    for (i, inode) in inodes.iter().enumerate() {
        let path = dir.join(format!("sglang_config_{i}.yaml"));
        assert_eq!(ino(&path), *inode, "{} was rewritten", path.display());
    }
}

#[test]
fn a_different_existing_config_is_refused_unless_forced() {
    let dir = temp_dir("render_overwrite");
    let args = ["--out-dir", dir.to_str().unwrap()];
    assert_eq!(stderr(&run("sweep-render", &args, &records(2))), "");
    let path = dir.join("sglang_config_1.yaml");
    let before = read(&path);
    let changed = records(2).replace("5001", "6001");
    let out = run("sweep-render", &args, &changed);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "sweep-render: <stdin>:2: {} already exists with different content: the record's values no longer match its id, or the file was edited (--force replaces it, and the job that used it then no longer matches it)\n",
            path.display()
        )
    );
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "record 0 was unchanged and printed"
    );
    assert_eq!(read(&path), before, "the refused file is untouched");

    let forced = run(
        "sweep-render",
        &["--force", "--out-dir", dir.to_str().unwrap()],
        &changed,
    );
    assert_eq!(stderr(&forced), "");
    assert!(forced.status.success());
    assert!(read(&path).contains("max-running-requests: 6001"));
    assert_eq!(
        entries(&dir),
        ["sglang_config_0.yaml", "sglang_config_1.yaml"]
    );
}

#[test]
fn force_never_lets_two_records_of_one_run_share_a_file() {
    let dir = temp_dir("render_force_duplicate");
    let input = format!("{}{}", records(1), records(1).replace("5000", "7000"));
    let out = run(
        "sweep-render",
        &["--force", "--out-dir", dir.to_str().unwrap()],
        &input,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "sweep-render: <stdin>:2: index 0 was already rendered in this run with a different config ({}/sglang_config_0.yaml)\n",
            dir.display()
        )
    );
    assert!(read(&dir.join("sglang_config_0.yaml")).contains("5000"));
    // Also when the first record's file was already there from an earlier run, identical.
    let out = run(
        "sweep-render",
        &["--force", "--out-dir", dir.to_str().unwrap()],
        &input,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "sweep-render: <stdin>:2: index 0 was already rendered in this run with a different config ({}/sglang_config_0.yaml)\n",
            dir.display()
        )
    );
    assert!(read(&dir.join("sglang_config_0.yaml")).contains("5000"));
    // The same record twice is fine: same file.
    let twice = format!("{}{}", records(1), records(1));
    let out = run(
        "sweep-render",
        &["--force", "--out-dir", dir.to_str().unwrap()],
        &twice,
    );
    assert_eq!(stderr(&out), "");
    assert_eq!(stdout(&out).lines().count(), 2);
}

#[test]
fn bad_lines_stop_with_their_position_after_earlier_records_are_out() {
    let cases = [
        (
            "not json",
            "<stdin>:3: invalid record: expected ident at line 1 column 2",
        ),
        (
            "[1,2]",
            "<stdin>:3: invalid record: expected a JSON object, found an array",
        ),
        (
            r#"{"id":"x"}"#,
            "<stdin>:3: invalid record: missing field `index`",
        ),
        (
            r#"{"index":2,"id":"x","mode":"both","parameters":{"slurm":{}}}"#,
            "<stdin>:3: invalid record: mode: unknown variant `both`, expected `disagg` or `agg`",
        ),
        (
            r#"{"index":2,"id":"x","mode":"a\nb","parameters":{"slurm":{}}}"#,
            r"<stdin>:3: invalid record: mode: unknown variant `a\nb`, expected `disagg` or `agg`",
        ),
        // Issue 11 (9): a field of the wrong type is named by its path, flattened ones too.
        (
            r#"{"index":2,"id":"x","mode":"agg","parameters":{"slurm":{},"sglang":"fast"}}"#,
            r#"<stdin>:3: invalid record: parameters.sglang: invalid type: string "fast", expected a map"#,
        ),
        (
            r#"{"index":2,"id":"x","mode":"disagg","parameters":{"slurm":{}},"role_parameters":{"prefill":[1]}}"#,
            "<stdin>:3: invalid record: role_parameters.prefill: invalid type: sequence, expected a map",
        ),
        (
            r#"{"index":"2","id":"x","mode":"agg","parameters":{"slurm":{}}}"#,
            r#"<stdin>:3: invalid record: index: invalid type: string "2", expected u64"#,
        ),
        (
            r#"{"index":2,"id":"x","mode":"agg","parameters":{"sglang":{}}}"#,
            "<stdin>:3: invalid record: parameters: missing field `slurm`",
        ),
        (
            r#"{"index":2,"id":"x","mode":"agg","parameters":{"slurm":{}},"history":[{"job_id":7}]}"#,
            "<stdin>:3: invalid record: history[0].job_id: invalid type: integer `7`, expected a string",
        ),
        (
            r#"{"index":2,"id":"x","mode":"agg","parameters":{"slurm":{}},"retry_states":["FAILED",3]}"#,
            "<stdin>:3: invalid record: retry_states[1]: invalid type: integer `3`, expected a string",
        ),
        (
            r#"{"index":2,"id":"x","mode":"agg","parameters":{"slurm":{},"sglang":{"a":1}},"role_parameters":{"decode":{"a":2}}}"#,
            "<stdin>:3: invalid record: role_parameters are for disagg records, this one is agg",
        ),
    ];
    for (i, (bad, message)) in cases.iter().enumerate() {
        let dir = temp_dir(&format!("render_bad_line_{i}"));
        // A blank line counts: positions are lines of the input.
        let input = format!("{}\n{bad}\n{}", records(1), records(3));
        let out = run(
            "sweep-render",
            &["--out-dir", dir.to_str().unwrap()],
            &input,
        );
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert_eq!(stderr(&out), format!("sweep-render: {message}\n"), "{bad}");
        let printed = stdout(&out);
        assert_eq!(
            printed.lines().count(),
            1,
            "record before the bad line: {printed}"
        );
        assert!(printed.contains(r#""config_path""#));
        assert_eq!(entries(&dir), ["sglang_config_0.yaml"], "{bad}");
        assert_eq!(pyyaml(&[dir.join("sglang_config_0.yaml")]).len(), 1);
    }
}

#[test]
fn positions_name_the_input_file() {
    let dir = temp_dir("render_named_inputs");
    std::fs::write(dir.join("a.jsonl"), records(2)).unwrap();
    std::fs::write(dir.join("b.jsonl"), format!("{}oops\n", records(1))).unwrap();
    let out = run_in(
        "sweep-render",
        &["--out-dir", "out", "a.jsonl", "-", "b.jsonl"],
        &records(3).lines().nth(2).map(|l| format!("{l}\n")).unwrap(),
        Some(&dir),
    );
    assert_eq!(
        stderr(&out),
        "sweep-render: b.jsonl:2: invalid record: expected value at line 1 column 1\n"
    );
    let indexes: Vec<u64> = stdout(&out)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["index"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(indexes, [0, 1, 2, 0], "a.jsonl, then stdin, then b.jsonl");

    let out = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap(), "no/such.jsonl"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "sweep-render: failed to open no/such.jsonl: No such file or directory (os error 2)\n"
    );
}

#[test]
fn a_line_that_is_not_utf8_is_named_by_its_position() {
    let dir = temp_dir("render_not_utf8");
    let mut bytes = records(1).into_bytes();
    bytes.extend_from_slice(b"{\"index\":1,\"note\":\"caf\xe9\"}\n");
    std::fs::write(dir.join("latin1.jsonl"), bytes).unwrap();
    let out = run_in(
        "sweep-render",
        &["--out-dir", "out", "latin1.jsonl"],
        "",
        Some(&dir),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "sweep-render: latin1.jsonl:2: invalid record: stream did not contain valid UTF-8\n"
    );
    assert_eq!(stdout(&out).lines().count(), 1, "record 1 is out");
}

#[test]
fn records_without_sglang_values_get_their_sweep_dir_and_no_file() {
    // They are still part of the sweep: sweep-submit saves their job scripts there, and
    // sweep-collect --reconcile finds their jobs by the sweep directory.
    let dir = temp_dir("render_no_sglang");
    let input = concat!(
        r#"{"index":0,"id":"a","mode":"agg","parameters":{"slurm":{"agg_nodes":2,"agg_workers":1}},"mine":[1,{"z":0}]}"#,
        "\n",
        r#"{"index":1,"id":"b","mode":"disagg","parameters":{"slurm":{"prefill_nodes":1},"sglang":{}},"role_parameters":{}}"#,
        "\n"
    );
    let out = run_in("sweep-render", &["--out-dir", "s"], input, Some(&dir));
    assert_eq!(stderr(&out), "");
    let d = dir.join("s");
    assert_eq!(
        stdout(&out),
        format!(
            concat!(
                r#"{{"index":0,"id":"a","mode":"agg","parameters":{{"slurm":{{"agg_nodes":2,"agg_workers":1}},"sglang":{{}}}},"sweep_dir":"{d}","mine":[1,{{"z":0}}]}}"#,
                "\n",
                r#"{{"index":1,"id":"b","mode":"disagg","parameters":{{"slurm":{{"prefill_nodes":1}},"sglang":{{}}}},"role_parameters":{{}},"sweep_dir":"{d}"}}"#,
                "\n"
            ),
            d = d.display()
        )
    );
    assert!(entries(&d).is_empty(), "no config: {:?}", entries(&d));
}

#[test]
fn without_out_dir_each_run_gets_its_own_sweep_directory() {
    let dir = temp_dir("render_default_dir");
    let empty = run_in("sweep-render", &[], "", Some(&dir));
    assert!(empty.status.success());
    assert_eq!(stdout(&empty), "");
    assert!(entries(&dir).is_empty(), "empty input creates nothing");

    let first = run_in("sweep-render", &[], &records(1), Some(&dir));
    let second = run_in("sweep-render", &[], &records(1), Some(&dir));
    assert_eq!(stderr(&first), "");
    assert_eq!(stderr(&second), "");
    let names = entries(&dir);
    assert_eq!(names.len(), 2, "two runs, two directories: {names:?}");
    for (name, out) in names.iter().zip([&first, &second]) {
        let stamp = name.strip_prefix("sweep_").unwrap();
        assert!(stamp.len() >= 15 && stamp.as_bytes()[8] == b'_', "{name}");
        let record: Value = serde_json::from_str(stdout(out).trim_end()).unwrap();
        let sweep_dir = dir.join(name);
        assert_eq!(
            record["sweep_dir"],
            json!(sweep_dir.to_str().unwrap()),
            "{name}"
        );
        assert!(sweep_dir.join("sglang_config_0.yaml").is_file());
    }
}

#[test]
fn a_relative_out_dir_is_recorded_as_an_absolute_path() {
    let dir = temp_dir("render_relative");
    let out = run_in(
        "sweep-render",
        &["--out-dir", "sweeps/tpt"],
        &records(1),
        Some(&dir),
    );
    assert_eq!(stderr(&out), "");
    let record: Value = serde_json::from_str(stdout(&out).trim_end()).unwrap();
    let expected = dir.join("sweeps/tpt");
    assert_eq!(record["sweep_dir"], json!(expected.to_str().unwrap()));
    assert_eq!(
        record["config_path"],
        json!(expected.join("sglang_config_0.yaml").to_str().unwrap())
    );
}

#[test]
fn an_out_dir_that_cannot_be_created_is_one_clear_line() {
    let dir = temp_dir("render_out_dir_is_file");
    std::fs::write(dir.join("file"), "").unwrap();
    let target = dir.join("file/sub");
    let out = run(
        "sweep-render",
        &["--out-dir", target.to_str().unwrap()],
        &records(2),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "sweep-render: failed to create directory {}: Not a directory (os error 20)\n",
            target.display()
        )
    );
    assert_eq!(stdout(&out), "");
}

/// A small tmpfs mounted on `dir` for the test's duration (root only; the test sandbox and CI
/// run as root). `None`, loudly, when mounting is impossible.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, options: &str, test: &str) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIP {test}: cannot mount a tmpfs (needs root)");
        }
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_or_read_only_directory_names_the_path_and_leaves_no_partial_file() {
    let test = "a_full_disk_or_read_only_directory_names_the_path_and_leaves_no_partial_file";
    let dir = temp_dir("render_full_disk");
    let Some(_mounted) = Tmpfs::mount(&dir, "size=64k", test) else {
        return;
    };
    // The first record's config, while there is room; then fill the file system.
    let first = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap()],
        &records(1),
    );
    assert_eq!(stderr(&first), "");
    let config = dir.join("sglang_config_0.yaml");
    let before = read(&config);
    let _ = std::fs::write(dir.join("filler"), vec![b'x'; 256 * 1024]);
    // Replacing it (--force) is cut short when the file system is full.
    let out = run(
        "sweep-render",
        &["--force", "--out-dir", dir.to_str().unwrap()],
        &records(1).replace("5000", "5001"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "sweep-render: failed to write {}: No space left on device (os error 28)\n",
            config.display()
        )
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(read(&config), before, "the old config is whole");
    assert_eq!(
        entries(&dir),
        ["filler", "sglang_config_0.yaml"],
        "no temporary or partial config left"
    );
    // A new combination: its number still fits in the state file's last page, its config
    // does not.
    let out = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap()],
        &records(2),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "sweep-render: failed to write {}/sglang_config_1.yaml: No space left on device (os error 28)\n",
            dir.display()
        )
    );
    assert_eq!(
        stdout(&out).lines().count(),
        1,
        "the record before it is out"
    );
    assert!(!dir.join("sglang_config_1.yaml").exists());

    let ro = temp_dir("render_read_only");
    let Some(_mounted) = Tmpfs::mount(&ro, "ro,size=64k", test) else {
        return;
    };
    let out = run(
        "sweep-render",
        &["--out-dir", ro.to_str().unwrap()],
        &records(1),
    );
    assert_eq!(
        stderr(&out),
        format!(
            "sweep-render: failed to create directory {}/.sweep: Read-only file system (os error 30)\n",
            ro.display()
        )
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    let dir = temp_dir("render_head");
    std::fs::write(dir.join("records.jsonl"), records(2000)).unwrap();
    let out = sh(
        "sweep-render --out-dir out < records.jsonl | head -1 > first.jsonl",
        &dir,
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(out.status.success());
    let first = read(&dir.join("first.jsonl"));
    assert_eq!(first.lines().count(), 1);
    assert!(first.starts_with(r#"{"index":0,"#), "{first}");
    assert!(stdout(&run(
        "sweep-render",
        &["--out-dir", "/dev/null/x"],
        &records(1)
    ))
    .is_empty());
}

#[test]
fn output_is_deterministic() {
    let input = records(30);
    let render = |name: &str| {
        let dir = temp_dir(name);
        let out = run(
            "sweep-render",
            &["--out-dir", dir.to_str().unwrap()],
            &input,
        );
        assert_eq!(stderr(&out), "");
        let files: Vec<(String, String)> = entries(&dir)
            .into_iter()
            .map(|n| (n.clone(), read(&dir.join(&n))))
            .collect();
        (stdout(&out).replace(dir.to_str().unwrap(), "DIR"), files)
    };
    let (a, b) = (render("render_det_a"), render("render_det_b"));
    assert_eq!(a.1.len(), 30);
    assert_eq!(a, b);
}

#[test]
fn records_flow_through_real_pipes() {
    let dir = temp_dir("render_pipes");
    std::fs::write(dir.join("records.jsonl"), records(5)).unwrap();
    let out = sh(
        "cat records.jsonl | sweep-render --out-dir out | cat > rendered.jsonl",
        &dir,
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(out.status.success());
    let rendered = read(&dir.join("rendered.jsonl"));
    let paths: Vec<PathBuf> = rendered
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            PathBuf::from(r["config_path"].as_str().unwrap())
        })
        .collect();
    assert_eq!(paths.len(), 5);
    let loaded = pyyaml(&paths);
    assert_eq!(loaded[0]["decode"]["cuda-graph-bs"], json!([1, 2, 4, 8]));
    assert_eq!(loaded[0]["prefill"].get("cuda-graph-bs"), None);
    assert_eq!(loaded[4]["prefill"]["max-running-requests"], json!(5004));
}

#[test]
fn sweep_expand_into_sweep_render_through_real_pipes() {
    let dir = temp_dir("render_expand_pipeline");
    std::fs::write(
        dir.join("sweep.yaml"),
        "slurm:\n  prefill_nodes: [6]\n  decode_nodes: [12]\n  prefill_workers: [3]\n  decode_workers: [1]\n\
         sglang:\n  context-length: [2176, 4096]\n  kv-cache-dtype: fp8_e4m3\n  mem-fraction-static: 1.0\n\
         prefill:\n  max-running-requests: 1024\n\
         decode:\n  cuda-graph-bs: [[1, 2, 4], [1, 2, 4, 8]]\n",
    )
    .unwrap();
    let out = sh(
        "sweep-expand sweep.yaml | sweep-render --out-dir out > rendered.jsonl",
        &dir,
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(out.status.success());
    let records: Vec<Value> = read(&dir.join("rendered.jsonl"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    let paths: Vec<PathBuf> = records
        .iter()
        .map(|r| PathBuf::from(r["config_path"].as_str().unwrap()))
        .collect();
    for (record, config) in records.iter().zip(pyyaml(&paths)) {
        let index = record["index"].as_u64().unwrap();
        assert!(paths[index as usize].ends_with(format!("sglang_config_{index}.yaml")));
        for role in ["prefill", "decode"] {
            let mut expected = record["parameters"]["sglang"].as_object().unwrap().clone();
            if let Some(own) = record["role_parameters"][role].as_object() {
                expected.extend(own.clone());
            }
            assert_same(&config[role], &Value::Object(expected), role);
        }
        assert_eq!(config["prefill"]["mem-fraction-static"], json!(1.0));
        assert!(config["prefill"]["mem-fraction-static"].is_f64());
    }
}

#[test]
fn keys_too_long_for_pyyaml_are_refused_and_long_ones_still_read_back() {
    let dir = temp_dir("render_long_keys");
    let long = "k".repeat(1000);
    let line = json!({"index": 0, "id": "a", "mode": "agg", "parameters": {"slurm": {}, "sglang": {long.clone(): [{long.clone(): 1}]}}});
    let out = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap()],
        &format!("{line}\n"),
    );
    assert_eq!(stderr(&out), "");
    let expected = json!({long.clone(): [{long: 1}]});
    assert_same(
        &pyyaml(&[dir.join("sglang_config_0.yaml")])[0],
        &expected,
        "1000-character keys",
    );

    // 300 characters, but escaped in quotes they take 1202.
    let escaped = "\u{e9}".repeat(300);
    let line = json!({"index": 1, "id": "b", "mode": "agg", "parameters": {"slurm": {}, "sglang": {escaped: 1}}});
    let out = run(
        "sweep-render",
        &["--out-dir", dir.to_str().unwrap()],
        &format!("{line}\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!("sweep-render: <stdin>:1: invalid record: key \"{}\"... takes 1202 characters in YAML, more than PyYAML reads in a key (1000)\n", "\u{e9}".repeat(20))
    );
    assert!(!dir.join("sglang_config_1.yaml").exists());
}

/// The records of `path`, one JSON value per line.
fn jsonl(path: &Path) -> Vec<Value> {
    read(path)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn extending_a_sweep_in_place_keeps_every_existing_name_and_gives_new_ones_fresh_numbers() {
    // Issue 10, item 5: one more value shifts the expansion's indices; rendering into the same
    // directory must not move, overwrite or share any existing file.
    let dir = temp_dir("render_extend");
    let sweep = |mrr: &str| {
        format!(
            "slurm:\n  prefill_nodes: [6]\n  decode_nodes: [12]\n  prefill_workers: [3]\n  decode_workers: [1]\n\
             sglang:\n  max-running-requests: {mrr}\n  mem-fraction-static: [0.82, 0.84]\n"
        )
    };
    std::fs::write(dir.join("sweep.yaml"), sweep("[5632, 8000]")).unwrap();
    let out = sh(
        "sweep-expand sweep.yaml | sweep-render --out-dir out > first.jsonl",
        &dir,
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let first = jsonl(&dir.join("first.jsonl"));
    // A fresh sweep keeps the seed's names: number = position.
    for (i, r) in first.iter().enumerate() {
        assert_eq!(r["index"], json!(i));
        assert!(r["config_path"]
            .as_str()
            .unwrap()
            .ends_with(&format!("sglang_config_{i}.yaml")));
    }
    let inodes: Vec<u64> = (0..4)
        .map(|i| ino(&dir.join(format!("out/sglang_config_{i}.yaml"))))
        .collect();

    // A value inserted in the middle: the old combinations move to other positions.
    std::fs::write(dir.join("sweep.yaml"), sweep("[5632, 6000, 8000]")).unwrap();
    let out = sh(
        "sweep-expand sweep.yaml | sweep-render --out-dir out > second.jsonl",
        &dir,
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert!(out.status.success());
    let second = jsonl(&dir.join("second.jsonl"));
    assert_eq!(second.len(), 6);
    for old in &first {
        let now = second.iter().find(|r| r["id"] == old["id"]).unwrap();
        assert_eq!(now["index"], old["index"], "{} kept its number", old["id"]);
        assert_eq!(now["config_path"], old["config_path"]);
    }
    for (i, inode) in inodes.iter().enumerate() {
        let path = dir.join(format!("out/sglang_config_{i}.yaml"));
        assert_eq!(ino(&path), *inode, "{} was rewritten", path.display());
    }
    let mut numbers: Vec<u64> = second
        .iter()
        .map(|r| r["index"].as_u64().unwrap())
        .collect();
    numbers.sort();
    assert_eq!(numbers, [0, 1, 2, 3, 4, 5], "the new ones get 4 and 5");
    for r in &second {
        let config = pyyaml(&[PathBuf::from(r["config_path"].as_str().unwrap())]);
        assert_same(
            &config[0]["prefill"],
            &r["parameters"]["sglang"],
            "each file holds its own record's values",
        );
    }
    // Rendering the first sweep again changes nothing either.
    std::fs::write(dir.join("sweep.yaml"), sweep("[5632, 8000]")).unwrap();
    let out = sh(
        "sweep-expand sweep.yaml | sweep-render --out-dir out > third.jsonl",
        &dir,
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(
        read(&dir.join("third.jsonl")),
        read(&dir.join("first.jsonl"))
    );
}

#[test]
fn concurrent_renders_into_one_directory_never_hand_out_another_sweeps_values() {
    // Issue 10, item 9: two renders at once, same indices, different values (two sweeps).
    let dir = temp_dir("render_concurrent");
    let a = records(40);
    let b = records(40).replace("\"id\":\"", "\"id\":\"b").replace(
        "\"mem-fraction-static\":0.82",
        "\"mem-fraction-static\":0.5",
    );
    std::fs::write(dir.join("a.jsonl"), &a).unwrap();
    std::fs::write(dir.join("b.jsonl"), &b).unwrap();
    for round in 0..5 {
        let out = dir.join(format!("out{round}"));
        let script = format!(
            "sweep-render --out-dir {o} a.jsonl > a{round}.out & sweep-render --out-dir {o} b.jsonl > b{round}.out; wait",
            o = out.display()
        );
        let run = sh(&script, &dir);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let mut files = std::collections::BTreeSet::new();
        for (name, want) in [("a", 0.82), ("b", 0.5)] {
            let records = jsonl(&dir.join(format!("{name}{round}.out")));
            assert_eq!(records.len(), 40);
            let paths: Vec<PathBuf> = records
                .iter()
                .map(|r| PathBuf::from(r["config_path"].as_str().unwrap()))
                .collect();
            for (path, config) in paths.iter().zip(pyyaml(&paths)) {
                assert!(
                    files.insert(path.clone()),
                    "{} handed out twice",
                    path.display()
                );
                assert_eq!(config["prefill"]["mem-fraction-static"], json!(want));
            }
        }
        assert_eq!(entries(&out).len(), 80);
    }
}
