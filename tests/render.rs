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
/// order).
fn assert_same(actual: &Value, expected: &Value, what: &str) {
    assert_eq!(
        serde_json::to_string(actual).unwrap(),
        serde_json::to_string(expected).unwrap(),
        "{what}"
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Names of the entries of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
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
