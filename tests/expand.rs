//! sweep-expand: the seed's examples, the sweep-file rules, ids, linked and per-role values,
//! --count, --max-jobs, streams.

use crate::common::{run, sh, stderr, stdout, temp_dir};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/expand")
        .join(name)
}

fn read(name: &str) -> String {
    std::fs::read_to_string(data(name)).unwrap()
}

/// Expands `yaml` from stdin; asserts success and empty stderr; returns stdout.
fn expand(yaml: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.push("-");
    let o = run("sweep-expand", &all, yaml);
    assert_eq!(stderr(&o), "", "stderr for {yaml}");
    assert_eq!(o.status.code(), Some(0));
    stdout(&o)
}

/// Expands `yaml`, which must fail: returns (exit code, stderr); stdout must be empty.
fn expand_err(yaml: &str, args: &[&str]) -> (i32, String) {
    // A directory of its own per call: tests run in parallel, and temp_dir empties the
    // directory it is given, so a shared one loses another test's sweep.yaml mid-run.
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let dir = temp_dir(&format!(
        "expand_err_{}",
        CALLS.fetch_add(1, Ordering::Relaxed)
    ));
    let file = dir.join("sweep.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut all = args.to_vec();
    all.push("sweep.yaml");
    let o = crate::common::run_in("sweep-expand", &all, "", Some(&dir));
    assert_eq!(
        stdout(&o),
        "",
        "nothing may be printed before the whole file is valid"
    );
    (o.status.code().unwrap(), stderr(&o))
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap()
}

const AGG: &str = "slurm:\n  agg_nodes: 2\n  agg_workers: 1\n";
const DISAGG: &str =
    "slurm:\n  prefill_nodes: 2\n  decode_nodes: 2\n  prefill_workers: 1\n  decode_workers: 1\n";

#[test]
fn seed_examples_expand_exactly_as_the_seed() {
    // (file, count, first, last): ids pinned, so a change of the id algorithm fails here.
    let cases = [
        (
            "quickstart",
            32,
            r#"{"index":0,"id":"38b529664ef8c2b5","mode":"disagg","total_nodes":18,"parameters":{"slurm":{"prefill_nodes":6,"decode_nodes":12,"prefill_workers":3,"decode_workers":1},"sglang":{"max-running-requests":5632,"context-length":2176,"mem-fraction-static":0.82}}}"#,
            r#"{"index":31,"id":"1a188b8efd064d03","mode":"disagg","total_nodes":36,"parameters":{"slurm":{"prefill_nodes":12,"decode_nodes":24,"prefill_workers":3,"decode_workers":1},"sglang":{"max-running-requests":8000,"context-length":4096,"mem-fraction-static":0.84}}}"#,
        ),
        (
            "throughput",
            60,
            r#"{"index":0,"id":"d08c5ee7895fea37","mode":"disagg","total_nodes":18,"parameters":{"slurm":{"prefill_nodes":6,"decode_nodes":12,"prefill_workers":3,"decode_workers":1},"sglang":{"max-running-requests":5000,"mem-fraction-static":0.8,"max-total-tokens":524288}}}"#,
            r#"{"index":59,"id":"5a5bb420906703af","mode":"disagg","total_nodes":18,"parameters":{"slurm":{"prefill_nodes":6,"decode_nodes":12,"prefill_workers":3,"decode_workers":1},"sglang":{"max-running-requests":8000,"mem-fraction-static":0.86,"max-total-tokens":1048576}}}"#,
        ),
        (
            "quantization",
            8,
            r#"{"index":0,"id":"77236088fd370d04","mode":"disagg","total_nodes":18,"parameters":{"slurm":{"prefill_nodes":6,"decode_nodes":12,"prefill_workers":3,"decode_workers":1},"sglang":{"quantization":"fp8","kv-cache-dtype":"fp8_e4m3","moe-runner-backend":"flashinfer_cutlass"}}}"#,
            r#"{"index":7,"id":"4b242554d403f170","mode":"disagg","total_nodes":18,"parameters":{"slurm":{"prefill_nodes":6,"decode_nodes":12,"prefill_workers":3,"decode_workers":1},"sglang":{"quantization":"modelopt_fp4","kv-cache-dtype":"fp8_e5m2","moe-runner-backend":"flashinfer_cutedsl"}}}"#,
        ),
        (
            "scaling",
            16,
            r#"{"index":0,"id":"1177c4214be01b4c","mode":"disagg","total_nodes":9,"parameters":{"slurm":{"prefill_nodes":3,"decode_nodes":6,"prefill_workers":3,"decode_workers":1},"sglang":{"max-running-requests":5632}}}"#,
            r#"{"index":15,"id":"99c8369dddb9c84d","mode":"disagg","total_nodes":54,"parameters":{"slurm":{"prefill_nodes":18,"decode_nodes":36,"prefill_workers":3,"decode_workers":1},"sglang":{"max-running-requests":5632}}}"#,
        ),
        (
            "reference_agg",
            16,
            r#"{"index":0,"id":"6aecd7188b0fc960","mode":"agg","total_nodes":12,"parameters":{"slurm":{"agg_nodes":12,"agg_workers":3},"sglang":{"cuda-graph-bs":[1,2,4,8,16],"kv-cache-dtype":"fp8_e4m3"}}}"#,
            r#"{"index":15,"id":"a2b925b06aa57c67","mode":"agg","total_nodes":24,"parameters":{"slurm":{"agg_nodes":24,"agg_workers":6},"sglang":{"cuda-graph-bs":[1,2,4,8,16,32],"kv-cache-dtype":"fp16"}}}"#,
        ),
    ];
    for (name, count, first, last) in cases {
        let out = expand(&read(&format!("{name}.yaml")), &[]);
        let l = lines(&out);
        assert_eq!(l.len(), count, "{name}");
        assert_eq!(l[0], first, "{name}");
        assert_eq!(l[count - 1], last, "{name}");
        // Every line, in order, as the seed's itertools.product expansion writes it
        // (bench/expand_baseline.py, checked in).
        assert_eq!(out, read(&format!("{name}.seed.jsonl")), "{name}");
        let n = expand(&read(&format!("{name}.yaml")), &["--count"]);
        assert_eq!(n, format!("{count}\n"));
    }
}

#[test]
fn python_baseline_still_agrees_when_python_is_here() {
    // The checked-in .seed.jsonl files came from the baseline; re-derive them when PyYAML is
    // installed (scripts/test installs it), so the files cannot drift from the baseline.
    let has_yaml = std::process::Command::new("python3")
        .args(["-c", "import yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_yaml {
        eprintln!("SKIP python_baseline_still_agrees_when_python_is_here: no python3 with PyYAML");
        return;
    }
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/expand_baseline.py");
    for name in [
        "quickstart",
        "throughput",
        "quantization",
        "scaling",
        "reference_agg",
    ] {
        let o = std::process::Command::new("python3")
            .arg(&baseline)
            .arg(data(&format!("{name}.yaml")))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let path = data(&format!("{name}.yaml"));
        let ours = run("sweep-expand", &[path.to_str().unwrap()], "");
        assert_eq!(
            stdout(&ours),
            String::from_utf8(o.stdout).unwrap(),
            "{name}"
        );
    }
}

#[test]
fn order_is_slurm_outermost_last_key_fastest() {
    let out = expand(&read("quickstart.yaml"), &[]);
    let got: Vec<String> = lines(&out)
        .iter()
        .map(|l| {
            let r = json(l);
            let (s, g) = (&r["parameters"]["slurm"], &r["parameters"]["sglang"]);
            format!(
                "{}/{} {} {} {}",
                s["prefill_nodes"],
                s["decode_nodes"],
                g["max-running-requests"],
                g["context-length"],
                g["mem-fraction-static"]
            )
        })
        .collect();
    let mut want = Vec::new();
    for p in [6, 12] {
        for d in [12, 24] {
            for m in [5632, 8000] {
                for c in [2176, 4096] {
                    for f in ["0.82", "0.84"] {
                        want.push(format!("{p}/{d} {m} {c} {f}"));
                    }
                }
            }
        }
    }
    assert_eq!(got, want);
    for (i, l) in lines(&out).iter().enumerate() {
        assert_eq!(json(l)["index"], i);
    }
}

#[test]
fn file_path_gives_absolute_sweep_file_and_stdin_none() {
    let dir = temp_dir("expand_sweep_file");
    std::fs::write(dir.join("s.yaml"), AGG).unwrap();
    let o = crate::common::run_in("sweep-expand", &["s.yaml"], "", Some(&dir));
    let want = format!(
        r#"{{"index":0,"id":"{}","mode":"agg","total_nodes":2,"parameters":{{"slurm":{{"agg_nodes":2,"agg_workers":1}},"sglang":{{}}}},"sweep_file":{}}}"#,
        sha16(r#"{"parameters":{"sglang":{},"slurm":{"agg_nodes":2,"agg_workers":1}}}"#),
        serde_json::to_string(dir.join("s.yaml").to_str().unwrap()).unwrap()
    );
    assert_eq!(stdout(&o), want + "\n");
    assert_eq!(expand(AGG, &[]).lines().count(), 1);
    assert!(!expand(AGG, &[]).contains("sweep_file"));
}

#[test]
fn a_sweep_file_path_that_is_not_utf8_is_refused_not_mangled() {
    use std::os::unix::ffi::OsStrExt;
    let dir = temp_dir("expand_not_utf8_path");
    let name = std::ffi::OsStr::from_bytes(b"caf\xe9.yaml");
    std::fs::write(dir.join(name), AGG).unwrap();
    let o = std::process::Command::new(crate::common::bin("sweep-expand"))
        .arg(name)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "sweep-expand: path {}/caf\u{fffd}.yaml is not valid UTF-8\n",
            dir.display()
        )
    );
    assert_eq!(stdout(&o), "");
}

fn sha16(text: &str) -> String {
    let d = Sha256::digest(text.as_bytes());
    d[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The algorithm of docs/record.md, applied by hand: canonical JSON, keys sorted at every depth.
#[test]
fn id_is_sha256_of_canonical_parameters() {
    let yaml = format!("{DISAGG}sglang:\n  z-flag: {{b: [1, 2.5], a: \"x\"}}\n  a-flag: true\nprefill:\n  chunked-prefill-size: 4096\ndecode:\n  cuda-graph-bs: [[1, 2]]\n");
    let out = expand(&yaml, &[]);
    let canon = r#"{"parameters":{"sglang":{"a-flag":true,"z-flag":{"a":"x","b":[1,2.5]}},"slurm":{"decode_nodes":2,"decode_workers":1,"prefill_nodes":2,"prefill_workers":1}},"role_parameters":{"decode":{"cuda-graph-bs":[1,2]},"prefill":{"chunked-prefill-size":4096}}}"#;
    let want = format!(
        r#"{{"index":0,"id":"{}","mode":"disagg","total_nodes":4,"parameters":{{"slurm":{{"prefill_nodes":2,"decode_nodes":2,"prefill_workers":1,"decode_workers":1}},"sglang":{{"z-flag":{{"b":[1,2.5],"a":"x"}},"a-flag":true}}}},"role_parameters":{{"prefill":{{"chunked-prefill-size":4096}},"decode":{{"cuda-graph-bs":[1,2]}}}}}}"#,
        sha16(canon)
    );
    assert_eq!(out, want + "\n");
}

/// id of the record whose parameters (as JSON text, keys in any order) match.
fn ids_by_params(out: &str) -> std::collections::BTreeMap<String, String> {
    lines(out)
        .iter()
        .map(|l| {
            let r = json(l);
            let mut key = String::new();
            for s in ["slurm", "sglang"] {
                let m = r["parameters"][s].as_object().unwrap();
                let mut kv: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
                kv.sort();
                key += &kv.join(",");
                key += ";";
            }
            (key, r["id"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn id_survives_reordering_added_values_and_comments() {
    let a = "slurm:\n  agg_nodes: [2, 4]\n  agg_workers: [1, 2]\nsglang:\n  mem-fraction-static: [0.8, 0.82]\n  attention-backend: [fa3]\n";
    let b = "# edited later\nsglang:\n  attention-backend: [triton, fa3]   # added triton\n  mem-fraction-static: [0.82, 0.9, 0.8]\nslurm: {agg_workers: [2, 1], agg_nodes: [8, 4, 2]}\n";
    let (ia, ib) = (
        ids_by_params(&expand(a, &[])),
        ids_by_params(&expand(b, &[])),
    );
    assert_eq!(ia.len(), 8);
    assert_eq!(ib.len(), 36);
    for (params, id) in &ia {
        assert_eq!(ib.get(params), Some(id), "{params}");
    }
    let all: std::collections::BTreeSet<&String> = ib.values().collect();
    assert_eq!(all.len(), 36, "distinct combinations, distinct ids");
}

#[test]
fn id_changes_with_any_value_and_with_type() {
    let id = |v: &str| {
        let out = expand(&format!("{AGG}sglang:\n  some-flag: {v}\n"), &[]);
        json(&out)["id"].as_str().unwrap().to_string()
    };
    let ids = [
        id("1"),
        id("1.0"),
        id("\"1\""),
        id("2"),
        id("true"),
        id("[[1]]"),
    ];
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(distinct.len(), ids.len(), "{ids:?}");
    assert_eq!(id("1"), id("1   # a comment"), "same value, same id");
}

#[test]
fn types_come_out_as_written() {
    let yaml = format!(
        "{AGG}sglang:\n  int: 7\n  neg: -3\n  float: 0.5\n  whole-float: 2.0\n  big: 1048576\n  bool: false\n  str: \"fp8\"\n  bare: flashinfer\n  quoted-num: \"6\"\n  list-value: [[1, 2, 4]]\n  map-value: {{x: 1, y: [a, b], z: {{n: null}}}}\n  unicode: \"é\\u00e9\\n\"\n"
    );
    let out = expand(&yaml, &[]);
    let sglang = r#""sglang":{"int":7,"neg":-3,"float":0.5,"whole-float":2.0,"big":1048576,"bool":false,"str":"fp8","bare":"flashinfer","quoted-num":"6","list-value":[1,2,4],"map-value":{"x":1,"y":["a","b"],"z":{"n":null}},"unicode":"éé\n"}"#;
    assert!(out.contains(sglang), "{out}");
}

#[test]
fn list_of_lists_is_list_values_and_a_flat_list_is_values() {
    let out = expand(
        &format!("{AGG}sglang:\n  cuda-graph-bs: [[1, 2, 4], [1, 2, 4, 8]]\n"),
        &[],
    );
    let v: Vec<String> = lines(&out)
        .iter()
        .map(|l| json(l)["parameters"]["sglang"]["cuda-graph-bs"].to_string())
        .collect();
    assert_eq!(v, ["[1,2,4]", "[1,2,4,8]"]);
    let out = expand(&format!("{AGG}sglang:\n  cuda-graph-bs: [1, 2, 4]\n"), &[]);
    assert_eq!(out.lines().count(), 3);
}

#[test]
fn linked_scaling_study_is_four_pairs_with_the_product_ids() {
    let linked = expand(&read("scaling_linked.yaml"), &[]);
    let pairs: Vec<String> = lines(&linked)
        .iter()
        .map(|l| {
            let s = &json(l)["parameters"]["slurm"];
            format!("{}+{}", s["prefill_nodes"], s["decode_nodes"])
        })
        .collect();
    assert_eq!(pairs, ["3+6", "6+12", "12+24", "18+36"]);
    assert_eq!(
        lines(&linked)[3],
        r#"{"index":3,"id":"99c8369dddb9c84d","mode":"disagg","total_nodes":54,"parameters":{"slurm":{"prefill_nodes":18,"decode_nodes":36,"prefill_workers":3,"decode_workers":1},"sglang":{"max-running-requests":5632}}}"#
    );
    // Same combination, same id, whether it came from the product or the linked sweep.
    let product = ids_by_params(&expand(&read("scaling.yaml"), &[]));
    for (params, id) in ids_by_params(&linked) {
        assert_eq!(product.get(&params), Some(&id));
    }
    assert_eq!(expand(&read("scaling_linked.yaml"), &["--count"]), "4\n");
}

#[test]
fn linked_across_sections_sits_at_its_earliest_member() {
    let yaml = "slurm:\n  agg_nodes: [2, 4]\n  agg_workers: 1\nsglang:\n  a: [x, y, z]\n  b: [1, 2]\n  c: [p, q, r]\nlinked: [[sglang.c, slurm.agg_nodes], [sglang.a, sglang.c]]\n";
    let (code, err) = expand_err(yaml, &[]);
    assert_eq!((code, err.as_str()), (1, "sweep-expand: sweep.yaml:8:21: linked: sglang.c has 3 values but slurm.agg_nodes has 2 (linked lists need equal length)\n"));
    let yaml = "slurm:\n  agg_nodes: [2, 4]\n  agg_workers: 1\nsglang:\n  a: [x, y]\n  b: [1, 2, 3]\nlinked: [[sglang.a, slurm.agg_nodes]]\n";
    let out = expand(yaml, &[]);
    let got: Vec<String> = lines(&out)
        .iter()
        .map(|l| {
            let r = json(l);
            format!(
                "{}{}{}",
                r["parameters"]["slurm"]["agg_nodes"],
                r["parameters"]["sglang"]["a"],
                r["parameters"]["sglang"]["b"]
            )
        })
        .collect();
    // The group (a with agg_nodes) is the outer loop, where agg_nodes is; b turns fastest.
    assert_eq!(
        got,
        [r#"2"x"1"#, r#"2"x"2"#, r#"2"x"3"#, r#"4"y"1"#, r#"4"y"2"#, r#"4"y"3"#]
    );
}

#[test]
fn linked_members_may_repeat_values_when_the_pairs_differ() {
    let out = expand("slurm:\n  agg_nodes: [2, 4, 2]\n  agg_workers: [1, 1, 2]\nlinked: [[slurm.agg_nodes, slurm.agg_workers]]\n", &[]);
    assert_eq!(out.lines().count(), 3);
}

#[test]
fn per_role_values_are_swept_inside_and_land_in_role_parameters() {
    let yaml = format!("{DISAGG}sglang:\n  context-length: 4096\nprefill:\n  chunked-prefill-size: [8192, 16384]\ndecode:\n  cuda-graph-bs: [[1, 2], [1, 2, 4]]\n  max-running-requests: 512\n");
    let out = expand(&yaml, &[]);
    let roles: Vec<String> = lines(&out)
        .iter()
        .map(|l| json(l)["role_parameters"].to_string())
        .collect();
    assert_eq!(
        roles,
        [
            r#"{"prefill":{"chunked-prefill-size":8192},"decode":{"cuda-graph-bs":[1,2],"max-running-requests":512}}"#,
            r#"{"prefill":{"chunked-prefill-size":8192},"decode":{"cuda-graph-bs":[1,2,4],"max-running-requests":512}}"#,
            r#"{"prefill":{"chunked-prefill-size":16384},"decode":{"cuda-graph-bs":[1,2],"max-running-requests":512}}"#,
            r#"{"prefill":{"chunked-prefill-size":16384},"decode":{"cuda-graph-bs":[1,2,4],"max-running-requests":512}}"#,
        ]
    );
    for l in lines(&out) {
        assert_eq!(
            json(l)["parameters"]["sglang"].to_string(),
            r#"{"context-length":4096}"#
        );
    }
    let ids: std::collections::BTreeSet<String> = lines(&out)
        .iter()
        .map(|l| json(l)["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 4, "per-role values are part of the id");
    // Only one role: the other is absent, not empty.
    let out = expand(
        &format!("{DISAGG}prefill:\n  chunked-prefill-size: 8192\n"),
        &[],
    );
    assert!(
        out.contains(r#","role_parameters":{"prefill":{"chunked-prefill-size":8192}}}"#),
        "{out}"
    );
}

#[test]
fn validation_errors_name_file_position_key_and_value() {
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "sweep.yaml: empty sweep file (expected the sections slurm and sglang)"),
        ("# nothing but a comment\n".into(), "sweep.yaml: empty sweep file (expected the sections slurm and sglang)"),
        ("- 1\n".into(), "sweep.yaml: expected a mapping of sections (slurm, sglang, ...), found a list"),
        ("slurm:\n  agg_nodes: [2\n  agg_workers: 1\n".into(), "sweep.yaml:3:14: invalid yaml: did not find expected ',' or ']', while parsing a flow sequence at line 2 column 14"),
        (format!("{AGG}  agg_nodes: 4\n"), "sweep.yaml:4:3: slurm.agg_nodes: duplicate key"),
        (format!("{AGG}sglang:\n  a: 1\n  a: 2\n"), "sweep.yaml:6:3: sglang.a: duplicate key"),
        (format!("{AGG}sglang:\n  a: .nan\n"), "sweep.yaml:5:6: sglang.a: NaN is not a finite number (json has no place for it)"),
        (format!("{AGG}sglang:\n  a: !custom 1\n"), "sweep.yaml:5:6: sglang.a: yaml tag !custom is not supported (only !!str, !!int, !!float, !!bool, !!null, !!seq, !!map)"),
        (format!("{AGG}sglang:\n  a: {{1: x}}\n"), "sweep.yaml:5:7: sglang.a: map key 1 is not a string (quote it)"),
        (format!("{AGG}slrum: {{}}\n"), "sweep.yaml:4:1: slrum: unknown section (did you mean slurm?)"),
        (format!("{AGG}\"sl\\nurm\": {{}}\n"), "sweep.yaml:4:1: sl\\nurm: unknown section (did you mean slurm?)"),
        (format!("{AGG}benchmark: {{}}\n"), "sweep.yaml:4:1: benchmark: unknown section (valid: slurm, sglang, prefill, decode, linked)"),
        ("slurm:\n  prefil_nodes: [6]\n".into(), "sweep.yaml:2:3: slurm.prefil_nodes: unknown slurm key (did you mean prefill_nodes?)"),
        ("slurm:\n  partition: batch\n".into(), "sweep.yaml:2:3: slurm.partition: unknown slurm key (valid: prefill_nodes, decode_nodes, prefill_workers, decode_workers, agg_nodes, agg_workers)"),
        ("sglang:\n  a: 1\n".into(), "sweep.yaml: no slurm section: give prefill_nodes, decode_nodes, prefill_workers, decode_workers (disaggregated) or agg_nodes, agg_workers (aggregated)"),
        ("slurm:\nsglang:\n  a: 1\n".into(), "sweep.yaml:1:1: slurm: expected a mapping of keys to values, found nothing (null)"),
        (format!("{AGG}sglang: {{}}\n"), "sweep.yaml:4:1: sglang: expected a mapping of keys to values, found an empty mapping"),
        ("slurm:\n  agg_nodes: [2, 4]\n  agg_workers: 1\nlinked: []\n".into(), "sweep.yaml:4:1: linked: expected a list of groups, each a list of section.key paths, e.g. [[slurm.prefill_nodes, slurm.decode_nodes]], found an empty list"),
        ("slurm:\n  prefill_nodes: 2\n  decode_nodes: 2\n  prefill_workers: 1\n".into(), "sweep.yaml:1:1: slurm: disaggregated mode needs prefill_nodes, decode_nodes, prefill_workers, decode_workers; missing decode_workers"),
        ("slurm:\n  agg_workers: 1\n".into(), "sweep.yaml:1:1: slurm: aggregated mode needs agg_nodes, agg_workers; missing agg_nodes"),
        (format!("{DISAGG}  agg_nodes: 4\n"), "sweep.yaml:6:3: slurm.agg_nodes: aggregated keys (agg_nodes) and disaggregated keys (prefill_nodes, decode_nodes, prefill_workers, decode_workers) cannot be mixed: a sweep is one mode"),
        ("slurm:\n  agg_nodes: [2, 0]\n  agg_workers: 1\n".into(), "sweep.yaml:2:18: slurm.agg_nodes: 0 is not a positive integer"),
        ("slurm:\n  agg_nodes: -1\n  agg_workers: 1\n".into(), "sweep.yaml:2:3: slurm.agg_nodes: -1 is not a positive integer"),
        ("slurm:\n  agg_nodes: 2.5\n  agg_workers: 1\n".into(), "sweep.yaml:2:3: slurm.agg_nodes: 2.5 is not a positive integer"),
        ("slurm:\n  agg_nodes: 2\n  agg_workers: [\"6\"]\n".into(), "sweep.yaml:3:17: slurm.agg_workers: \"6\" is not a positive integer"),
        ("slurm:\n  agg_nodes: true\n  agg_workers: 1\n".into(), "sweep.yaml:2:3: slurm.agg_nodes: true is not a positive integer"),
        ("slurm:\n  agg_nodes: [[2, 4]]\n  agg_workers: 1\n".into(), "sweep.yaml:2:15: slurm.agg_nodes: [2,4] is not a positive integer"),
        ("slurm:\n  agg_nodes: []\n  agg_workers: 1\n".into(), "sweep.yaml:2:3: slurm.agg_nodes: empty list (a list needs at least one value)"),
        (format!("{AGG}sglang:\n  context-length: []\n"), "sweep.yaml:5:3: sglang.context-length: empty list (a list needs at least one value)"),
        (format!("{AGG}sglang:\n  context-length:\n"), "sweep.yaml:5:3: sglang.context-length: null is not a value (give one, or remove the key)"),
        (format!("{AGG}sglang:\n  max_running_requests: 8\n"), "sweep.yaml:5:3: sglang.max_running_requests: engine flags are spelled with hyphens (did you mean max-running-requests?)"),
        (format!("{AGG}sglang:\n  --context-length: 8\n"), "sweep.yaml:5:3: sglang.--context-length: write engine flags without the leading -- (did you mean context-length?)"),
        (format!("{DISAGG}decode:\n  cuda_graph_bs: [[1]]\n"), "sweep.yaml:7:3: decode.cuda_graph_bs: engine flags are spelled with hyphens (did you mean cuda-graph-bs?)"),
        (format!("{AGG}prefill:\n  chunked-prefill-size: 8\n"), "sweep.yaml:4:1: prefill: per-role values need disaggregated mode (this sweep is aggregated: agg_nodes, agg_workers)"),
        ("slurm:\n  prefill_nodes: [6, 12]\n  decode_nodes: [12]\n  prefill_workers: [3, 4]\n  decode_workers: [1]\n".into(), "sweep.yaml:2:3: slurm: prefill_nodes=6 is not divisible by prefill_workers=4 (combination index 1)"),
        ("slurm:\n  agg_nodes: [4, 6]\n  agg_workers: [4]\nsglang:\n  a: [1, 2, 3]\n".into(), "sweep.yaml:2:3: slurm: agg_nodes=6 is not divisible by agg_workers=4 (combination index 3)"),
        (format!("{DISAGG}linked: [[slurm.prefill_nodes, slurm.decode_nodes]]\n"), "sweep.yaml:6:11: linked: slurm.prefill_nodes is a single value, not a list (linked keys need lists of equal length)"),
        ("slurm:\n  agg_nodes: [2, 4]\n  agg_workers: [1, 2]\nlinked: [[slurm.agg_nodes, slurm.agg_worker]]\n".into(), "sweep.yaml:4:28: linked: slurm.agg_worker is not a key of this sweep (write section.key, e.g. slurm.prefill_nodes)"),
        ("slurm:\n  agg_nodes: [2, 4]\n  agg_workers: [1, 2]\nsglang:\n  a: [1, 2]\nlinked: [[slurm.agg_nodes, sglang.a], [slurm.agg_workers, slurm.agg_nodes]]\n".into(), "sweep.yaml:6:59: linked: slurm.agg_nodes is in more than one group (or twice in one)"),
        ("slurm:\n  agg_nodes: [2, 4]\n  agg_workers: [1, 2]\nlinked: [slurm.agg_nodes]\n".into(), "sweep.yaml:4:10: linked: a group lists two or more keys (expected a list of groups, each a list of section.key paths, e.g. [[slurm.prefill_nodes, slurm.decode_nodes]])"),
        ("slurm:\n  agg_nodes: [2, 4]\n  agg_workers: [1, 2, 3]\nlinked:\n  - [slurm.agg_nodes, slurm.agg_workers]\n".into(), "sweep.yaml:5:23: linked: slurm.agg_nodes has 2 values but slurm.agg_workers has 3 (linked lists need equal length)"),
        ("slurm:\n  agg_nodes: [2, 4, 2]\n  agg_workers: 1\n".into(), "sweep.yaml:2:21: slurm.agg_nodes: 2 is listed twice (elements 0 and 2): its combinations would run twice"),
        (format!("{AGG}sglang:\n  cuda-graph-bs: [[1, 2], [1, 2]]\n"), "sweep.yaml:5:27: sglang.cuda-graph-bs: [1,2] is listed twice (elements 0 and 1): its combinations would run twice"),
        ("slurm:\n  agg_nodes: [2, 4, 2]\n  agg_workers: [1, 1, 1]\nlinked: [[slurm.agg_nodes, slurm.agg_workers]]\n".into(), "sweep.yaml:2:21: slurm.agg_nodes: elements 0 and 2 of its linked group are the same values: their combinations would run twice"),
    ];
    let mut wrong = Vec::new();
    for (yaml, want) in cases {
        let want = (1, format!("sweep-expand: {want}\n"));
        let got = expand_err(&yaml, &[]);
        if got != want {
            wrong.push(format!("for:\n{yaml}\n want {want:?}\n  got {got:?}"));
        }
        let got = expand_err(&yaml, &["--count"]);
        if got != want {
            wrong.push(format!(
                "--count for:\n{yaml}\n want {want:?}\n  got {got:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn stdin_errors_are_named_stdin() {
    let o = run(
        "sweep-expand",
        &["-"],
        "slurm:\n  agg_nodes: 0\n  agg_workers: 1\n",
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "sweep-expand: <stdin>:2:3: slurm.agg_nodes: 0 is not a positive integer\n"
    );
}

#[test]
fn missing_file_is_a_runtime_error() {
    let o = run("sweep-expand", &["/nonexistent/sweep.yaml"], "");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "sweep-expand: failed to read sweep file /nonexistent/sweep.yaml: No such file or directory (os error 2)\n");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["--max-jobs", "many", "-"],
        &["--bogus", "-"],
        &["a.yaml", "b.yaml"],
    ] {
        let o = run("sweep-expand", args, AGG);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&o).starts_with("error: "),
            "{args:?}: {}",
            stderr(&o)
        );
        assert_eq!(stdout(&o), "");
    }
    let o = run("sweep-expand", &["--help"], "");
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("set -o pipefail"));
}

#[test]
fn count_ignores_the_ceiling_and_max_jobs_guards_expansion() {
    let reference = read("reference.yaml");
    assert_eq!(expand(&reference, &["--count"]), "663552\n");
    let (code, err) = expand_err(&reference, &[]);
    assert_eq!((code, err.as_str()), (1, "sweep-expand: sweep.yaml: 663552 combinations, more than --max-jobs 10000 (raise it with --max-jobs 663552, or 0 for no limit)\n"));
    let (code, err) = expand_err(&read("throughput.yaml"), &["--max-jobs", "59"]);
    assert_eq!((code, err.as_str()), (1, "sweep-expand: sweep.yaml: 60 combinations, more than --max-jobs 59 (raise it with --max-jobs 60, or 0 for no limit)\n"));
    assert_eq!(
        expand(&read("throughput.yaml"), &["--max-jobs", "60"])
            .lines()
            .count(),
        60
    );
    // Too many to count: 20 keys of 10 values.
    let mut huge = String::from(AGG);
    huge += "sglang:\n";
    for k in 0..20 {
        huge += &format!("  k{k}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n");
    }
    let (code, err) = expand_err(&huge, &["--count"]);
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "sweep-expand: sweep.yaml: more than 18446744073709551615 combinations\n"
        )
    );
}

#[test]
fn divisibility_in_a_sweep_too_big_to_count_names_no_index() {
    // The index of agg_nodes=6 would be 2 * 10^20: past u64, it overflowed (a panic in debug
    // builds, a wrong number in release ones).
    let mut huge = String::from("slurm:\n  agg_nodes: [4, 8, 6]\n  agg_workers: 4\nsglang:\n");
    for k in 0..20 {
        huge += &format!("  k{k}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n");
    }
    let (code, err) = expand_err(&huge, &["--count"]);
    assert_eq!(
        (code, err.as_str()),
        (
            1,
            "sweep-expand: sweep.yaml:2:3: slurm: agg_nodes=6 is not divisible by agg_workers=4\n"
        )
    );
}

#[test]
fn closed_pipe_after_one_line_is_success() {
    // 663,552 records (> 64 KiB) with no ceiling; head takes one line and goes away.
    let dir = temp_dir("expand_closed_pipe");
    std::fs::copy(data("reference.yaml"), dir.join("reference.yaml")).unwrap();
    let o = sh(
        "sweep-expand --max-jobs 0 reference.yaml 2>err | head -1 > first; cat err; wc -l < first",
        &dir,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "1\n",
        "empty stderr, one line"
    );
    let first = std::fs::read_to_string(dir.join("first")).unwrap();
    assert!(first.starts_with(r#"{"index":0,"id":""#), "{first}");
}

#[test]
fn output_is_deterministic_and_pipes_into_jq_like_filters() {
    let dir = temp_dir("expand_determinism");
    std::fs::copy(data("quickstart.yaml"), dir.join("q.yaml")).unwrap();
    let o = sh("sweep-expand q.yaml > a; sweep-expand q.yaml > b; cmp a b; sweep-expand - < q.yaml | grep -c '\"prefill_nodes\":12'", &dir);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "16\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let a = std::fs::read_to_string(dir.join("a")).unwrap();
    assert_eq!(a.lines().count(), 32);
}
