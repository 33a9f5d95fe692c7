//! Hostile and unusual input (issue 11): every input is read as the user meant it (as PyYAML
//! reads a sweep file), in linear time, with a message that names the real cause.

use crate::common::{run, sh, stderr, stdout, temp_dir, without_summary};
use std::path::Path;

/// A minimal record; `extra` is spliced before the closing brace.
fn rec(index: u64, id: &str, extra: &str) -> String {
    format!(
        r#"{{"index":{index},"id":"{id}","mode":"agg","parameters":{{"slurm":{{"agg_nodes":1,"agg_workers":1}}}}{extra}}}"#
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Fake squeue and sacct that only log their calls: a test that they were never called.
fn logging_slurm(name: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    for cmd in ["squeue", "sacct"] {
        let path = dir.join(cmd);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"{cmd} $*\" >> calls.log\necho 'slurm_load_jobs error: Unable to contact slurm controller' >&2\nexit 1\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// Issue 11 (8): a job ID, cluster or --since that Slurm cannot read is bad input: exit 1
/// (2 for an option) naming the record, field and value, before any Slurm call, and
/// --allow-missing-status does not excuse it.
#[test]
fn bad_job_ids_and_times_are_bad_input_not_slurm_failures() {
    let dir = logging_slurm("inputs_bad_for_slurm");
    let manifest = format!(
        "{{\"sweep_timestamp\":\"2025-11-13 12:34:56\",\n\"jobs\":[{},\n{}]}}\n",
        rec(0, "a0", r#","job_id":"12""#),
        rec(1, "b1", r#","job_id":"abc""#)
    );
    write(&dir, "m.json", &manifest);
    let lines = [
        rec(0, "a0", r#","job_id":"12""#),
        rec(
            1,
            "b1",
            r#","job_id":"13","history":[{"job_id":"14"},{"job_id":"failed_3"}]"#,
        ),
        rec(2, "c2", r#","job_id":"15","retry_job_ids":["16","1 7"]"#),
        rec(3, "d3", r#","job_id":"18","cluster":"east,west""#),
    ];
    write(&dir, "r.jsonl", &(lines.join("\n") + "\n"));
    let cases = [
        (
            "--status m.json",
            "m.json:1: jobs[1].job_id: \"abc\" is not a Slurm job ID (a positive integer)",
        ),
        (
            "--status --allow-missing-status m.json",
            "m.json:1: jobs[1].job_id: \"abc\" is not a Slurm job ID (a positive integer)",
        ),
        (
            "--wait --allow-missing-status m.json",
            "m.json:1: jobs[1].job_id: \"abc\" is not a Slurm job ID (a positive integer)",
        ),
        (
            "--reconcile m.json",
            "m.json:1: jobs[1].job_id: \"abc\" is not a Slurm job ID (a positive integer)",
        ),
        (
            "--status r.jsonl",
            "r.jsonl:2: history[1].job_id: \"failed_3\" is not a Slurm job ID (a positive integer)",
        ),
    ];
    for (args, message) in cases {
        let out = sh(
            &format!("sweep-collect --squeue ./squeue --sacct ./sacct {args} 2>&1 >out.json || echo \"exit $?\""),
            &dir,
        );
        assert_eq!(
            stdout(&out),
            format!("sweep-collect: {message}\nexit 1\n"),
            "{args}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("out.json")).unwrap(),
            "",
            "{args}"
        );
    }
    let out = sh(
        "sed -n 3p r.jsonl | sweep-collect --status --squeue ./squeue --sacct ./sacct",
        &dir,
    );
    assert_eq!(stderr(&out), "sweep-collect: <stdin>:1: retry_job_ids[1]: \"1 7\" is not a Slurm job ID (a positive integer)\n");
    let out = sh(
        "sed -n 4p r.jsonl | sweep-collect --status --squeue ./squeue --sacct ./sacct",
        &dir,
    );
    assert_eq!(stderr(&out), "sweep-collect: <stdin>:1: cluster: \"east,west\" is not a Slurm cluster name (letters, digits, - _ .)\n");
    // An option: a usage error, whatever else is asked.
    for args in [
        "--reconcile --since garbage",
        "--reconcile --allow-missing-status --since 'now-7 days'",
    ] {
        let out = sh(&format!("sweep-collect --squeue ./squeue --sacct ./sacct {args} m.json 2>&1 || echo \"exit $?\""), &dir);
        let value = if args.contains("garbage") {
            "garbage"
        } else {
            "now-7 days"
        };
        assert_eq!(
            stdout(&out),
            format!("sweep-collect: --since \"{value}\": not a time sacct reads (e.g. now-7days, now-12hours, today, 2025-11-13, 2025-11-13T08:00, 11/13, 08:00)\nexit 2\n"),
            "{args}"
        );
    }
    assert!(
        !dir.join("calls.log").exists(),
        "Slurm was asked: {:?}",
        std::fs::read_to_string(dir.join("calls.log"))
    );
    // Without a Slurm lookup the job ID is only carried, so such a manifest still merges.
    let out = run(
        "sweep-collect",
        &["--jsonl", dir.join("m.json").to_str().unwrap()],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// Issue 11 (7): positions are counted as the input is read; they stay right over many
/// records, blank lines, and values that span lines.
#[test]
fn collect_positions_are_right_deep_into_a_long_input() {
    let mut input = String::new();
    for i in 0..3000 {
        input.push_str(&rec(i, &format!("id{i:05}"), ""));
        input.push('\n');
        if i % 7 == 0 {
            input.push_str("\n  \n");
        }
    }
    // A pretty-printed manifest in the middle of the stream, then a bad record.
    input.push_str("{\n  \"jobs\": [\n    ");
    input.push_str(&rec(5000, "m5000", ""));
    input.push_str("\n  ]\n}\n");
    let bad_line = input.lines().count() + 2;
    input.push('\n');
    input.push_str(&rec(6000, "bad", r#","retry_states":[1]"#));
    input.push('\n');
    let out = run("sweep-collect", &["--jsonl"], &input);
    assert_eq!(
        stderr(&out),
        format!("sweep-collect: <stdin>:{bad_line}: invalid record: retry_states[0]: invalid type: integer `1`, expected a string\n")
    );
}

/// Issue 11 (5): numbers pass through render and collect exactly as written (big integers,
/// long decimals, exponents), in fields of the user's own and in parameters; the config gets
/// the value Python's json.loads reads from the record (a big int exactly).
#[test]
fn numbers_pass_through_every_stage_exactly_as_written() {
    let dir = temp_dir("inputs_numbers_exact");
    let numbers = [
        "123456789012345678901234567890",
        "-98765432109876543210987654321",
        "0.1000000000000000055511151231257827",
        "3.14159265358979323846264338327950288",
        "1E+400",
        "1e-7",
        "1.0e5",
        "2.50",
        "-0",
    ];
    let own: Vec<String> = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| format!("\"z{i}\":{n}"))
        .collect();
    // Every digit is kept; only the exponent is spelt one way (`e`, with its sign).
    let kept: Vec<String> = own
        .iter()
        .map(|s| s.replace("E+", "e+").replace("e5", "e+5"))
        .collect();
    let record = format!(
        r#"{{"index":0,"id":"n0","mode":"agg","parameters":{{"slurm":{{"agg_nodes":1,"agg_workers":1}},"sglang":{{"big":123456789012345678901234567890,"long":0.1000000000000000055511151231257827,"exp":1.5e3}}}},{}}}"#,
        own.join(",")
    );
    write(&dir, "in.jsonl", &format!("{record}\n"));
    let out = sh(
        "sweep-render --out-dir cfg in.jsonl | tee rendered.jsonl | sweep-collect --jsonl | tee collected.jsonl | sweep-collect > manifest.json",
        &dir,
    );
    assert_eq!(stderr(&out), "");
    assert!(out.status.success());
    let rendered = std::fs::read_to_string(dir.join("rendered.jsonl")).unwrap();
    let collected = std::fs::read_to_string(dir.join("collected.jsonl")).unwrap();
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    for text in [&rendered, &collected] {
        assert!(text.contains(&kept.join(",")), "{text}");
        assert!(
            text.contains(r#""big":123456789012345678901234567890,"long":0.1000000000000000055511151231257827,"exp":1.5e+3"#),
            "{text}"
        );
    }
    for pair in &kept {
        let pretty = pair.replace(':', ": ");
        assert!(
            manifest.contains(&format!("{pretty},\n")) || manifest.contains(&format!("{pretty}\n")),
            "{pretty}: {manifest}"
        );
    }
    // The config: what PyYAML reads is what json.loads reads from the record.
    let check = "import json, sys, yaml\nrec = json.loads(open('in.jsonl').read())\ncfg = yaml.safe_load(open('cfg/sglang_config_0.yaml'))\nassert cfg == rec['parameters']['sglang'], (cfg, rec)\nassert type(cfg['big']) is int and type(cfg['exp']) is float\nprint('ok')";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(check)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A sweep file through sweep-expand: (exit code, stdout, stderr).
fn expand_file(dir: &Path, name: &str, yaml: &str) -> (i32, String, String) {
    let path = write(dir, name, yaml);
    let o = run("sweep-expand", &[&path], "");
    (o.status.code().unwrap_or(-1), stdout(&o), stderr(&o))
}

/// Issue 11 (1-3): tags, merges and out-of-range numbers, each as PyYAML reads them or
/// refused with a one-line error naming key and line.
#[test]
fn yaml_is_read_as_pyyaml_reads_it_or_refused() {
    let dir = temp_dir("inputs_yaml_cases");
    let agg = "slurm: {agg_nodes: 1, agg_workers: 1}\n";
    let refused = [
        ("sglang:\n  a: !!python/object/apply:os.system [\"echo hi\"]\n", "2:6: sglang.a: yaml tag !!python/object/apply:os.system is not supported (only !!str, !!int, !!float, !!bool, !!null, !!seq, !!map)"),
        ("sglang:\n  a: !!python/tuple [1, 2]\n", "2:6: sglang.a: yaml tag !!python/tuple is not supported (only !!str, !!int, !!float, !!bool, !!null, !!seq, !!map)"),
        ("sglang:\n  a: !!set {x: null}\n", "2:6: sglang.a: yaml tag !!set is not supported (only !!str, !!int, !!float, !!bool, !!null, !!seq, !!map)"),
        ("sglang:\n  a: !!int 1.5\n", "2:6: sglang.a: !!int \"1.5\" is not an integer"),
        ("sglang:\n  a: !!seq 5\n", "2:6: sglang.a: !!seq on a scalar (\"5\"): the tag is for a list"),
        ("sglang:\n  a: 1.0e+400\n", "2:6: sglang.a: 1.0e+400 is out of range for a float (PyYAML reads it as inf, which json has no place for)"),
        ("sglang:\n  a: [1, 99999999999999999999999999999999999999999]\n", "2:10: sglang.a[1]: integer 99999999999999999999999999999999999999999 is out of range (a record holds integers from -2^63 to 2^64-1)"),
        ("sglang:\n  a: 18446744073709551616\n", "2:6: sglang.a: integer 18446744073709551616 is out of range (a record holds integers from -2^63 to 2^64-1)"),
        ("sglang:\n  a: -0x8000000000000001\n", "2:6: sglang.a: integer -0x8000000000000001 is out of range (a record holds integers from -2^63 to 2^64-1)"),
        ("sglang:\n  a: 2024-01-01\n", "2:6: sglang.a: 2024-01-01 is a date in YAML 1.1: PyYAML reads a date object, which json cannot hold (quote it for the string)"),
        ("sglang:\n  a: =\n", "2:6: sglang.a: = is YAML 1.1's value key, which PyYAML refuses as a value (quote it for the string)"),
        ("sglang:\n  yes: 1\n", "2:3: sglang: map key yes is not a string (quote it)"),
        ("sglang:\n  a: {<<: 5}\n", "2:11: sglang.a.<<: a merge (<<) takes a mapping or a list of mappings (quote \"<<\" for a key of that name)"),
        ("sglang:\n  a: *nowhere\n", "2:6: sglang.a: alias *nowhere has no &anchor before it"),
        ("sglang:\n  a: &x [1, *x]\n", "2:13: sglang.a[1]: alias *x refers to a list or mapping that contains it (json cannot hold a cycle)"),
        ("sglang:\n  a: 1\n---\nsglang: {}\n", "3:1: a second yaml document (after ---): a sweep file is one document"),
    ];
    for (i, (yaml, want)) in refused.iter().enumerate() {
        let (code, out, err) = expand_file(&dir, &format!("r{i}.yaml"), &format!("{agg}{yaml}"));
        let line_shift = |w: &str| {
            // The cases count lines from the sglang section, the file has one line before it.
            let (l, rest) = w.split_once(':').unwrap();
            format!("{}:{rest}", l.parse::<usize>().unwrap() + 1)
        };
        let path = dir.join(format!("r{i}.yaml"));
        assert_eq!(
            (code, out.as_str(), err),
            (
                1,
                "",
                format!("sweep-expand: {}:{}\n", path.display(), line_shift(want))
            ),
            "{yaml}"
        );
    }
    // Applied: the core tags, the merge key (4 combinations, not a flag named "<<"), YAML
    // 1.1 scalars.
    let accepted = [
        ("sglang:\n  a: !!str 5\n  b: !!float 3\n  c: !!int \"0x10\"\n  d: !!bool YES\n  e: !!seq [1]\n", r#""sglang":{"a":"5","b":3.0,"c":16,"d":true,"e":1}"#),
        ("sglang:\n  a: [yes, Off]\n", r#""sglang":{"a":true}"#),
        ("sglang:\n  a: [017, 0x1F, 0b101, 1_000, '1_000', 1:30, 1e3, 1.5e+3, 0o17, 1.]\n", r#""sglang":{"a":15}"#),
        ("sglang:\n  a: 123\n  b: [[017, 0x1F, 0b101, 1_000, '1_000', 1:30, 1e3, 1.5e+3, 0o17, 1., 18446744073709551615, -9223372036854775808]]\n", r#""sglang":{"a":123,"b":[15,31,5,1000,"1_000",90,"1e3",1500.0,"0o17",1.0,18446744073709551615,-9223372036854775808]}"#),
    ];
    for (i, (yaml, want)) in accepted.iter().enumerate() {
        let (code, out, err) = expand_file(&dir, &format!("a{i}.yaml"), &format!("{agg}{yaml}"));
        assert_eq!((code, err.as_str()), (0, ""), "{yaml}");
        assert!(out.lines().next().unwrap().contains(want), "{yaml}\n{out}");
    }
    let merge = "slurm: {prefill_nodes: 1, decode_nodes: 1, prefill_workers: 1, decode_workers: 1}\nsglang: &s {a: [1, 2]}\nprefill: {<<: *s, b: 3}\ndecode:\n  <<: [{c: 1, a: 5}, {c: 2, d: 4}]\n  d: 6\n";
    let (code, out, err) = expand_file(&dir, "merge.yaml", merge);
    assert_eq!((code, err.as_str()), (0, ""));
    let roles: Vec<&str> = out
        .lines()
        .map(|l| &l[l.find("\"role_parameters\"").unwrap()..l.find(",\"sweep_file\"").unwrap()])
        .collect();
    assert_eq!(
        roles,
        [
            r#""role_parameters":{"prefill":{"a":1,"b":3},"decode":{"c":1,"d":6,"a":5}}"#,
            r#""role_parameters":{"prefill":{"a":2,"b":3},"decode":{"c":1,"d":6,"a":5}}"#,
            r#""role_parameters":{"prefill":{"a":1,"b":3},"decode":{"c":1,"d":6,"a":5}}"#,
            r#""role_parameters":{"prefill":{"a":2,"b":3},"decode":{"c":1,"d":6,"a":5}}"#,
        ]
    );
    // The same as PyYAML, whose own reading decides.
    let check = "import yaml, sys\nd = yaml.safe_load(open(sys.argv[1]))\nassert d['prefill'] == {'a': [1, 2], 'b': 3}, d\nassert list(d['decode'].items()) == [('c', 1), ('d', 6), ('a', 5)], d\nprint('ok')";
    let o = std::process::Command::new("python3")
        .args(["-c", check, dir.join("merge.yaml").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "ok\n",
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Issue 11 (4): whatever sweep-expand accepts, every later stage reads, through real pipes;
/// one level more is refused by sweep-expand itself, naming key and line.
#[test]
fn the_deepest_value_expand_accepts_goes_through_every_stage() {
    let dir = temp_dir("inputs_deep");
    // The top-level mapping and the section are 2 levels: 62 more reach the limit of 64.
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let deep_map = |n: usize| format!("{}1{}", "{a: ".repeat(n), "}".repeat(n));
    let head = "slurm: {agg_nodes: 1, agg_workers: 1}\nsglang:\n  deep: ";
    write(
        &dir,
        "ok.yaml",
        &format!("{head}{}\n  map: [{}]\n", deep(62), deep_map(61)),
    );
    let submit: Vec<String> = crate::submit::REQUIRED
        .iter()
        .map(|a| format!("'{a}'"))
        .collect();
    let out = sh(
        &format!(
            "sweep-expand ok.yaml | sweep-render --out-dir cfg | sweep-submit {} --dry-run --output-dir sw | sweep-collect --jsonl | sweep-collect --output manifest.json && sweep-collect --jsonl manifest.json > again.jsonl",
            submit.join(" ")
        ),
        &dir,
    );
    assert_eq!(without_summary(&stderr(&out)), "");
    assert!(out.status.success());
    let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
    // The deepest 1 is there, as deep as it was written.
    let v: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let mut x = &v["jobs"][0]["parameters"]["sglang"]["deep"];
    let mut levels = 0;
    while let Some(inner) = x.get(0) {
        x = inner;
        levels += 1;
    }
    assert_eq!(
        (levels, x.as_u64()),
        (61, Some(1)),
        "one list level is the list of values"
    );
    for (name, body) in [("list", deep(63)), ("map", deep_map(63))] {
        let (code, out, err) =
            expand_file(&dir, &format!("{name}.yaml"), &format!("{head}{body}\n"));
        let col = 9 + 62 * if name == "list" { 1 } else { 4 };
        let path = if name == "list" {
            format!("sglang.deep{}", "[0]".repeat(62))
        } else {
            format!("sglang.deep{}", ".a".repeat(62))
        };
        assert_eq!(
            (code, out.as_str(), err),
            (1, "", format!("sweep-expand: {}:3:{col}: {path}: nested more than 64 levels deep (every stage after sweep-expand must read the records)\n", dir.join(format!("{name}.yaml")).display())),
        );
    }
}

/// Scalars as written in a sweep file that PyYAML reads as a JSON value, chosen where YAML
/// readers differ (YAML 1.1 against 1.2, number forms, quoting, core tags).
const READABLE: &[&str] = &[
    "yes",
    "Yes",
    "NO",
    "on",
    "Off",
    "y",
    "n",
    "true",
    "False",
    "fp8",
    "a b",
    "1e3",
    "1.5e+3",
    "1.5e3",
    "1.0e+5",
    "0o17",
    "017",
    "08",
    "0x1F",
    "-0x1f",
    "0b101",
    "1_000",
    "1_0.5",
    "1:30",
    "1:30.5",
    "190:20:30",
    ".5",
    "-.5",
    "+1",
    "-0",
    "1.",
    "0.82",
    "2176",
    "3.14159265358979323846",
    "18446744073709551615",
    "-9223372036854775808",
    "1.0e-400",
    "0_",
    "1e",
    "'yes'",
    "\"1e3\"",
    "'0x1F'",
    "!!str 5",
    "!!str yes",
    "!!int \"0x10\"",
    "!!float 3",
    "!!float 1e5",
    "!!bool YES",
    "!!seq [1]",
    "!!map {a: 1}",
    "\"caf\\xE9\"",
    "'it''s'",
];

/// Scalars PyYAML refuses, or reads as something JSON cannot hold.
const HOSTILE: &[&str] = &[
    "~",
    "null",
    "''",
    "2024-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "123456789012345678901234567890",
    "18446744073709551616",
    "-9223372036854775809",
    "1.0e+400",
    ".inf",
    "-.Inf",
    ".nan",
    "=",
    "<<",
    "0x_",
    "!!int 1.5",
    "!!bool maybe",
    "!!null x",
    "!!python/tuple [1, 2]",
    "!x 1",
    "!!set {a: null}",
    "!!binary aGk=",
    "!!timestamp 2024-01-01",
    "! 5",
    "!!seq 5",
];

/// Keys, mostly ordinary.
const KEYS: &[&str] = &["yes", "1", "'quoted-key'", "on", "~", "=", "1.5", "\"tp\""];

/// Issue 11 (done means): random sweep files through PyYAML and sweep-expand: every value
/// the same (type included), or sweep-expand refuses with a one-line error. Seeded, so each
/// run checks the same files.
#[test]
fn random_sweep_files_read_as_pyyaml_reads_them_or_are_refused() {
    let dir = temp_dir("inputs_pyyaml_property");
    let mut seed = 0x2545f4914f6cdd1du64;
    let mut rng = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    const FILES: usize = 300;
    let mut paths = Vec::new();
    for f in 0..FILES {
        let pick = |rng: &mut dyn FnMut(usize) -> usize| {
            let pool = if rng(12) == 0 { HOSTILE } else { READABLE };
            pool[rng(pool.len())].to_string()
        };
        let value = |rng: &mut dyn FnMut(usize) -> usize| -> String {
            match rng(6) {
                0 | 1 => pick(rng),
                2 => format!("[{}]", pick(rng)),
                3 => format!("[[{}, {}]]", pick(rng), pick(rng)),
                4 => format!("{{k: {}}}", pick(rng)),
                _ => format!("\n    - {}", pick(rng)),
            }
        };
        let disagg = rng(2) == 0;
        let mut text = if disagg {
            "slurm: {prefill_nodes: 2, decode_nodes: 0x2, prefill_workers: !!int \"1\", decode_workers: 1}\n".to_string()
        } else {
            format!(
                "slurm:\n  agg_nodes: {}\n  agg_workers: 1\n",
                ["2", "0b10", "2_0", "1:0", "!!int 4", "4.0"][rng(6)]
            )
        };
        text.push_str("sglang: &common\n");
        for k in 0..1 + rng(4) {
            let key = if rng(20) == 0 {
                KEYS[rng(KEYS.len())].to_string()
            } else {
                format!("k{k}")
            };
            text.push_str(&format!("  {key}: {}\n", value(&mut rng)));
        }
        if disagg {
            // Merges: the common values under the prefill ones, and a merge list.
            text.push_str(&format!(
                "prefill:\n  <<: *common\n  own: {}\n",
                value(&mut rng)
            ));
            if rng(2) == 0 {
                text.push_str(&format!(
                    "decode:\n  <<: [*common, {{k0: {}, extra: 1}}]\n  k1: 2\n",
                    pick(&mut rng)
                ));
            }
        }
        paths.push(write(&dir, &format!("s{f}.yaml"), &text));
    }
    // PyYAML's reading of each, as JSON; or why JSON (and so a record) cannot hold it.
    let script = r#"
import json, math, sys, yaml
def plain(x):
    if isinstance(x, dict):
        if not all(type(k) is str for k in x):
            raise ValueError("non-string key")
        return all(plain(v) for v in x.values())
    if isinstance(x, list):
        return all(plain(v) for v in x)
    if type(x) is float:
        return math.isfinite(x)
    return x is None or type(x) in (bool, int, str)
for p in sys.argv[1:]:
    try:
        d = yaml.safe_load(open(p))
        print("OK " + json.dumps(d) if plain(d) else "NOJSON")
    except Exception as e:
        print("ERR " + type(e).__name__)
"#;
    let o = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&paths)
        .output()
        .expect("python3 with PyYAML");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pyyaml: Vec<String> = String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(pyyaml.len(), FILES);
    let (mut agreed, mut refused) = (0, 0);
    for (path, py) in paths.iter().zip(&pyyaml) {
        let o = run("sweep-expand", &[path], "");
        let (out, err) = (stdout(&o), stderr(&o));
        let text = std::fs::read_to_string(path).unwrap();
        if !o.status.success() {
            assert_eq!((o.status.code(), out.as_str()), (Some(1), ""), "{text}");
            assert!(
                err.starts_with("sweep-expand: ")
                    && err.ends_with('\n')
                    && err.lines().count() == 1,
                "{text}\n{err}"
            );
            refused += 1;
            continue;
        }
        let Some(doc) = py.strip_prefix("OK ") else {
            panic!("sweep-expand read a file PyYAML cannot ({py}):\n{text}\n{out}");
        };
        let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
        let records: Vec<serde_json::Value> = out
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(records.len(), 1, "one value per key: one record\n{text}");
        let r = &records[0];
        // Each key holds one value: a scalar, or a list of one value.
        let one = |v: &serde_json::Value| match v {
            serde_json::Value::Array(items) if items.len() == 1 => items[0].clone(),
            other => other.clone(),
        };
        for (section, got) in [
            ("slurm", &r["parameters"]["slurm"]),
            ("sglang", &r["parameters"]["sglang"]),
            ("prefill", &r["role_parameters"]["prefill"]),
            ("decode", &r["role_parameters"]["decode"]),
        ] {
            let Some(want) = doc.get(section).and_then(|s| s.as_object()) else {
                continue;
            };
            // The record's role sections hold the role's own values over the common ones.
            let got = got
                .as_object()
                .unwrap_or_else(|| panic!("{section} missing: {text}\n{out}"));
            let want_keys: Vec<&String> = want.keys().collect();
            let got_keys: Vec<&String> = got.keys().collect();
            assert_eq!(got_keys, want_keys, "{section}\n{text}\n{out}");
            for (k, v) in want {
                assert!(
                    same(&one(v), &got[k]),
                    "{section}.{k}: PyYAML {v}, sweep-expand {}\n{text}",
                    got[k]
                );
            }
        }
        agreed += 1;
    }
    // Both outcomes are common: the test compares values, it does not only see refusals.
    assert!(
        agreed >= FILES / 5 && refused >= FILES / 5,
        "agreed {agreed}, refused {refused}"
    );
}

/// Same JSON value and type: ints by their digits, floats by their f64, the rest as equal.
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => {
            let (x, y) = (x.to_string(), y.to_string());
            let float = |s: &str| s.contains(['.', 'e', 'E']);
            match (float(&x), float(&y)) {
                (false, false) => x == y,
                (true, true) => x.parse::<f64>().unwrap() == y.parse::<f64>().unwrap(),
                _ => false,
            }
        }
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Object(x), Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((ka, a), (kb, b))| ka == kb && same(a, b))
        }
        _ => a == b,
    }
}
