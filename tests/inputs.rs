//! Hostile and unusual input (issue 11): every input is read as the user meant it (as PyYAML
//! reads a sweep file), in linear time, with a message that names the real cause.

use crate::common::{run, sh, stderr, stdout, temp_dir};
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
